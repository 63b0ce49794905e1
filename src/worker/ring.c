/*
 * ring.c
 *     The commit_hook intake, the worker's side: hints that committing
 *     backends put in the shared-memory ring (backend/hintring.c) reach
 *     the fan-out here.  The ring's eventfd is a watched descriptor of the
 *     loop; the loop drains the ring after every wake-up.
 */
#include "postgres.h"

#include <ev.h>

#include "backend/hintring.h"
#include "backend/shmem.h"
#include "fanout.h"
#include "intake.h"
#include "loop.h"
#include "ring.h"

static mana_watch ring_watch;

/* a hint from the ring: the same fan-out as a notification */
static void
ring_deliver(const char *payload, size_t len)
{
	mana_stat_add(MANA_STAT_RING_HINTS, 1);
	(void) mana_fanout_hint(payload, len, NULL);
}

/*
 * Hint coalescing (commit_hook mode).  An idle worker sleeps and the next
 * commit wakes it by writing the eventfd.  Waking a sleeping process is
 * dear (on this project's 2-core VMs an eventfd write that wakes the worker
 * took about a tenth of a single-row UPDATE's time in the backend, and the
 * worker's wake-up as much again), so a busy worker, one that took at
 * least HINT_BUSY_RATE hints a second over the last ~100 ms, does not
 * sleep: it drains the ring every HINT_COALESCE_SEC, and commits skip the
 * eventfd.  A hint then waits at most that long; below the rate there is
 * no wait at all (a commit wakes the worker at once).
 */
#define HINT_COALESCE_SEC 0.001
#define HINT_BUSY_RATE 1000.0
#define HINT_RATE_PERIOD 0.1

static ev_timer coalesce_timer;
static bool hints_busy = false;
static uint64 hints_in_period = 0;
static ev_tstamp hint_period_start = 0;

static void
coalesce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* nothing: ev_run returns and the main loop drains the ring */
}

void
mana_ring_drain(void)
{
	bool		may_sleep = !hints_busy;
	uint64		taken = mana_hintring_drain(ring_deliver, mana_intake_broadcast_db, may_sleep);
	ev_tstamp	now = ev_now(mana_loop_ev());

	hints_in_period += taken;
	if (now - hint_period_start >= HINT_RATE_PERIOD)
	{
		hints_busy = hints_in_period >= HINT_BUSY_RATE * (now - hint_period_start);
		hints_in_period = 0;
		hint_period_start = now;
	}
	/* not marked asleep: come back soon, no commit will wake us */
	if (!may_sleep && !ev_is_active(&coalesce_timer))
	{
		ev_timer_set(&coalesce_timer, HINT_COALESCE_SEC, 0.);
		ev_timer_start(mana_loop_ev(), &coalesce_timer);
	}
}

/* the eventfd was written: reset it; the loop drains the ring next */
static int
ring_event(mana_watch *w, struct lws *wsi, mana_watch_event ev)
{
	if (ev == MANA_WATCH_READABLE)
		mana_hintring_ack();
	return 0;					/* closed: the loop polls the ring anyway */
}

static const mana_watch_ops ring_ops = {"commit_hook eventfd", ring_event};

void
mana_ring_start(void)
{
	ev_timer_init(&coalesce_timer, coalesce_cb, HINT_COALESCE_SEC, 0.);
	hint_period_start = ev_now(mana_loop_ev());
	if (mana_hintring_fd() < 0)
		return;
	ring_watch.ops = &ring_ops;
	if (mana_loop_watch(mana_hintring_fd(), &ring_watch) == NULL)
		elog(LOG, "mana_sync: could not watch the hint ring; polling it instead");
}
