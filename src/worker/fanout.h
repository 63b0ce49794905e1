/*
 * fanout.h
 *     From change hints to connections (fanout.c): the worker's one hub
 *     (core/hub.c), fed by the intakes (NOTIFY in intake.c, the commit_hook
 *     ring in ring.c) and read by the WebSocket and event-stream
 *     connections.  Where a hint came from does not matter here.
 */
#ifndef MANA_FANOUT_H
#define MANA_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

struct mana_hub_conn;

/*
 * What joins the fan-out: embedded in a connection's state; wake is called
 * when a hint arrives that the connection did not have pending.
 */
typedef struct mana_fanout_client mana_fanout_client;
struct mana_fanout_client
{
	void		(*wake) (mana_fanout_client *client);
};

extern bool mana_fanout_create(void);
extern void mana_fanout_destroy(void);

/* connections: join once authenticated (NULL: out of memory) */
extern struct mana_hub_conn *mana_fanout_join(const char *user, const char *app, const char *client,
											  mana_fanout_client *fc);
extern void mana_fanout_leave(struct mana_hub_conn *conn);
extern bool mana_fanout_pending(struct mana_hub_conn *conn);
/* the next sync-available message into buf (core/hub.h: mana_hub_take) */
extern size_t mana_fanout_take(struct mana_hub_conn *conn, char *buf, size_t cap);
/* forget what is pending (an event stream pulls everything anyway) */
extern void mana_fanout_drain(struct mana_hub_conn *conn);

/* intakes: one change, a hint in the NOTIFY payload format, or everything of an app */
extern void mana_fanout_change(const char *app, const char *table, const char *owner,
							   const char *client);
extern bool mana_fanout_hint(const char *payload, size_t len, const char *only_db);
extern void mana_fanout_broadcast(const char *app, const char *const *tables, int ntables);

/* copy the hub's figures into the statistics */
extern void mana_fanout_sync_stats(void);

#endif
