/*
 * delta.c
 *     The commit-safe delta: which rows of a user a client has not seen
 *     yet.  mana_pull (pull.c) answers with it, and so does
 *     mana_apply_changeset (changeset_answer.c).
 *
 * Every write stamps the row with its transaction (sync_xid).  A cursor
 * carries the snapshot taken before the previous delta was read; the next
 * delta is every row of the user whose sync_xid is not visible in that
 * snapshot.  A transaction that was still running then is in the snapshot's
 * xip list, so it is delivered once it commits, whatever the commit order.
 * Taking the snapshot before the scan can only cause duplicates, never gaps.
 *
 * A delta cut at max_changes is ordered by (sync_xid, id); the cursor then
 * also carries the snapshot of the first page and the last row sent.  When
 * the last page is done, the first page's snapshot becomes the new base:
 * rows that committed while the client paged are sent again next time,
 * never lost.
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

static void *
palloc_cb(size_t n)
{
	return palloc(n);
}

void
mana_parse_since(const char *since, mana_cursor *out)
{
	size_t		len;

	memset(out, 0, sizeof(*out));
	if (since == NULL || since[0] == '\0')
	{
		out->ts_ms = 0;			/* everything */
		return;
	}
	len = strlen(since);
	if (len > MANA_CURSOR_MAX_LEN || mana_cursor_decode(since, len, out, palloc_cb) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sync cursor"),
				 errdetail("A cursor is an ISO-8601 timestamp, optionally followed by '#' and a token this server issued.")));
}

char *
mana_cursor_text(const mana_cursor *c)
{
	size_t		need = mana_cursor_encode(c, NULL, 0);
	char	   *buf;

	if (need == 0)
		elog(ERROR, "could not encode a sync cursor");
	buf = palloc(need + 1);
	mana_cursor_encode(c, buf, need + 1);
	return buf;
}

void
mana_take_snapshot(mana_delta_state *st)
{
	int			rc = SPI_execute("SELECT pg_catalog.pg_current_snapshot()::text", false, 1);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the current snapshot");
	st->snap_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (mana_snapshot_parse(st->snap_text, strlen(st->snap_text), &st->snap, palloc_cb) != 0)
		elog(ERROR, "unexpected snapshot \"%s\"", st->snap_text);
	st->snap_ms = mana_ts_to_ms(GetCurrentTimestamp());
}

static char *
snap_text(const mana_snapshot *s)
{
	size_t		need = mana_snapshot_format(s, NULL, 0);
	char	   *buf = palloc(need + 1);

	mana_snapshot_format(s, buf, need + 1);
	return buf;
}

/* field timestamp from field_timestamps, or the epoch when never stamped */
static void
emit_field_ts(StringInfo out, Jsonb *fts, const char *key)
{
	JsonbValue	k;
	JsonbValue *v = NULL;
	int64		ms = 0;

	if (fts != NULL && JB_ROOT_IS_OBJECT(fts))
	{
		k.type = jbvString;
		k.val.string.val = (char *) key;
		k.val.string.len = strlen(key);
		v = findJsonbValueFromContainer(&fts->root, JB_FOBJECT, &k);
	}
	if (v != NULL && v->type == jbvString)
		(void) mana_iso8601_parse(v->val.string.val, v->val.string.len, &ms);
	appendStringInfoString(out, ",\"updatedAt\":");
	mana_json_ts(out, ms);
	appendStringInfoString(out, ",\"at\":");
	mana_json_ts(out, ms);
}

/*
 * One row (the table's columns in order, as SPI returned them) as a
 * change.  Long (about 115 lines) for a reason: one pass over the columns
 * writes "data" and "fields" together, with each value converted once.
 */
