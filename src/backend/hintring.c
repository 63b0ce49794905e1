/*
 * hintring.c
 *     mana_sync.notify_mode = commit_hook: change hints without NOTIFY.
 *
 * NOTIFY makes every notifying commit take a cluster-wide lock and hold it
 * through its WAL flush, so such commits stop sharing flushes
 * (the README's change intake benchmark has the measurements).
 * In commit_hook mode the trigger instead records the transaction's hints
 * (the NOTIFY payload text: database, app, table, owner, client) in
 * backend-local memory, deduplicated; a transaction callback copies them
 * into a ring in shared memory once the commit is visible to others
 * (XACT_EVENT_COMMIT runs after ProcArrayEndTransaction), and wakes the
 * worker through an eventfd that the postmaster created before forking
 * (every backend inherits it; the worker watches a dup in its event loop).
 *
 *   - An aborted transaction sends nothing (its hints are dropped).
 *   - A prepared transaction (two-phase commit) puts its hints in the ring
 *     tagged with its xid at PREPARE; the worker holds them until the xid
 *     is no longer in progress, then delivers them if it committed.
 *   - A full ring loses nothing silently: the database is marked
 *     overflowed (or, if that list is full too, every database), and the
 *     worker tells every client of its apps to pull.
 *   - Nothing in the callback can raise: no palloc, a spinlock around a
 *     bounded memcpy, write(2) results ignored.
 *
 * Hints of a subtransaction that rolled back are still sent: a hint only
 * makes clients pull, so an extra one costs a pull and loses nothing.
 *
 * Without shared_preload_libraries there is no ring, and the trigger
 * notifies as in notify mode.
 */
#include "postgres.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "core/notify_payload.h"
#include "hintring.h"
#include "shmem.h"

/* the setting */
int			mana_notify_mode = MANA_NOTIFY_COMMIT_HOOK;
int			mana_hint_ring_kb = 1024;

static void ring_shmem_request(void);
static void ring_shmem_startup(void);
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#define RING_MAX_OVERFLOW_DBS 16
#define DRAIN_CHUNK (64 * 1024)	/* most bytes taken under the lock at once */
#define LOCAL_MAX_HINTS 64		/* distinct hints kept per transaction */

typedef struct hint_ring
{
	slock_t		lock;
	uint64		head;			/* bytes ever written */
	uint64		tail;			/* bytes ever read */
	bool		overflow_all;	/* every database must be told to pull */
	bool		worker_asleep;	/* the next commit must write the eventfd */
	int			noverflow;
	char		overflow_db[RING_MAX_OVERFLOW_DBS][NAMEDATALEN];
	Size		size;			/* of data */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} hint_ring;

/*
 * A record: its header, then the payload (len bytes), padded to 8.  xid is
 * 0 for a commit, else the full xid of a prepared transaction.
 */
typedef struct ring_rec
{
	uint32		len;
	uint32		pad;
	uint64		xid;
} ring_rec;

#define REC_SIZE(len) (sizeof(ring_rec) + (((Size) (len) + 7) & ~((Size) 7)))

static hint_ring *ring = NULL;
static int	ring_efd = -1;

/* this backend's hints for the current transaction (malloc'd) */
static char *local_hints[LOCAL_MAX_HINTS];
static int	nlocal = 0;
static bool local_overflow = false;
static char local_db[NAMEDATALEN];
static bool callback_registered = false;
static FullTransactionId prepared_fxid;

static const struct config_enum_entry notify_mode_options[] = {
	{"notify", MANA_NOTIFY_NOTIFY, false},
	{"commit_hook", MANA_NOTIFY_COMMIT_HOOK, false},
	{NULL, 0, false}
};

/* ---------------------------------------------------------------- setup */

/*
 * The settings; with shared_preload_libraries (in the postmaster) also the
 * ring's size and its eventfd.
 */
