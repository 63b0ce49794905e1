/*
 * http.c
 *     The push worker's HTTP requests: framing, routing, CORS, the token,
 *     and the answer.  A request is matched against ROUTES, one row per
 *     route (pattern, methods, whether it needs a token, the handler); the
 *     handlers are here (/health, /metrics, /ws without an upgrade), in
 *     http_sync.c (push and pull) and in sse.c (the event stream).  Adding
 *     a route is one row and one handler.
 *
 * Routes with a token take "Authorization: Bearer <jwt>" (verified by
 * auth.c; sub is the user), X-Client-Id, and CORS (OPTIONS preflight,
 * mana_sync.cors_origins); their app must be registered in some database.
 * Errors are JSON {"error": ..., "detail": ...}.  Like every lws callback,
 * nothing here raises an ERROR.
 */
#include "postgres.h"

#include <libwebsockets.h>

#include "auth.h"
#include "backend/shmem.h"
#include "core/chunked.h"
#include "core/jwt.h"
#include "core/wsproto.h"
#include "http.h"
#include "http_sync.h"
#include "httpreq.h"
#include "intake.h"
#include "loop.h"
#include "sse.h"

static int	serve_health(struct lws *wsi, http_req *r);
static int	serve_metrics(struct lws *wsi, http_req *r);
static int	serve_upgrade_required(struct lws *wsi, http_req *r);

/*
 * The routes, matched in order (core/wsproto.h: mana_route_match).  A
 * handler of a route without a token gets r = NULL and answers at once; the
 * others get the request with its user, client and app.
 */
static const mana_route routes[] = {
	/* pattern, methods, token, websocket, handler, body_done */
	{"/health", MANA_HTTP_ANY, false, false, serve_health, NULL},
	{"/metrics", MANA_HTTP_ANY, false, false, serve_metrics, NULL},
	{"/ws", MANA_HTTP_ANY, false, true, serve_upgrade_required, NULL},
	{"/ws/{app}", MANA_HTTP_ANY, false, true, serve_upgrade_required, NULL},
	{"/sync/{app}", MANA_HTTP_POST, true, false, mana_http_push, mana_http_push_body_done},
	{"/sync/{app}/pull", MANA_HTTP_GET, true, false, mana_http_pull, NULL},
	{"/sync/{app}/stream", MANA_HTTP_GET, true, false, mana_sse_start, NULL},
};

const mana_route *
mana_http_route_find(const char *target, size_t len, char app[MANA_WS_MAX_APP + 1], int *status)
{
	mana_target t;
	bool		bad_app = false;

	*status = 400;
	app[0] = '\0';
	if (mana_target_parse(target, len, &t) != 0)
		return NULL;
	for (size_t i = 0; i < lengthof(routes); i++)
	{
		mana_route_result m = mana_route_match(routes[i].pattern, target, t.path_len, app);

		if (m == MANA_ROUTE_MATCH)
			return &routes[i];
		bad_app |= (m == MANA_ROUTE_BAD_APP);
	}
	*status = bad_app ? 400 : 404;
	return NULL;
}

/* ---------------------------------------------------------------- answers */

static bool
origin_allowed(const char *origin)
{
	const char *p = mana_cors_origins;
	size_t		olen = strlen(origin);

	if (p == NULL || *p == '\0' || olen == 0)
		return false;
	while (*p)
	{
		size_t		n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if ((n == 1 && p[0] == '*') || (n == olen && strncmp(p, origin, n) == 0))
			return true;
		p += n;
	}
	return false;
}

/* a whole answer at once, for the routes without a request state */
static int
http_send(struct lws *wsi, unsigned int status, const char *ctype, const char *body)
{
	unsigned char buf[LWS_PRE + 8192];
	unsigned char *start = buf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t		len = strlen(body);
	char	   *out;
	int			r;

	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t) len, &p, end))
		return -1;
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
									 (const unsigned char *) "no-store", 8, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	out = malloc(LWS_PRE + len + 1);
	if (out == NULL)
		return -1;
	memcpy(out + LWS_PRE, body, len);
	r = lws_write(wsi, (unsigned char *) out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(out);
	return r < (int) len ? -1 : 0;
}

