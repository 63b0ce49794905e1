/*
 * httpreq.h
 *     A request of the push worker's HTTP layer, its route, and its answer
 *     (httpreq.c).  http.c reads requests and routes them; the handlers of
 *     the routes (http.c, http_sync.c, sse.c) fill the answer through these
 *     functions.
 */
#ifndef MANA_HTTPREQ_H
#define MANA_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#include "core/chunked.h"
#include "core/jwt.h"
#include "core/wsproto.h"
#include "pool.h"

/* settings (httpreq.c) */
extern int	mana_max_body;
extern int	mana_request_timeout_ms;
extern char *mana_cors_origins;
extern void mana_httpreq_define_settings(void);

typedef struct http_req http_req;
typedef struct sse_stream sse_stream;

/* methods a route takes (OPTIONS, a CORS preflight, goes with token routes) */
#define MANA_HTTP_GET	0x1
#define MANA_HTTP_POST	0x2
#define MANA_HTTP_ANY	0xff

typedef struct mana_route
{
	const char *pattern;		/* core/wsproto.h: mana_route_match */
	unsigned int methods;
	bool		needs_token;	/* Bearer token, X-Client-Id, a known app; CORS */
	bool		websocket;		/* a WebSocket endpoint (the upgrade is ws.c's) */
	/* the handler: returns what the lws callback returns */
	int			(*handler) (struct lws *wsi, http_req *r);
	/* for a route with a body: the body is in (NULL: a body is ignored) */
	int			(*body_done) (struct lws *wsi, http_req *r);
} mana_route;

/* the current request of a connection */
struct http_req
{
	struct lws *wsi;
	const mana_route *route;
	char		app[MANA_WS_MAX_APP + 1];
	char		user[MANA_JWT_MAX_SUB + 1];
	char		client[MANA_WS_MAX_CLIENT + 1];
	char		origin[256];	/* allowed Origin to echo, or "" */
	char	   *body;
	size_t		len;
	size_t		cap;
	mana_pool_job *job;			/* in flight */
	bool		body_pending;	/* a POST whose body is still arriving */
	bool		close_after;	/* answer, then close (the body is not read) */
	bool		unframed;		/* a POST without Content-Length: always close */
	bool		chunked;		/* Transfer-Encoding: chunked, decoded here */
	mana_chunked dechunk;
	/* the answer */
	bool		ready;
	int			status;
	char	   *out;
	size_t		outlen;
	const char *retry_after;	/* for 503 */
	sse_stream *stream;			/* GET .../stream only */
};

/* ---- answers (httpreq.c) */
extern char *mana_http_json_quote(const char *s);
extern void mana_http_set_answer(http_req *r, int status, char *body);
extern void mana_http_set_error(http_req *r, int status, const char *error, const char *detail);
extern void mana_http_set_error_state(http_req *r, int status, const char *error,
									  const char *detail, const char *sqlstate);
extern int	mana_http_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, int len);
/* run sql on the app's database; done gets the outcome (0, as the lws callback) */
extern int	mana_http_submit(http_req *r, const char *sql, int nparams, char **params,
							 void (*done) (void *, const mana_pool_result *));
extern void mana_http_job_done(void *arg, const mana_pool_result *res);
/* write the ready answer (headers and body); -1: drop the connection */
extern int	mana_http_write_answer(struct lws *wsi, http_req *r);

#endif
