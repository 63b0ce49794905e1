/*
 * mana_sync.c
 *     The module's entry point.  _PG_init hands off to each module, which
 *     defines its own settings.  The SQL functions work without
 *     shared_preload_libraries; with it, shared memory (the worker's
 *     statistics, the commit_hook ring) and the push worker are set up too,
 *     in the postmaster.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "backend/changeset.h"
#include "backend/hintring.h"
#include "backend/shmem.h"
#include "backend/trigger.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	mana_changeset_init();
	mana_trigger_init();
	mana_hintring_init();
	/* PGC_POSTMASTER settings and shared memory exist only when preloaded */
	if (process_shared_preload_libraries_in_progress)
	{
		mana_shmem_init();
		mana_worker_init();
	}
	MarkGUCPrefixReserved("mana_sync");
}