static int
http_reply(struct lws *wsi, unsigned int status, const char *ctype, const char *body)
{
	if (http_send(wsi, status, ctype, body) < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void
req_free(http_req *r)
{
	if (r == NULL)
		return;
	mana_sse_free(r->stream);
	if (r->job != NULL)
		r->job->arg = NULL;		/* finishes without us */
	free(r->body);
	free(r->out);
	free(r);
}

/* ---------------------------------------------------------------- simple routes */

static int
serve_health(struct lws *wsi, http_req *r)
{
	char		body[512];

	snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"connections\":%llu,\"authenticatedUsers\":%llu,\"databasesListened\":%llu}\n",
			 mana_loop_stopping() ? "stopping" : "ok",
			 (unsigned long long) mana_stat_get(MANA_STAT_CONNECTIONS),
			 (unsigned long long) mana_stat_get(MANA_STAT_USERS),
			 (unsigned long long) mana_stat_get(MANA_STAT_DATABASES));
	return http_reply(wsi, HTTP_STATUS_OK, "application/json", body);
}

/* Prometheus text: every statistic of MANA_STATS (backend/shmem.h) */
static int
serve_metrics(struct lws *wsi, http_req *r)
{
	char		body[8192];
	size_t		off = 0;

	for (int i = 0; i < MANA_STAT_COUNT && off < sizeof(body); i++)
	{
		const mana_stat_def *d = &mana_stat_defs[i];

		off += snprintf(body + off, sizeof(body) - off, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
						d->prom_name, d->help, d->prom_name, d->prom_type, d->prom_name,
						(unsigned long long) mana_stat_get((mana_stat) i));
	}
	return http_reply(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", body);
}

static int
serve_upgrade_required(struct lws *wsi, http_req *r)
{
	return http_reply(wsi, 426, "application/json",
					  "{\"error\":\"upgrade required\",\"detail\":\"connect with a WebSocket\"}\n");
}

/* ---------------------------------------------------------------- requests */

/*
 * How a POST's body is framed.  lws reads a POST without Content-Length as
 * up to 100 MB of raw body, so a chunked body is decoded here (chunked.c),
 * and such a connection is closed after the answer: lws would take
 * whatever follows for more body.  A length and a coding together are
 * refused, as two parsers could disagree about where the request ends.
 * false: answered with an error.
 */
static bool
check_framing(struct lws *wsi, http_req *r)
{
	char		buf[64];
	bool		has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	int			n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);

	r->unframed = !has_length;
	if (n > 0)
	{
		r->close_after = true;
		if (has_length)
		{
			mana_http_set_error(r, 400, "bad request", "send Content-Length or Transfer-Encoding, not both");
			return false;
		}
		if (mana_http_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, buf, sizeof(buf)) <= 0 ||
			strcasecmp(buf, "chunked") != 0)
		{
			mana_http_set_error(r, 501, "not implemented", "the only transfer coding accepted is chunked");
			return false;
		}
		r->close_after = false;
		r->chunked = true;
		mana_chunked_init(&r->dechunk);
	}
	else if (!has_length)
	{
		r->close_after = true;
		mana_http_set_error(r, 411, "length required", "send Content-Length or a chunked body");
		return false;
	}
	return true;
}

