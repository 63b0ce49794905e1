/*
 * changeset_merge.c
 *     Phases 2 and 3 of mana_apply_changeset: read the current rows of a
 *     table, then merge the incoming fields into them under per-field LWW
 *     (changeset.h has the phases).
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
#include "jsonconv.h"

/* ---------------------------------------------------------------- reading */

/* Read the current state of the given rows (all of them when rows is NIL). */
void
mana_cs_read_rows(apply_ctx *cx, tbl_group *g, List *rows)
{
	mana_table *t = g->t;
	mana_column *idc = &t->cols[t->id_idx];
	mana_column *ownc = &t->cols[t->owner_idx];
	Datum	   *ids;
	int			n = 0;
	ListCell   *lc;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		args[1];
	char	   *sql;
	int			rc;
	uint64		i;

	ids = palloc(sizeof(Datum) * list_length(rows));
	foreach(lc, rows)
	{
		row_state  *r = lfirst(lc);

		r->exists = false;
		r->tup = NULL;
		ids[n++] = CStringGetTextDatum(r->id);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	sql = psprintf("SELECT t.*, t.%s::text, t.%s::text FROM %s t WHERE t.%s = ANY ($1::%s[])",
				   idc->qname, ownc->qname, t->qualname, idc->qname, format_type_be(idc->typid));
	rc = SPI_execute_with_args(sql, 1, types, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading rows of \"%s\" failed: %s", t->collection, SPI_result_code_string(rc));
	g->desc = SPI_tuptable->tupdesc;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		char	   *id = SPI_getvalue(tup, g->desc, t->ncols + 1);
		char	   *owner = SPI_getvalue(tup, g->desc, t->ncols + 2);
		row_state  *r;
		bool		isnull;
		Datum		d;

		if (id == NULL || strlen(id) > MANA_MAX_ID_LEN)
			continue;
		r = hash_search(g->rows, id, HASH_FIND, NULL);
		if (r == NULL)
			continue;			/* the id's text form differs from what was sent */

		/*
		 * Another user's row.  The error names neither the owner nor any
		 * value; with row level security the row is not even read, and the
		 * insert below fails the same way.
		 */
		if (owner == NULL || strcmp(owner, cx->user) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("row \"%s\" of table \"%s\" cannot be written by this user", r->id, t->collection),
					 errdetail("Change %d of the changeset writes a row the user does not own.", r->first_index)));
		r->exists = true;
		r->tup = tup;
		d = SPI_getbinval(tup, g->desc, t->version_idx + 1, &isnull);
		r->version = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, g->desc, t->xid_idx + 1, &isnull);
		r->prior_xid = isnull ? 0 : U64FromFullTransactionId(DatumGetFullTransactionId(d));
		(void) SPI_getbinval(tup, g->desc, t->deleted_idx + 1, &isnull);
		r->prior_deleted = !isnull;
		d = SPI_getbinval(tup, g->desc, t->field_ts_idx + 1, &isnull);
		r->cur_fts = isnull ? NULL : DatumGetJsonbP(d);
		r->cur_extra = NULL;
		if (t->extra_idx >= 0)
		{
			d = SPI_getbinval(tup, g->desc, t->extra_idx + 1, &isnull);
			r->cur_extra = isnull ? NULL : DatumGetJsonbP(d);
		}
	}
}

/* ---------------------------------------------------------------- merging */

static char *
canon_datum(Datum d, bool isnull, Oid typid)
{
	StringInfoData s;

	initStringInfo(&s);
	mana_json_datum(&s, d, isnull, typid);
	return s.data;
}

static char *
canon_incoming(mana_table *t, in_field *f)
{
	if (f->canon == NULL)
		f->canon = f->col >= 0 ? canon_datum(f->datum, f->isnull, t->cols[f->col].typid)
			: mana_jsonb_value_text(&f->value);
	return f->canon;
}

/* the row's value of a field now: merged so far, else as read */
static char *
canon_current(mana_table *t, row_state *r, tbl_group *g, in_field *f)
{
	int			i;

	if (f->col >= 0)
	{
		bool		isnull = true;
		Datum		d = (Datum) 0;

		if (r->touched[f->col])
			return canon_datum(r->val[f->col], r->valnull[f->col], t->cols[f->col].typid);
		if (r->exists)
			d = SPI_getbinval(r->tup, g->desc, f->col + 1, &isnull);
		return canon_datum(d, isnull, t->cols[f->col].typid);
	}
	for (i = r->nex - 1; i >= 0; i--)
		if (strcmp(r->ex_keys[i], f->key) == 0)
			return mana_jsonb_value_text(&r->ex_vals[i]);
	if (r->cur_extra != NULL && JB_ROOT_IS_OBJECT(r->cur_extra))
	{
		JsonbValue *v = mana_cs_get_key(&r->cur_extra->root, f->key);

		if (v != NULL)
			return mana_jsonb_value_text(v);
	}
	return pstrdup("null");
}

