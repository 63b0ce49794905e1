/*
 * mana_sync.c
 *     Entry point: settings, time helpers, and the caller's identity.
 *
 * _PG_init only defines settings.  Nothing here needs shared memory yet, so
 * the SQL functions work the same with or without shared_preload_libraries.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "access/xact.h"

#include "backend/mana_sync.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

int			mana_max_future_skew_ms = 5 * 60 * 1000;
int			mana_max_changeset_changes = 10000;
int			mana_max_fields_per_change = 1000;
int			mana_max_push_delta = 1000;
bool		mana_hard_delete = false;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("mana_sync.max_future_skew",
							"How far in the future a client timestamp may lie before it is clamped.",
							"Later timestamps are replaced by the server time and reported in the response's warnings.",
							&mana_max_future_skew_ms,
							5 * 60 * 1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_changes",
							"Largest number of changes accepted in one changeset.",
							NULL,
							&mana_max_changeset_changes,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_fields",
							"Largest number of fields accepted in one change.",
							NULL,
							&mana_max_fields_per_change,
							1000, 1, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_push_delta",
							"Largest number of rows returned in serverChanges by mana_apply_changeset.",
							"A larger delta is cut: the response then has hasMore true and the client pulls the rest.",
							&mana_max_push_delta,
							1000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("mana_sync.hard_delete",
							 "Let plain SQL DELETE remove rows of synced tables instead of soft-deleting them.",
							 "Clients are not told of hard-deleted rows; use it to purge old tombstones.",
							 &mana_hard_delete,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	mana_hintring_define_settings();

	/* the push worker exists only when preloaded (its settings are PGC_POSTMASTER) */
	if (process_shared_preload_libraries_in_progress)
	{
		mana_hintring_preload_settings();
		mana_worker_define_settings();
		mana_shmem_init();
		mana_worker_register();
	}

	MarkGUCPrefixReserved("mana_sync");
}

/* ms since 1970 <-> TimestampTz (us since 2000), flooring toward -inf */
int64
mana_ts_to_ms(TimestampTz ts)
{
	int64		us = ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

	if (us >= 0)
		return us / 1000;
	return -((-us + 999) / 1000);
}

TimestampTz
mana_ms_to_ts(int64 ms)
{
	return ms * 1000 - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

int64
mana_now_ms(void)
{
	return mana_ts_to_ms(GetCurrentStatementStartTimestamp());
}

/*
 * The user a call acts for: the explicit argument, else "sub" of the
 * PostgREST claims setting.  Never silently anonymous.
 */
char *
mana_resolve_user(text *user_id)
{
	char	   *user = NULL;

	if (user_id != NULL)
		user = text_to_cstring(user_id);
	else
	{
		const char *claims = GetConfigOption("request.jwt.claims", true, false);

		if (claims != NULL && claims[0] != '\0')
		{
			Jsonb	   *jb;
			JsonbValue	key;
			JsonbValue *sub;

			jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
			if (JB_ROOT_IS_OBJECT(jb))
			{
				key.type = jbvString;
				key.val.string.val = "sub";
				key.val.string.len = 3;
				sub = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
				if (sub != NULL && sub->type == jbvString)
					user = pnstrdup(sub->val.string.val, sub->val.string.len);
			}
		}
		if (user == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("no user to act for"),
					 errdetail("user_id is NULL and request.jwt.claims has no \"sub\" string."),
					 errhint("Pass user_id, or set request.jwt.claims as PostgREST does.")));
	}
	if (user[0] == '\0' || strlen(user) > MANA_MAX_USER_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid user id"),
				 errdetail("A user id is a non-empty string of at most %d bytes.", MANA_MAX_USER_LEN)));
	return user;
}
