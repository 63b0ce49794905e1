/*
 * shmem.c
 *     The push worker's counters in shared memory, and the SQL function
 *     that reads them.
 *
 * Only the worker writes (plain atomic stores and adds, no lock: each
 * counter is independent and readers accept a momentarily mixed view).
 * Without shared_preload_libraries there is no segment; the SQL function
 * then reports the worker as not running.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"

#include "mana_sync.h"

PG_FUNCTION_INFO_V1(mana_sync_worker_stats);

mana_stats *mana_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
mana_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(mana_stats)));
	RequestAddinShmemSpace(mana_hintring_shmem_size());
}

static void
mana_shmem_startup(void)
{
	bool		found;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	mana_shared = ShmemInitStruct("mana_sync stats", sizeof(mana_stats), &found);
	if (!found)
	{
		pg_atomic_init_u32(&mana_shared->worker_pid, 0);
		for (i = 0; i < MANA_STAT_COUNT; i++)
			pg_atomic_init_u64(&mana_shared->counters[i], 0);
	}
	mana_hintring_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

void
mana_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mana_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mana_shmem_startup;
}

const char *const mana_stat_names[MANA_STAT_COUNT] = {
	"connections",
	"authenticated_users",
	"databases_listened",
	"auth_failures",
	"notifications_received",
	"messages_sent",
	"hints_coalesced",
	"hints_dropped",
	"listener_reconnects",
	"connections_refused",
	"frames_refused",
	"ring_hints",
	"ring_overflows",
	"ring_wakeups",
};

/*
 * mana_sync_worker_stats() RETURNS TABLE (running bool, pid int, <counters>)
 */
Datum
mana_sync_worker_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2 + MANA_STAT_COUNT];
	bool		nulls[2 + MANA_STAT_COUNT];
	int			i;
	uint32		pid = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	if (mana_shared != NULL)
		pid = pg_atomic_read_u32(&mana_shared->worker_pid);
	values[0] = BoolGetDatum(pid != 0);
	values[1] = Int32GetDatum((int32) pid);
	nulls[1] = (pid == 0);
	for (i = 0; i < MANA_STAT_COUNT; i++)
		values[2 + i] = Int64GetDatum(mana_shared ? (int64) pg_atomic_read_u64(&mana_shared->counters[i]) : 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