void
mana_hintring_init(void)
{
	DefineCustomEnumVariable("mana_sync.notify_mode",
							 "How committed changes reach the push worker: notify (LISTEN/NOTIFY) or commit_hook (shared memory).",
							 "commit_hook avoids NOTIFY's commit-time lock; notify lets other programs LISTEN on the channel mana_sync.  "
							 "Without shared_preload_libraries, commit_hook falls back to notify.",
							 &mana_notify_mode, MANA_NOTIFY_COMMIT_HOOK, notify_mode_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ring_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ring_shmem_startup;
	DefineCustomIntVariable("mana_sync.hint_ring_size",
							"Shared memory for hints on their way to the push worker in commit_hook mode.",
							"When it is full, clients of the affected databases are told to pull.",
							&mana_hint_ring_kb, 1024, 16, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);
	/* created before the fork, so every backend and the worker inherit it */
	ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ring_efd < 0)
		ereport(WARNING,
				(errmsg("mana_sync: could not create an eventfd: %m"),
				 errdetail("commit_hook mode falls back to NOTIFY.")));
}

static Size
ring_shmem_size(void)
{
	return MAXALIGN(offsetof(hint_ring, data) + (Size) mana_hint_ring_kb * 1024);
}

static void
ring_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(ring_shmem_size());
}

static void
ring_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ring = ShmemInitStruct("mana_sync hint ring", ring_shmem_size(), &found);
	if (!found)
	{
		SpinLockInit(&ring->lock);
		ring->head = ring->tail = 0;
		ring->overflow_all = false;
		ring->worker_asleep = true;
		ring->noverflow = 0;
		ring->size = (Size) mana_hint_ring_kb * 1024;
	}
	LWLockRelease(AddinShmemInitLock);
}

int
mana_hintring_fd(void)
{
	return ring_efd;
}

bool
mana_hintring_active(void)
{
	return mana_notify_mode == MANA_NOTIFY_COMMIT_HOOK && ring != NULL && ring_efd >= 0;
}

/* ---------------------------------------------------------------- backends */

static void
local_reset(void)
{
	int			i;

	for (i = 0; i < nlocal; i++)
		free(local_hints[i]);
	nlocal = 0;
	local_overflow = false;
}

/* copy len bytes into the ring at byte position pos (wrapping) */
static void
ring_put(uint64 pos, const void *src, Size len)
{
	Size		off = (Size) (pos % ring->size);
	Size		first = Min(len, ring->size - off);

	memcpy(ring->data + off, src, first);
	if (first < len)
		memcpy(ring->data, (const char *) src + first, len - first);
}

static void
ring_get(uint64 pos, void *dst, Size len)
{
	Size		off = (Size) (pos % ring->size);
	Size		first = Min(len, ring->size - off);

	memcpy(dst, ring->data + off, first);
	if (first < len)
		memcpy((char *) dst + first, ring->data, len - first);
}

/* under the lock: mark this backend's database (or all) for a broadcast */
static void
mark_overflow_locked(void)
{
	int			i;

	for (i = 0; i < ring->noverflow; i++)
		if (strcmp(ring->overflow_db[i], local_db) == 0)
			return;
	if (ring->noverflow < RING_MAX_OVERFLOW_DBS && local_db[0] != '\0')
		strlcpy(ring->overflow_db[ring->noverflow++], local_db, NAMEDATALEN);
	else
		ring->overflow_all = true;
}