static void
emit_row(StringInfo out, mana_table *t, HeapTuple tup, TupleDesc desc, const char *idtext)
{
	bool		isnull;
	Datum		d;
	Jsonb	   *fts = NULL;
	Jsonb	   *extra = NULL;
	int			i;
	bool		firstf = true;
	StringInfoData data;

	appendStringInfoString(out, "{\"table\":");
	escape_json(out, t->collection);
	appendStringInfoString(out, ",\"id\":");
	escape_json(out, idtext);

	d = SPI_getbinval(tup, desc, t->deleted_idx + 1, &isnull);
	if (!isnull)
	{
		appendStringInfoString(out, ",\"op\":\"delete\",\"deletedAt\":");
		mana_json_datum(out, d, false, TIMESTAMPTZOID);
		appendStringInfoChar(out, '}');
		return;
	}

	d = SPI_getbinval(tup, desc, t->field_ts_idx + 1, &isnull);
	if (!isnull)
		fts = DatumGetJsonbP(d);
	if (t->extra_idx >= 0)
	{
		d = SPI_getbinval(tup, desc, t->extra_idx + 1, &isnull);
		if (!isnull)
			extra = DatumGetJsonbP(d);
	}

	initStringInfo(&data);
	appendStringInfoString(&data, "{\"id\":");
	escape_json(&data, idtext);
	appendStringInfoString(out, ",\"op\":\"update\",\"fields\":{");
	for (i = 0; i < t->ncols; i++)
	{
		mana_column *c = &t->cols[i];

		switch (c->role)
		{
			case MANA_COL_FIELD:
			case MANA_COL_SKIP:
			case MANA_COL_OWNER:
			case MANA_COL_DELETED_AT:
			case MANA_COL_UPDATED_AT:
				d = SPI_getbinval(tup, desc, i + 1, &isnull);
				appendStringInfoChar(&data, ',');
				escape_json(&data, c->field);
				appendStringInfoChar(&data, ':');
				mana_json_col(&data, d, isnull, c);
				if (c->role != MANA_COL_FIELD && c->role != MANA_COL_DELETED_AT)
					break;
				if (c->role == MANA_COL_DELETED_AT && fts != NULL)
				{
					JsonbValue	k;

					k.type = jbvString;
					k.val.string.val = c->field;
					k.val.string.len = strlen(c->field);
					if (findJsonbValueFromContainer(&fts->root, JB_FOBJECT, &k) == NULL)
						break;
				}
				else if (c->role == MANA_COL_DELETED_AT)
					break;
				if (!firstf)
					appendStringInfoChar(out, ',');
				firstf = false;
				escape_json(out, c->field);
				appendStringInfoString(out, ":{\"value\":");
				mana_json_col(out, d, isnull, c);
				emit_field_ts(out, fts, c->field);
				appendStringInfoChar(out, '}');
				break;
			default:
				break;
		}
	}
	if (extra != NULL && JB_ROOT_IS_OBJECT(extra))
	{
		JsonbIterator *it = JsonbIteratorInit(&extra->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			char	   *key;
			char	   *val;

			if (tok != WJB_KEY)
				continue;
			key = pnstrdup(v.val.string.val, v.val.string.len);
			(void) JsonbIteratorNext(&it, &v, true);
			if (mana_table_find_field(t, key) >= 0)
				continue;		/* a column's name: the column wins */
			val = mana_jsonb_value_text(&v);
			appendStringInfoChar(&data, ',');
			escape_json(&data, key);
			appendStringInfoChar(&data, ':');
			appendStringInfoString(&data, val);
			if (!firstf)
				appendStringInfoChar(out, ',');
			firstf = false;
			escape_json(out, key);
			appendStringInfoString(out, ":{\"value\":");
			appendStringInfoString(out, val);
			emit_field_ts(out, fts, key);
			appendStringInfoChar(out, '}');
		}
	}
	appendStringInfoString(out, "},\"data\":");
	appendBinaryStringInfo(out, data.data, data.len);
	appendStringInfoString(out, "}}");
	pfree(data.data);
}

static void
emit_rows(StringInfo out, bool *first, mana_table *t, uint64 nrows, int limit,
		  uint64 *last_xid, char **last_id, HTAB *emitted)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		i;

	for (i = 0; i < nrows && (limit < 0 || i < (uint64) limit); i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		char	   *idtext = SPI_getvalue(tup, desc, t->ncols + 2);

		if (!*first)
			appendStringInfoChar(out, ',');
		*first = false;
		emit_row(out, t, tup, desc, idtext);
		if (emitted != NULL && strlen(idtext) <= MANA_MAX_ID_LEN)
			(void) hash_search(emitted, idtext, HASH_ENTER, NULL);
		if (last_xid != NULL)
		{
			char	   *x = SPI_getvalue(tup, desc, t->ncols + 1);

			*last_xid = strtou64(x, NULL, 10);
			*last_id = idtext;
		}
	}
}