/* the CORS preflight of a token route */
static int
answer_preflight(struct lws *wsi, void **slot, http_req *r)
{
	unsigned char hbuf[LWS_PRE + 1024];
	unsigned char *start = hbuf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = hbuf + sizeof(hbuf) - 1;
	static const char methods[] = "GET, POST, OPTIONS";
	static const char headers[] = "Authorization, Content-Type, X-Client-Id, Last-Event-ID";

	if (lws_add_http_common_headers(wsi, 204, "text/plain", 0, &p, end))
		return -1;
	if (r->origin[0] != '\0' &&
		(lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-origin:",
									 (const unsigned char *) r->origin, (int) strlen(r->origin), &p, end) ||
		 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-methods:",
									 (const unsigned char *) methods, (int) strlen(methods), &p, end) ||
		 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-headers:",
									 (const unsigned char *) headers, (int) strlen(headers), &p, end) ||
		 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-max-age:",
									 (const unsigned char *) "600", 3, &p, end) ||
		 lws_add_http_header_by_name(wsi, (const unsigned char *) "vary:",
									 (const unsigned char *) "Origin", 6, &p, end)))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	req_free(r);
	*slot = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* the token's user and the client id; false: answered with an error */
static bool
identify(struct lws *wsi, http_req *r)
{
	char		buf[MANA_JWT_MAX_TOKEN + 16];
	mana_jwt_claims claims;
	mana_jwt_status st;
	int			n;

	if (mana_http_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof(buf)) <= 0 ||
		strncasecmp(buf, "Bearer ", 7) != 0)
	{
		mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
		mana_http_set_error(r, 401, "unauthorized", "send Authorization: Bearer <token>");
		return false;
	}
	st = mana_auth_verify(buf + 7, &claims);
	if (st != MANA_JWT_OK)
	{
		mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
		mana_http_set_error(r, 401, "unauthorized", mana_jwt_strerror(st));
		return false;
	}
	strlcpy(r->user, claims.sub, sizeof(r->user));
	n = lws_hdr_custom_length(wsi, "x-client-id:", 12);
	if (n > 0 && n <= MANA_WS_MAX_CLIENT &&
		lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-client-id:", 12) > 0)
		strlcpy(r->client, buf, sizeof(r->client));
	else if (n > MANA_WS_MAX_CLIENT)
	{
		mana_http_set_error(r, 400, "bad request", "X-Client-Id is longer than 128 bytes");
		return false;
	}
	if (mana_intake_app_database(r->app) == NULL)
	{
		mana_http_set_error(r, 404, "unknown app", r->app);
		return false;
	}
	return true;
}

/*
 * A request's headers are in (lws: LWS_CALLBACK_HTTP; uri is the path).
 * *slot holds our state for the connection's current request.  Returns
 * what the lws callback returns.
 */
int
mana_http_on_request(struct lws *wsi, void **slot, const char *uri)
{
	char		app[MANA_WS_MAX_APP + 1];
	char		buf[256];
	int			status;
	size_t		n = uri ? strlen(uri) : 0;
	const mana_route *route;
	http_req   *r;
	bool		is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	bool		is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	bool		is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
	unsigned int method = is_post ? MANA_HTTP_POST : is_get ? MANA_HTTP_GET : 0;

	if (n == 0 || n >= 2100)
		return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json", "{\"error\":\"bad request\"}\n");
	route = mana_http_route_find(uri, n, app, &status);
	if (route == NULL && status == 400)
		return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
						  "{\"error\":\"bad request\",\"detail\":\"malformed path\"}\n");
	if (route == NULL)
		return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "application/json", "{\"error\":\"not found\"}\n");
	if (!route->needs_token)
		return route->handler(wsi, NULL);

	req_free(*slot);
	r = calloc(1, sizeof(http_req));
	*slot = r;
	if (r == NULL)
		return -1;
	r->wsi = wsi;
	r->route = route;
	strlcpy(r->app, app, sizeof(r->app));
	if (mana_http_header(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(r->origin)) > 0 && origin_allowed(buf))
		strlcpy(r->origin, buf, sizeof(r->origin));
	if (is_post && !check_framing(wsi, r))
		return 0;
	if (is_options)
		return answer_preflight(wsi, slot, r);
	if ((route->methods & method) == 0)
	{
		mana_http_set_error(r, 405, "method not allowed",
							(route->methods & MANA_HTTP_POST) ? "use POST" : "use GET");
		return 0;
	}
	if (!identify(wsi, r))
		return 0;
	return route->handler(wsi, r);
}

