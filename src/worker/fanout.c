/*
 * fanout.c
 *     The worker's hub (core/hub.c: who gets which hint, coalesced per
 *     connection) and the glue around it: hints in, wake-ups out, figures
 *     to the statistics.  Runs in the loop's callbacks: memory only.
 */
#include "postgres.h"

#include "backend/shmem.h"
#include "core/hub.h"
#include "core/notify_payload.h"
#include "fanout.h"

static mana_hub *hub = NULL;

static void
hub_wake(void *conn_data, void *hub_data)
{
	mana_fanout_client *fc = conn_data;

	if (fc != NULL && fc->wake != NULL)
		fc->wake(fc);
}

bool
mana_fanout_create(void)
{
	hub = mana_hub_create(hub_wake, NULL);
	return hub != NULL;
}

void
mana_fanout_destroy(void)
{
	mana_hub_destroy(hub);
	hub = NULL;
}

void
mana_fanout_sync_stats(void)
{
	mana_hub_stats st;
	static uint64 last_coalesced = 0;
	static uint64 last_dropped = 0;

	if (hub == NULL)
		return;
	mana_hub_get_stats(hub, &st);
	mana_stat_set(MANA_STAT_USERS, st.users);
	mana_stat_add(MANA_STAT_HINTS_COALESCED, (int64) (st.hints_coalesced - last_coalesced));
	mana_stat_add(MANA_STAT_HINTS_DROPPED, (int64) (st.hints_dropped - last_dropped));
	last_coalesced = st.hints_coalesced;
	last_dropped = st.hints_dropped;
}

struct mana_hub_conn *
mana_fanout_join(const char *user, const char *app, const char *client, mana_fanout_client *fc)
{
	struct mana_hub_conn *h = mana_hub_join(hub, user, app, client, fc);

	mana_fanout_sync_stats();
	return h;
}

void
mana_fanout_leave(struct mana_hub_conn *conn)
{
	mana_hub_leave(hub, conn);
	mana_fanout_sync_stats();
}

bool
mana_fanout_pending(struct mana_hub_conn *conn)
{
	return mana_hub_pending(conn);
}

size_t
mana_fanout_take(struct mana_hub_conn *conn, char *buf, size_t cap)
{
	return mana_hub_take(hub, conn, buf, cap);
}

void
mana_fanout_drain(struct mana_hub_conn *conn)
{
	char		buf[8192];

	while (mana_hub_pending(conn) && mana_hub_take(hub, conn, buf, sizeof(buf)) < sizeof(buf))
		;
}

void
mana_fanout_change(const char *app, const char *table, const char *owner, const char *client)
{
	mana_hub_change(hub, app, table, owner, client);
}

/*
 * A hint in the NOTIFY payload format (from a notification or the
 * commit_hook ring) to the fan-out; false if it is malformed or, with
 * only_db, names another database.
 */
bool
mana_fanout_hint(const char *payload, size_t len, const char *only_db)
{
	mana_notify_msg m;
	char	   *scratch = malloc(len + 1);
	bool		ok = scratch != NULL && mana_notify_decode(payload, len, &m, scratch) == 0 &&
		(only_db == NULL || strcmp(m.db, only_db) == 0);

	if (ok)
		mana_fanout_change(m.app, m.table, m.owner, m.client);
	free(scratch);
	return ok;
}

void
mana_fanout_broadcast(const char *app, const char *const *tables, int ntables)
{
	mana_hub_broadcast(hub, app, tables, ntables);
}
