/*
 * pull.c
 *     mana_pull(app_id, collection, since, user_id, client_id, max_changes):
 *     the delta of one collection since a cursor, paged (delta.c builds it;
 *     its header comment says why it is commit-safe).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "core/b64url.h"
#include "core/iso8601.h"
#include "delta.h"
#include "jsonconv.h"
#include "request.h"

PG_FUNCTION_INFO_V1(mana_pull);

static bool
mana_page_owner_matches(mana_cursor *c, const char *collection)
{
	char	   *end;
	unsigned long n = strtoul(c->last_id, &end, 10);
	size_t		clen = strlen(collection);

	if (end == c->last_id || *end != ':' || n != clen ||
		strlen(end + 1) <= clen || strncmp(end + 1, collection, clen) != 0)
		return false;
	c->last_id = end + 1 + clen;
	c->last_id_len = strlen(c->last_id);
	return true;
}

static char *
arg_text(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * mana_pull(app_id, collection, since, user_id, client_id, max_changes)
 *
 * client_id is accepted for the protocol's sake and checked, but does not
 * filter: a row the client wrote last may since have merged another
 * device's fields, so it is never left out.
 */
Datum
mana_pull(PG_FUNCTION_ARGS)
{
	char	   *app_id = arg_text(fcinfo, 0, "app_id");
	char	   *collection = arg_text(fcinfo, 1, "collection");
	char	   *since_text = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	text	   *user_arg = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	int			max_changes = PG_ARGISNULL(5) ? 1000 : PG_GETARG_INT32(5);
	char	   *user;
	mana_table *t;
	mana_cursor since;
	mana_delta_state st;
	mana_snapshot page;
	StringInfoData out;
	bool		first = true;
	int			fetched;
	uint64		last_xid = 0;
	char	   *last_id = NULL;
	mana_cursor next;
	Jsonb	   *result;
	MemoryContext callcxt = CurrentMemoryContext;

	if (!PG_ARGISNULL(4) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(4)) > MANA_MAX_CLIENT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id is longer than %d bytes", MANA_MAX_CLIENT_LEN)));
	if (max_changes < 1 || max_changes > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes must be between 1 and 100000")));
	user = mana_resolve_user(user_arg);
	mana_parse_since(since_text, &since);

	SPI_connect();
	t = mana_table_lookup(app_id, collection, false);

	memset(&st, 0, sizeof(st));
	if (since.has_page)
		page = since.page;
	else
	{
		mana_take_snapshot(&st);
		page = st.snap;
	}

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"serverChanges\":[");
	if (since.has_page && !mana_page_owner_matches(&since, collection))
		since.has_page = false; /* another collection's page: restart from its base */
	fetched = mana_delta_rows(&out, &first, t, user, &since, max_changes,
							  &last_xid, &last_id, NULL, (Datum) 0);

	memset(&next, 0, sizeof(next));
	next.ts_ms = mana_ts_to_ms(GetCurrentTimestamp());
	if (fetched > max_changes)
	{
		next.has_snap = since.has_snap;
		next.snap = since.snap;
		if (!since.has_snap)
			next.ts_ms = since.ts_ms;	/* the timestamp base travels in the prefix */
		next.has_page = true;
		next.page = page;
		next.last_xid = last_xid;
		next.last_id = psprintf("%zu:%s%s", strlen(collection), collection, last_id);
		next.last_id_len = strlen(next.last_id);
	}
	else
	{
		next.has_snap = true;
		next.snap = page;
	}
	appendStringInfoString(&out, "],\"conflicts\":[],\"syncedUntil\":");
	escape_json(&out, mana_cursor_text(&next));
	appendStringInfo(&out, ",\"hasMore\":%s}", fetched > max_changes ? "true" : "false");

	MemoryContextSwitchTo(callcxt);
	result = mana_json_finish(&out);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