/* room for len more bytes and a NUL in r->body; false when out of memory */
static bool
body_reserve(http_req *r, size_t len)
{
	if (r->len + len + 1 > r->cap)
	{
		size_t		ncap = Max(r->cap * 2, r->len + len + 1);
		char	   *nb;

		ncap = Max(ncap, 4096);
		nb = realloc(r->body, ncap);
		if (nb == NULL)
			return false;
		r->body = nb;
		r->cap = ncap;
	}
	return true;
}

/* raw bytes of a chunked body: decode; at its end, run the push */
static int
chunked_body(struct lws *wsi, void **slot, http_req *r, const void *in, size_t len)
{
	size_t		consumed,
				produced;
	mana_chunked_status st;

	if (!body_reserve(r, len))
	{
		r->close_after = true;
		mana_http_set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	st = mana_chunked_feed(&r->dechunk, in, len, r->body + r->len, &consumed, &produced);
	r->len += produced;
	if (r->len > (size_t) mana_max_body)
	{
		free(r->body);
		r->body = NULL;
		r->close_after = true;
		mana_http_set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	if (st == MANA_CHUNKED_ERROR)
	{
		char		detail[128];

		snprintf(detail, sizeof(detail), "bad chunked body: %s", r->dechunk.error);
		r->close_after = true;
		mana_http_set_error(r, 400, "bad request", detail);
		return 0;
	}
	if (st == MANA_CHUNKED_DONE)
		return mana_http_on_body_done(wsi, slot);
	return 0;
}

int
mana_http_on_body(struct lws *wsi, void **slot, const void *in, size_t len)
{
	http_req   *r = *slot;

	if (r == NULL || r->ready || !r->body_pending)
		return 0;				/* already answered (error), or complete: ignore */
	if (r->chunked)
		return chunked_body(wsi, slot, r, in, len);
	if (r->len + len > (size_t) mana_max_body)
	{
		/* more than Content-Length said (lws should not let this happen) */
		free(r->body);
		r->body = NULL;
		r->close_after = true;
		mana_http_set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	if (!body_reserve(r, len))
	{
		mana_http_set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	memcpy(r->body + r->len, in, len);
	r->len += len;
	return 0;
}

int
mana_http_on_body_done(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;

	if (r == NULL)
		return -1;
	if (r->route->body_done == NULL)
	{
		/*
		 * A body on a route that takes none is ignored; the request's timer
		 * (an event stream's keepalive) stays.
		 */
		if (r->ready)
			lws_callback_on_writable(wsi);
		return 0;
	}
	r->body_pending = false;
	lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
	if (r->ready)
	{
		lws_callback_on_writable(wsi);
		return 0;
	}
	return r->route->body_done(wsi, r);
}

int
mana_http_on_writeable(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;
	int			rc;
	bool		close_after;

	if (r != NULL && r->stream != NULL && !r->ready)
		return mana_sse_writeable(wsi, r);
	if (r == NULL || !r->ready || (r->body_pending && !r->close_after))
		return 0;
	close_after = r->close_after || r->unframed;
	rc = mana_http_write_answer(wsi, r);
	req_free(r);
	*slot = NULL;
	if (rc < 0 || close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/*
 * The request's timer: an event stream's keepalive, or a body that did not
 * arrive in time (a slow or stalled client): 408, close.
 */
void
mana_http_on_timer(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;

	if (r != NULL && r->stream != NULL && !r->ready)
	{
		mana_sse_keepalive(wsi, r);
		return;
	}
	if (r == NULL || !r->body_pending)
		return;
	free(r->body);
	r->body = NULL;
	r->close_after = true;
	mana_http_set_error(r, 408, "request timeout", "the body did not arrive within mana_sync.request_timeout");
}

void
mana_http_on_closed(void **slot)
{
	req_free(*slot);
	*slot = NULL;
}