/* the transaction's hints into the ring; never raises */
static void
flush_local(uint64 xid)
{
	int			i;
	bool		overflowed = false;
	bool		wake;
	uint64		one = 1;

	if (ring == NULL || (nlocal == 0 && !local_overflow))
		return;
	SpinLockAcquire(&ring->lock);
	wake = ring->worker_asleep;
	ring->worker_asleep = false;	/* one committer wakes it */
	if (local_overflow)
		overflowed = true;
	else
	{
		for (i = 0; i < nlocal; i++)
		{
			ring_rec	rec;
			Size		len = strlen(local_hints[i]);

			if (ring->head - ring->tail + REC_SIZE(len) > ring->size)
			{
				overflowed = true;
				break;
			}
			rec.len = (uint32) len;
			rec.pad = 0;
			rec.xid = xid;
			ring_put(ring->head, &rec, sizeof(rec));
			ring_put(ring->head + sizeof(rec), local_hints[i], len);
			ring->head += REC_SIZE(len);
		}
	}
	if (overflowed)
		mark_overflow_locked();
	SpinLockRelease(&ring->lock);
	if (overflowed && mana_shared != NULL)
		pg_atomic_fetch_add_u64(&mana_shared->counters[MANA_STAT_RING_OVERFLOWS], 1);
	/*
	 * Wake the worker only if it said it would sleep (see
	 * mana_hintring_drain): while it is awake, or coming round on its own
	 * under load, the write would cost a system call and the worker a
	 * wake-up per commit for nothing.  A full counter (EAGAIN) also means
	 * "wake up".
	 */
	if (wake)
	{
		if (write(ring_efd, &one, sizeof(one)) < 0)
		{
			/* nothing to do: the worker's periodic tick drains the ring too */
		}
		if (mana_shared != NULL)
			pg_atomic_fetch_add_u64(&mana_shared->counters[MANA_STAT_RING_WAKEUPS], 1);
	}
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			flush_local(0);
			local_reset();
			break;
		case XACT_EVENT_PRE_PREPARE:
			prepared_fxid = GetTopFullTransactionIdIfAny();
			break;
		case XACT_EVENT_PREPARE:
			if (FullTransactionIdIsValid(prepared_fxid))
				flush_local(U64FromFullTransactionId(prepared_fxid));
			else
			{
				/* no xid (cannot happen with writes): tell everyone now */
				local_overflow = true;
				flush_local(0);
			}
			local_reset();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			local_reset();
			break;
		default:
			break;
	}
}

/*
 * The trigger's hint for the current transaction: recorded once per
 * distinct payload.  Returns false when commit_hook mode is not available
 * (the caller then notifies).
 */
bool
mana_hintring_record(const char *dbname, const char *payload)
{
	int			i;
	char	   *copy;

	if (!mana_hintring_active())
		return false;
	if (!callback_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		callback_registered = true;
	}
	if (local_db[0] == '\0')
		strlcpy(local_db, dbname, sizeof(local_db));
	if (local_overflow)
		return true;
	for (i = nlocal - 1; i >= 0; i--)
		if (strcmp(local_hints[i], payload) == 0)
			return true;
	if (nlocal >= LOCAL_MAX_HINTS || (copy = strdup(payload)) == NULL)
	{
		/* many owners or tables in one transaction: one broadcast instead */
		local_reset();
		local_overflow = true;
		return true;
	}
	local_hints[nlocal++] = copy;
	return true;
}

/* ---------------------------------------------------------------- the worker */

typedef struct pending_hint
{
	struct pending_hint *next;
	TransactionId xid;
	char	   *payload;
} pending_hint;

static pending_hint *pending = NULL;	/* of prepared transactions */
static char *drain_buf = NULL;	/* ring->size bytes */

/* worker: the eventfd was signalled (in an lws callback: just reset it) */
void
mana_hintring_ack(void)
{
	uint64		v;

	if (ring_efd >= 0 && read(ring_efd, &v, sizeof(v)) < 0)
	{
		/* EAGAIN: nothing pending */
	}
}

/*
 * Worker: everything in the ring to deliver(payload) and, for overflowed
 * databases, broadcast(dbname or NULL for all).  Runs in the main loop
 * (not in an lws callback): looking up a prepared transaction's fate may
 * read the commit log.  Returns the number of records taken.
 *
 * With may_sleep, the worker is marked asleep once the ring is found
 * empty: the next commit writes the eventfd.  A worker under load passes
 * may_sleep = false: it promises to call again soon (a short timer), and commits in
 * between need no wake-up.
 *
 * Long (about 120 lines) for a reason: the locked copy-out, the held
 * prepared transactions and the overflow list share one pass and its
 * local state; split, each part would need the lock protocol explained
 * again.
 */