int
mana_delta_rows(StringInfo out, bool *first, mana_table *t, const char *user,
				const mana_cursor *since, int limit,
				uint64 *last_xid, char **last_id, HTAB *emitted, Datum exclude_ids)
{
	StringInfoData sql;
	Oid			types[7];
	Datum		args[7];
	int			n = 0;
	int			rc;
	mana_column *owner = &t->cols[t->owner_idx];
	mana_column *id = &t->cols[t->id_idx];
	char		buf[32];

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT t.*, t.sync_xid::text, t.%s::text FROM %s t WHERE t.%s = $1::%s",
					 id->qname, t->qualname, owner->qname, owner->typname);
	types[n] = TEXTOID;
	args[n++] = CStringGetTextDatum(user);
	if (since->has_snap)
	{
		snprintf(buf, sizeof(buf), UINT64_FORMAT, (uint64) since->snap.xmin);
		appendStringInfo(&sql, " AND t.sync_xid >= $%d::xid8 AND NOT pg_catalog.pg_visible_in_snapshot(t.sync_xid, $%d::pg_snapshot)",
						 n + 1, n + 2);
		types[n] = TEXTOID;
		args[n++] = CStringGetTextDatum(buf);
		types[n] = TEXTOID;
		args[n++] = CStringGetTextDatum(snap_text(&since->snap));
	}
	else
	{
		appendStringInfo(&sql, " AND t.updated_at >= $%d", n + 1);
		types[n] = TIMESTAMPTZOID;
		args[n++] = TimestampTzGetDatum(mana_ms_to_ts(since->ts_ms));
	}
	if (since->has_page)
	{
		snprintf(buf, sizeof(buf), UINT64_FORMAT, (uint64) since->last_xid);
		appendStringInfo(&sql, " AND (t.sync_xid, t.%s) > ($%d::xid8, $%d::%s)",
						 id->qname, n + 1, n + 2, id->typname);
		types[n] = TEXTOID;
		args[n++] = CStringGetTextDatum(buf);
		types[n] = TEXTOID;
		args[n++] = CStringGetTextDatum(since->last_id);
	}
	if (exclude_ids != (Datum) 0)
	{
		/* rows the caller knows the client has already */
		appendStringInfo(&sql, " AND t.%s <> ALL ($%d::text[]::%s[])", id->qname, n + 1,
						 format_type_be(id->typid));
		types[n] = TEXTARRAYOID;
		args[n++] = exclude_ids;
	}
	appendStringInfo(&sql, " ORDER BY t.sync_xid, t.%s LIMIT $%d", id->qname, n + 1);
	types[n] = INT8OID;
	args[n++] = Int64GetDatum((int64) limit + 1);

	rc = SPI_execute_with_args(sql.data, n, types, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "delta query failed: %s", SPI_result_code_string(rc));
	emit_rows(out, first, t, SPI_processed, limit, last_xid, last_id, emitted);
	return (int) SPI_processed;
}

/* the current state of the given rows of user (ids as text) */
int
mana_rows_by_id(StringInfo out, bool *first, mana_table *t, const char *user, List *ids)
{
	char	   *sql;
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		args[2];
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;
	int			rc;
	mana_column *owner = &t->cols[t->owner_idx];
	mana_column *id = &t->cols[t->id_idx];

	if (ids == NIL)
		return 0;
	elems = palloc(sizeof(Datum) * list_length(ids));
	foreach(lc, ids)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	args[0] = CStringGetTextDatum(user);
	args[1] = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
	sql = psprintf("SELECT t.*, t.sync_xid::text, t.%s::text FROM %s t "
				   "WHERE t.%s = $1::%s AND t.%s = ANY ($2::%s[])",
				   id->qname, t->qualname, owner->qname, owner->typname, id->qname,
				   format_type_be(id->typid));
	rc = SPI_execute_with_args(sql, 2, types, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "row query failed: %s", SPI_result_code_string(rc));
	emit_rows(out, first, t, SPI_processed, -1, NULL, NULL, NULL);
	return (int) SPI_processed;
}

/*
 * A paged cursor's last id is "<length of collection>:<collection><id>", so
 * a page position is never applied to another collection's rows.  On a
 * match, c->last_id is left pointing at the id.
 */
