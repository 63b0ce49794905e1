/*
 * hub.h
 *     Who gets which sync hint: the push worker's routing and coalescing
 *     (pure C: libc only, so it can be unit tested and fuzzed).
 *
 * A connection joins the hub when it has authenticated, with the token's
 * user (sub), the app it listens to ("" for every app) and the client id it
 * gave.  A change (app, table, owner, origin client) hints every connection
 * of that owner for that app, except the one whose client id made it.
 * Hints are coalesced per connection: a connection holds at most one pending
 * (app, table) pair however many changes arrive before it writes, and at
 * most MANA_HUB_MAX_PENDING pairs in all (further distinct pairs are
 * dropped and counted: a stalled client holds a bounded buffer, and the
 * pull it makes when it catches up returns everything anyway).
 *
 * Not thread-safe; the worker has one event loop.  Memory is malloc'd and
 * freed with the hub; every operation is O(connections of one user) or
 * O(pending of one connection).
 */
#ifndef MANA_HUB_H
#define MANA_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANA_HUB_MAX_PENDING 256
#define MANA_HUB_MAX_NAME 256	/* app, table, user, client ids */

typedef struct mana_hub mana_hub;
typedef struct mana_hub_conn mana_hub_conn;

/* called when a connection got a hint it did not have pending */
typedef void (*mana_hub_wake_fn) (void *conn_data, void *hub_data);

typedef struct mana_hub_stats
{
	uint64_t	hints_queued;	/* new pending pairs */
	uint64_t	hints_coalesced;	/* hints folded into a pending pair */
	uint64_t	hints_dropped;	/* over MANA_HUB_MAX_PENDING */
	uint64_t	users;			/* distinct users with a connection now */
	uint64_t	conns;			/* connections in the hub now */
} mana_hub_stats;

extern mana_hub *mana_hub_create(mana_hub_wake_fn wake, void *hub_data);
extern void mana_hub_destroy(mana_hub *hub);

/*
 * Join an authenticated connection.  app "" = every app; client may be ""
 * (never spared).  Strings are copied.  Returns NULL when a string is longer
 * than MANA_HUB_MAX_NAME or on allocation failure.
 */
extern mana_hub_conn *mana_hub_join(mana_hub *hub, const char *user, const char *app,
									const char *client, void *conn_data);
extern void mana_hub_leave(mana_hub *hub, mana_hub_conn *conn);

/*
 * A change.  owner NULL: every user of the app (an owner too long to
 * notify); client NULL or "": nobody is spared.  Returns the number of
 * connections hinted (new or coalesced).
 */
extern int	mana_hub_change(mana_hub *hub, const char *app, const char *table,
							const char *owner, const char *client);

/*
 * Hint every connection of an app (app NULL: of every app) for the given
 * tables, sparing nobody: after a lost intake, when changes may have been
 * missed.  Returns the number of connections hinted.
 */
extern int	mana_hub_broadcast(mana_hub *hub, const char *app, const char *const *tables,
							   int ntables);

/* Does the connection have hints waiting? */
extern bool mana_hub_pending(const mana_hub_conn *conn);

/*
 * Take the pending hints of one app (the first in arrival order) as a
 * sync-available message into buf: as many of its tables as fit, the rest
 * stay pending for the next message.  Only when not even one table fits is
 * nothing taken (the needed length is returned, >= buflen).  Returns 0 when
 * nothing is pending.
 */
extern size_t mana_hub_take(mana_hub *hub, mana_hub_conn *conn, char *buf, size_t buflen);

extern void mana_hub_get_stats(const mana_hub *hub, mana_hub_stats *out);

#endif
