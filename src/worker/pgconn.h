/*
 * pgconn.h
 *     The worker's libpq connections to its own server (pgconn.c), shared
 *     by the intake and the pool: non-blocking, over the first Unix socket
 *     directory, as mana_sync.worker_user.
 */
#ifndef MANA_PGCONN_H
#define MANA_PGCONN_H

#include "libpq-fe.h"

/* mana_sync.worker_user */
extern char *mana_worker_user;
extern void mana_pgconn_define_settings(void);

/*
 * Start a non-blocking connection to dbname (options: a libpq "options"
 * string, or NULL); notices go to the server log.  NULL if it could not
 * even start.
 */
extern PGconn *mana_pgconn_start(const char *dbname, const char *appname, const char *options);

/* drive PQconnectPoll: 1 connected, 0 still going, -1 failed */
extern int	mana_pgconn_poll(PGconn *conn);

#endif
