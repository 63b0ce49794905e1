/*
 * worker.h
 *     Between the push worker's loop (worker.c) and its change intake
 *     (intake.c).  Hints reach the fan-out only through mana_worker_hint,
 *     mana_worker_change and mana_worker_broadcast, so where they come from
 *     (LISTEN/NOTIFY or the commit_hook ring) does not matter to it.
 */
#ifndef MANA_WORKER_H
#define MANA_WORKER_H

#include <libwebsockets.h>

#include "backend/mana_sync.h"

/* settings (worker.c) */
extern char *mana_listen_address;
extern int	mana_port;
extern int	mana_auth_timeout_ms;
extern char *mana_jwks_file;
extern char *mana_jwt_secret;
extern char *mana_jwt_issuer;
extern char *mana_jwt_audience;
extern int	mana_max_connections;
extern char *mana_worker_user;

extern void mana_worker_define_settings(void);
extern void mana_worker_register(void);
extern PGDLLEXPORT void mana_sync_worker_main(Datum main_arg);

/* for the intake */
extern void mana_worker_change(const char *app, const char *table, const char *owner,
							   const char *client);
extern bool mana_worker_hint(const char *payload, size_t len, const char *only_db);
extern void mana_worker_broadcast(const char *app, const char *const *tables, int ntables);
/* intake.c: hints were lost for a database (NULL: all), every client pulls */
extern void mana_intake_broadcast_db(const char *dbname);
/* set when a big buffer was freed: the heap is trimmed at the next chance */
extern bool mana_worker_trim_wanted;
extern struct lws_context *mana_worker_context(void);
extern struct lws *mana_worker_adopt(int sock, const char *protocol, void *opaque);
extern struct lws_vhost *mana_worker_vhost(void);
extern void mana_stat_add(mana_stat s, int64 n);
extern void mana_stat_set(mana_stat s, uint64 v);

/* the intake (intake.c) */
extern void mana_intake_start(void);
extern void mana_intake_poll(void);
extern void mana_intake_shutdown(void);
extern int	mana_intake_callback(struct lws *wsi, enum lws_callback_reasons reason,
								 void *in, size_t len);

/* the HTTP endpoints (http.c) */
#include "core/jwt.h"
#include "core/wsproto.h"

extern int	mana_max_body;
extern char *mana_cors_origins;
extern mana_jwt_status mana_worker_verify(const char *token, mana_jwt_claims *claims);
extern int	mana_http_request(struct lws *wsi, void **slot, const mana_path *path, void *conn);
extern int	mana_http_body(struct lws *wsi, void **slot, const void *in, size_t len);
extern int	mana_http_body_done(struct lws *wsi, void **slot);
extern int	mana_http_writeable(struct lws *wsi, void **slot);
extern void mana_http_closed(void **slot);
extern void mana_http_timeout(struct lws *wsi, void **slot);
extern void mana_http_stream_hint(void *slot_value);

/* the hub, for the event stream (worker.c) */
struct mana_hub_conn;
extern struct mana_hub_conn *mana_worker_join(const char *user, const char *app, const char *client,
											  void *conn_data);
extern void mana_worker_leave(struct mana_hub_conn *conn);
extern void mana_worker_drain(struct mana_hub_conn *conn);
extern int	mana_request_timeout_ms;

/* the HTTP endpoints' connection pool (pool.c) */
#include "libpq-fe.h"

extern int	mana_http_pool_size;
extern int	mana_statement_timeout_ms;

typedef struct mana_pool_result
{
	bool		ok;
	const char *value;			/* first column of the first row, or NULL */
	const char *values[8];		/* the first row's columns (NULL: SQL NULL or none) */
	const char *sqlstate;		/* on error */
	const char *message;
	const char *detail;
} mana_pool_result;

typedef struct mana_pool_job
{
	struct mana_pool_job *next;
	char	   *sql;
	int			nparams;
	char	   *params[8];		/* malloc'd; NULL = SQL NULL */
	/* called once with the outcome, unless arg was cleared (client gone) */
	void		(*done) (void *arg, const mana_pool_result *r);
	void	   *arg;
	int			retries;		/* times run again after a lost connection */
} mana_pool_job;

extern PGconn *mana_intake_connect(const char *dbname, const char *appname, const char *options);
extern const char *mana_intake_app_database(const char *app);
extern int	mana_pool_submit(const char *dbname, mana_pool_job *job);
extern void mana_pool_job_free(mana_pool_job *job);
extern void mana_pool_poll(void);
extern void mana_pool_shutdown(void);
extern void mana_pool_reload(void);
extern int	mana_pool_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
							   void *in, size_t len);

#endif
