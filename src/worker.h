/*
 * worker.h
 *     Between the push worker's loop (worker.c) and its change intake
 *     (intake.c).  The intake only ever calls mana_worker_change and
 *     mana_worker_broadcast, so where hints come from (LISTEN/NOTIFY now, a
 *     commit-time ring later) does not matter to the fan-out.
 */
#ifndef MANA_WORKER_H
#define MANA_WORKER_H

#include <libwebsockets.h>

#include "mana_sync.h"

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
extern void mana_worker_broadcast(const char *app, const char *const *tables, int ntables);
extern struct lws_context *mana_worker_context(void);
extern struct lws_vhost *mana_worker_vhost(void);
extern void mana_stat_add(mana_stat s, int64 n);
extern void mana_stat_set(mana_stat s, uint64 v);

/* the intake (intake.c) */
extern void mana_intake_start(void);
extern void mana_intake_poll(void);
extern void mana_intake_shutdown(void);
extern int	mana_intake_callback(struct lws *wsi, enum lws_callback_reasons reason,
								 void *in, size_t len);

#endif
