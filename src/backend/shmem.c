/*
 * shmem.c
 *     The push worker's statistics in shared memory (the table of them is
 *     MANA_STATS in shmem.h), and the SQL function that reads them.
 *     (hintring.c attaches its ring with hooks of its own.)
 *
 * The worker writes them, and committing backends add to the ring's
 * (ring_overflows, ring_wakeups): plain atomic stores and adds, no lock,
 * as each counter is independent and readers accept a momentarily mixed
 * view.
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

#include "shmem.h"

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

const mana_stat_def mana_stat_defs[MANA_STAT_COUNT] = {
#define MANA_STAT_DEF(id, sql, prom, type, help) {sql, prom, type, help},
	MANA_STATS(MANA_STAT_DEF)
#undef MANA_STAT_DEF
};

void
mana_stat_add(mana_stat s, int64 n)
{
	if (mana_shared == NULL)
		return;
	if (n >= 0)
		pg_atomic_fetch_add_u64(&mana_shared->counters[s], (uint64) n);
	else
		pg_atomic_fetch_sub_u64(&mana_shared->counters[s], (uint64) -n);
}

void
mana_stat_set(mana_stat s, uint64 v)
{
	if (mana_shared != NULL)
		pg_atomic_write_u64(&mana_shared->counters[s], v);
}

uint64
mana_stat_get(mana_stat s)
{
	return mana_shared ? pg_atomic_read_u64(&mana_shared->counters[s]) : 0;
}

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
	/* the SQL definition and MANA_STATS must list the same columns */
	if (tupdesc->natts != 2 + MANA_STAT_COUNT)
		elog(ERROR, "mana_sync_worker_stats() has %d columns, the library knows %d statistics",
			 tupdesc->natts - 2, (int) MANA_STAT_COUNT);
	for (i = 0; i < MANA_STAT_COUNT; i++)
		if (strcmp(NameStr(TupleDescAttr(tupdesc, 2 + i)->attname), mana_stat_defs[i].sql_name) != 0)
			elog(ERROR, "column %d of mana_sync_worker_stats() is \"%s\", the library's statistic is \"%s\"",
				 3 + i, NameStr(TupleDescAttr(tupdesc, 2 + i)->attname), mana_stat_defs[i].sql_name);
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