uint64
mana_hintring_drain(void (*deliver) (const char *payload, size_t len),
					void (*broadcast) (const char *dbname), bool may_sleep)
{
	uint64		head,
				tail,
				n;
	bool		all;
	int			noverflow;
	char		overflow_db[RING_MAX_OVERFLOW_DBS][NAMEDATALEN];
	Size		off;
	pending_hint **pp;
	uint64		taken = 0;

	if (ring == NULL)
		return 0;
	if (drain_buf == NULL && (drain_buf = malloc(Max(DRAIN_CHUNK, 2 * MANA_NOTIFY_MAX_PAYLOAD))) == NULL)
	{
		SpinLockAcquire(&ring->lock);
		ring->worker_asleep = true; /* the tick comes back to try again */
		SpinLockRelease(&ring->lock);
		return 0;
	}

	/* prepared transactions seen before: delivered once decided */
	for (pp = &pending; *pp != NULL;)
	{
		pending_hint *p = *pp;

		if (TransactionIdIsInProgress(p->xid))
		{
			pp = &p->next;
			continue;
		}
		if (TransactionIdDidCommit(p->xid))
			deliver(p->payload, strlen(p->payload));
		*pp = p->next;
		free(p->payload);
		free(p);
	}

	for (;;)
	{
		/*
		 * Take whole records, up to DRAIN_CHUNK bytes at a time: committing
		 * backends wait on this spinlock, so it is never held for a long
		 * copy.
		 */
		SpinLockAcquire(&ring->lock);
		head = ring->head;
		tail = ring->tail;
		n = 0;
		while (tail + n < head)
		{
			ring_rec	rec;

			ring_get(tail + n, &rec, sizeof(rec));
			if (n > 0 && n + REC_SIZE(rec.len) > DRAIN_CHUNK)
				break;
			n += REC_SIZE(rec.len);
		}
		ring_get(tail, drain_buf, (Size) n);
		ring->tail = tail + n;
		all = ring->overflow_all;
		noverflow = ring->noverflow;
		memcpy(overflow_db, ring->overflow_db, sizeof(overflow_db));
		ring->overflow_all = false;
		ring->noverflow = 0;
		if (n == 0 && !all && noverflow == 0 && may_sleep)
			ring->worker_asleep = true;
		SpinLockRelease(&ring->lock);
		if (all || noverflow > 0)
			taken++;

		if (all)
			broadcast(NULL);
		else
		{
			int			i;

			for (i = 0; i < noverflow; i++)
				broadcast(overflow_db[i]);
		}
		if (n == 0 && !all && noverflow == 0)
			break;				/* empty, and marked asleep if asked */

		off = 0;
		while (off + sizeof(ring_rec) <= n)
		{
			ring_rec	rec;
			char	   *payload;

			memcpy(&rec, drain_buf + off, sizeof(rec));
			payload = drain_buf + off + sizeof(rec);
			taken++;
			if (rec.xid == 0)
				deliver(payload, rec.len);
			else
			{
				TransactionId xid = XidFromFullTransactionId(FullTransactionIdFromU64(rec.xid));
				pending_hint *p = malloc(sizeof(pending_hint));

				if (p != NULL && (p->payload = malloc(rec.len + 1)) != NULL)
				{
					memcpy(p->payload, payload, rec.len);
					p->payload[rec.len] = '\0';
					p->xid = xid;
					p->next = pending;
					pending = p;
				}
				else
				{
					free(p);
					/* cannot hold it: tell everyone to pull rather than lose it */
					broadcast(NULL);
				}
			}
			off += REC_SIZE(rec.len);
		}
	}
	return taken;
}
