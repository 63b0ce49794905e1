/*
 * shmem.h
 *     Shared memory (shmem.c): the push worker's statistics, which the
 *     worker (and, for the ring's, committing backends) write and
 *     mana_sync_worker_stats() and /metrics read.
 */
#ifndef MANA_SHMEM_H
#define MANA_SHMEM_H

#include "port/atomics.h"

/*
 * The statistics, one row each: the enum constant (MANA_STAT_<id>), the
 * column of mana_sync_worker_stats() (sql/mana_sync--*.sql lists the
 * columns in this order; the function checks that they match), the
 * Prometheus name, its type and help.  A new statistic is one row here and
 * one column in the SQL script.
 */
#define MANA_STATS(X) \
	X(CONNECTIONS, "connections", "mana_sync_connections", "gauge", \
	  "Open WebSocket connections.") \
	X(USERS, "authenticated_users", "mana_sync_authenticated_users", "gauge", \
	  "Distinct users with an authenticated WebSocket.") \
	X(DATABASES, "databases_listened", "mana_sync_databases_listened", "gauge", \
	  "Databases whose changes the worker listens to.") \
	X(AUTH_FAILURES, "auth_failures", "mana_sync_auth_failures_total", "counter", \
	  "Refused WebSocket authentications.") \
	X(NOTIFICATIONS, "notifications_received", "mana_sync_notifications_received_total", "counter", \
	  "Change notifications received.") \
	X(MESSAGES_SENT, "messages_sent", "mana_sync_messages_sent_total", "counter", \
	  "Messages sent: WebSocket messages, HTTP answers and event-stream writes.") \
	X(HINTS_COALESCED, "hints_coalesced", "mana_sync_hints_coalesced_total", "counter", \
	  "Hints folded into one already pending.") \
	X(HINTS_DROPPED, "hints_dropped", "mana_sync_hints_dropped_total", "counter", \
	  "Hints dropped at a connection's pending limit.") \
	X(LISTENER_RECONNECTS, "listener_reconnects", "mana_sync_listener_reconnects_total", "counter", \
	  "Change intake connections re-established.") \
	X(CONNECTIONS_REFUSED, "connections_refused", "mana_sync_connections_refused_total", "counter", \
	  "Connections refused over mana_sync.max_connections.") \
	X(FRAMES_REFUSED, "frames_refused", "mana_sync_frames_refused_total", "counter", \
	  "Connections closed for oversized or binary frames.") \
	X(RING_HINTS, "ring_hints", "mana_sync_ring_hints_total", "counter", \
	  "Change hints taken from shared memory (notify_mode commit_hook).") \
	X(RING_OVERFLOWS, "ring_overflows", "mana_sync_ring_overflows_total", "counter", \
	  "Commits whose hints did not fit the ring (their apps were told to pull).") \
	X(RING_WAKEUPS, "ring_wakeups", "mana_sync_ring_wakeups_total", "counter", \
	  "Commits that woke the worker (the others found it awake or polling).")

typedef enum mana_stat
{
#define MANA_STAT_ENUM(id, sql, prom, type, help) MANA_STAT_##id,
	MANA_STATS(MANA_STAT_ENUM)
#undef MANA_STAT_ENUM
	MANA_STAT_COUNT
} mana_stat;

typedef struct mana_stat_def
{
	const char *sql_name;		/* column of mana_sync_worker_stats() */
	const char *prom_name;		/* /metrics */
	const char *prom_type;		/* gauge or counter */
	const char *help;
} mana_stat_def;

extern const mana_stat_def mana_stat_defs[MANA_STAT_COUNT];

typedef struct mana_stats
{
	pg_atomic_uint32 worker_pid;	/* 0: not running */
	pg_atomic_uint64 counters[MANA_STAT_COUNT];
} mana_stats;

/* NULL without shared_preload_libraries */
extern mana_stats *mana_shared;

/* install the shared memory hooks (from _PG_init, preloaded only) */
extern void mana_shmem_init(void);

/* the worker's side: add to, set and read a statistic (no-ops without the segment) */
extern void mana_stat_add(mana_stat s, int64 n);
extern void mana_stat_set(mana_stat s, uint64 v);
extern uint64 mana_stat_get(mana_stat s);

#endif