static bool
stored_ts(row_state *r, const char *key, int64 *ms)
{
	int			i;

	for (i = r->nts - 1; i >= 0; i--)
		if (strcmp(r->ts_keys[i], key) == 0)
		{
			*ms = r->ts_ms[i];
			return true;
		}
	if (r->exists && r->cur_fts != NULL && JB_ROOT_IS_OBJECT(r->cur_fts))
	{
		JsonbValue *v = mana_cs_get_key(&r->cur_fts->root, key);

		if (v != NULL && v->type == jbvString &&
			mana_iso8601_parse(v->val.string.val, v->val.string.len, ms) == 0)
			return true;
	}
	return false;
}

static void
grow(row_state *r)
{
	if (r->nts < r->cap && r->nex < r->cap)
		return;
	r->cap = r->cap ? r->cap * 2 : 16;
	if (r->ts_keys == NULL)
	{
		r->ts_keys = palloc(sizeof(char *) * r->cap);
		r->ts_ms = palloc(sizeof(int64) * r->cap);
		r->ex_keys = palloc(sizeof(char *) * r->cap);
		r->ex_vals = palloc(sizeof(JsonbValue) * r->cap);
	}
	else
	{
		r->ts_keys = repalloc(r->ts_keys, sizeof(char *) * r->cap);
		r->ts_ms = repalloc(r->ts_ms, sizeof(int64) * r->cap);
		r->ex_keys = repalloc(r->ex_keys, sizeof(char *) * r->cap);
		r->ex_vals = repalloc(r->ex_vals, sizeof(JsonbValue) * r->cap);
	}
}

static void
add_conflict(mana_table *t, row_state *r, in_field *f, const char *client_val,
			 const char *server_val, bool has_sts, int64 sts)
{
	StringInfo	s = &r->conflicts;

	if (s->len > 0)
		appendStringInfoChar(s, ',');
	appendStringInfoString(s, "{\"table\":");
	mana_json_string(s, t->collection);
	appendStringInfoString(s, ",\"id\":");
	mana_json_string(s, r->id);
	appendStringInfoString(s, ",\"field\":");
	mana_json_string(s, f->name);
	appendStringInfo(s, ",\"clientValue\":%s,\"clientTimestamp\":", client_val);
	mana_json_ts(s, f->ts);
	appendStringInfo(s, ",\"serverValue\":%s,\"serverTimestamp\":", server_val);
	if (has_sts)
		mana_json_ts(s, sts);
	else
		appendStringInfoString(s, "null");
	appendStringInfoChar(s, '}');
}

void
mana_cs_merge_row(tbl_group *g, row_state *r)
{
	mana_table *t = g->t;
	ListCell   *lc;
	int			i;

	r->dirty = !r->exists;		/* a row we have never seen is created */
	r->conflicted = false;
	r->skipped = false;
	r->nts = r->nex = 0;
	if (r->touched == NULL)
	{
		r->touched = palloc(sizeof(bool) * t->ncols);
		r->val = palloc(sizeof(Datum) * t->ncols);
		r->valnull = palloc(sizeof(bool) * t->ncols);
		initStringInfo(&r->conflicts);
	}
	memset(r->touched, 0, sizeof(bool) * t->ncols);
	resetStringInfo(&r->conflicts);

	foreach(lc, r->changes)
	{
		in_change  *ch = lfirst(lc);

		for (i = 0; i < ch->nfields; i++)
		{
			in_field   *f = &ch->fields[i];
			int64		sts = 0;
			bool		has = stored_ts(r, f->key, &sts);
			mana_lww_result res;

			if (mana_lww_cmp_ts(f->ts, has, sts) != 0)
				res = mana_lww_cmp_ts(f->ts, has, sts) > 0 ? MANA_LWW_INCOMING : MANA_LWW_STORED;
			else
			{
				char	   *in = canon_incoming(t, f);
				char	   *st = canon_current(t, r, g, f);

				res = mana_lww_tiebreak(in, strlen(in), st, strlen(st));
			}
			if (res == MANA_LWW_SAME)
				continue;
			if (res == MANA_LWW_STORED)
			{
				add_conflict(t, r, f, canon_incoming(t, f), canon_current(t, r, g, f), has, sts);
				r->conflicted = true;
				continue;
			}
			grow(r);
			r->ts_keys[r->nts] = f->key;
			r->ts_ms[r->nts++] = f->ts;
			if (f->col >= 0)
			{
				r->touched[f->col] = true;
				r->val[f->col] = f->datum;
				r->valnull[f->col] = f->isnull;
			}
			else
			{
				r->ex_keys[r->nex] = f->key;
				r->ex_vals[r->nex++] = f->value;
			}
			r->dirty = true;
		}
	}

	/*
	 * A row created here must satisfy NOT NULL.  For a delete of an id never
	 * seen (a tombstone) that cannot be: skip it and say so; otherwise it is
	 * the client's error, named here rather than by the INSERT.
	 */
	if (!r->exists)
	{
		for (i = 0; i < t->ncols; i++)
		{
			mana_column *c = &t->cols[i];

			if (c->role != MANA_COL_FIELD || !c->notnull || c->hasdefault)
				continue;
			if (r->touched[i] && !r->valnull[i])
				continue;
			if (r->only_deletes)
			{
				r->skipped = true;
				r->dirty = false;
				return;
			}
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("field \"%s\" of table \"%s\" is required", c->field, t->collection),
					 errdetail("Change %d of the changeset creates row \"%s\" without a value for field \"%s\".",
							   r->first_index, r->id, c->field)));
		}
	}
}
