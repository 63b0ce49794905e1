/*
 * worker.h
 *     The push worker (worker.c): its registration and main function.  The
 *     worker's parts each have their own header: loop.h (the event loop),
 *     listen.h, ws.h, http.h, auth.h, fanout.h, intake.h, ring.h, pool.h,
 *     pgconn.h.
 */
#ifndef MANA_WORKER_H
#define MANA_WORKER_H

#include "fmgr.h"

/* the worker's settings (each module defines its own) and its registration */
extern void mana_worker_init(void);
extern PGDLLEXPORT void mana_sync_worker_main(Datum main_arg);

#endif
