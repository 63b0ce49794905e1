/*
 * changeset.c
 *     mana_apply_changeset(changeset jsonb, user_id text) RETURNS jsonb
 *
 * Phases, per call:
 *   1. parse and validate every change (nothing is written before the whole
 *      changeset is known to be well-formed: all or nothing);
 *   2. per table, read the current rows of all ids in one query;
 *   3. merge in memory, field by field, under the LWW rule of lww.h, in
 *      changeset order (several changes of one row fold together);
 *   4. write each table's merged rows in one UPDATE and one INSERT per column
 *      set, guarded by the version read in phase 2 (optimistic: a row that a
 *      concurrent transaction changed meanwhile is read and merged again);
 *   5. read the delta since the changeset's cursor, plus every row this call
 *      touched, and answer {serverChanges, conflicts, syncedUntil}.
 *
 * All SQL runs through SPI as the calling role, so privileges and row level
 * security apply.  Names from the input only select registered tables and
 * their columns; SQL text is built from catalog names, quoted.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/xid8.h"
#include "access/transam.h"
#include "access/xact.h"

#include "core/iso8601.h"
#include "core/lww.h"
#include "changeset.h"
#include "delta.h"
#include "jsonconv.h"

PG_FUNCTION_INFO_V1(mana_apply_changeset);

int			mana_max_future_skew_ms = 5 * 60 * 1000;
int			mana_max_changeset_changes = 10000;
int			mana_max_fields_per_change = 1000;
int			mana_max_push_delta = 1000;

void
mana_changeset_init(void)
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
}

static char *
opt_string(JsonbContainer *root, const char *key, int maxlen)
{
	JsonbValue *v = mana_cs_get_key(root, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid changeset: \"%s\" must be a string", key)));
	if (v->val.string.len > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid changeset: \"%s\" is longer than %d bytes", key, maxlen)));
	return mana_cs_jstr(v);
}

Datum
mana_apply_changeset(PG_FUNCTION_ARGS)
{
	Jsonb	   *cs;
	apply_ctx	cx;
	JsonbValue *changes;
	int			nchanges;
	int			i;
	char	   *since_text;
	mana_cursor since;
	StringInfoData out;
	ListCell   *lc;
	Jsonb	   *result;
	MemoryContext callcxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("changeset must not be null")));
	cs = PG_GETARG_JSONB_P(0);

	memset(&cx, 0, sizeof(cx));
	cx.user = mana_resolve_user(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	cx.now_ms = mana_now_ms();
	cx.max_ms = cx.now_ms + mana_max_future_skew_ms;
	initStringInfo(&cx.warnings);

	if (!JB_ROOT_IS_OBJECT(cs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid changeset: not a JSON object"),
				 errdetail("A changeset is {clientId, appId, since, changes: [...]}.")));
	cx.app_id = opt_string(&cs->root, "appId", 64);
	if (cx.app_id == NULL || cx.app_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid changeset: \"appId\" is missing")));
	cx.client_id = opt_string(&cs->root, "clientId", MANA_MAX_CLIENT_LEN);
	since_text = opt_string(&cs->root, "since", MANA_CURSOR_MAX_LEN);
	mana_parse_since(since_text, &since);

	changes = mana_cs_get_key(&cs->root, "changes");
	if (changes == NULL || changes->type != jbvBinary || !JsonContainerIsArray(changes->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid changeset: \"changes\" must be an array")));
	nchanges = JsonContainerSize(changes->val.binary.data);
	if (nchanges > mana_max_changeset_changes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("changeset has %d changes, more than mana_sync.max_changes (%d)",
						nchanges, mana_max_changeset_changes),
				 errhint("Split it into smaller changesets.")));

	SPI_connect();
	for (i = 0; i < nchanges; i++)
	{
		JsonbValue *cv = getIthJsonbValueFromContainer(changes->val.binary.data, i);

		mana_cs_parse_change(&cx, cv, i);
	}
	if (cx.groups == NIL && mana_app_collections(cx.app_id) == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("unknown app \"%s\"", cx.app_id),
				 errhint("Register its tables with mana_sync_enable().")));

	foreach(lc, cx.groups)
		mana_cs_write_group(&cx, lfirst(lc));

	initStringInfo(&out);
	mana_cs_answer(&cx, &out, &since, since_text);

	MemoryContextSwitchTo(callcxt);
	result = mana_json_finish(&out);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
