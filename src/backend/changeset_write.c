/*
 * changeset_write.c
 *     Phase 4 of mana_apply_changeset: write the merged rows, in batches,
 *     guarded by the version read; rows changed meanwhile go round again
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
#include "trigger.h"

#define MAX_WRITE_ROUNDS 10

/* ---------------------------------------------------------------- writing */

static Jsonb *
merged_fts(row_state *r)
{
	JsonbValue *vals = palloc(sizeof(JsonbValue) * Max(r->nts, 1));
	int			i;

	for (i = 0; i < r->nts; i++)
		mana_jbv_ts(&vals[i], r->ts_ms[i]);
	return mana_jsonb_set_pairs(r->exists ? r->cur_fts : NULL, r->nts, r->ts_keys, vals);
}

/* the merged value of a column (extra: the merged object) */
static Datum
merged_value(mana_table *t, row_state *r, int col, bool *isnull)
{
	if (col == t->extra_idx)
	{
		*isnull = false;
		return JsonbPGetDatum(mana_jsonb_set_pairs(r->exists ? r->cur_extra : NULL, r->nex,
												   r->ex_keys, r->ex_vals));
	}
	*isnull = r->valnull[col];
	return r->val[col];
}

static bool
col_touched(mana_table *t, row_state *r, int col)
{
	return (col == t->extra_idx) ? r->nex > 0 : r->touched[col];
}

static ArrayType *
text_array(char **vals, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = vals[i] == NULL;
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(vals[i]);
	}
	return construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

typedef struct write_batch
{
	int			nrows;
	row_state **rows;
	int			nparams;
	Oid		   *types;
	Datum	   *args;
	char	   *nulls;			/* SPI style: 'n' for NULL, ' ' otherwise */
	StringInfoData sql;
} write_batch;

static void
batch_init(write_batch *b, List *rows, int maxparams)
{
	ListCell   *lc;

	b->nrows = 0;
	b->rows = palloc(sizeof(row_state *) * Max(list_length(rows), 1));
	foreach(lc, rows)
		b->rows[b->nrows++] = lfirst(lc);
	b->nparams = 0;
	b->types = palloc(sizeof(Oid) * maxparams);
	b->args = palloc(sizeof(Datum) * maxparams);
	b->nulls = palloc(maxparams + 1);
	initStringInfo(&b->sql);
}

static int
batch_param(write_batch *b, Oid type, Datum value)
{
	b->types[b->nparams] = type;
	b->args[b->nparams] = value;
	b->nulls[b->nparams] = ' ';
	return ++b->nparams;
}

static int
batch_text_param(write_batch *b, const char *value)
{
	int			n = batch_param(b, TEXTOID, value ? CStringGetTextDatum(value) : (Datum) 0);

	if (value == NULL)
		b->nulls[n - 1] = 'n';
	return n;
}

/*
 * One parameter with the values of column col for every row of the batch
 * (NULL where the row does not set it).  Plain scalar types travel as a
 * typed array; arrays and domains as text, cast in SQL (*cast set).
 */
static int
batch_column(write_batch *b, mana_table *t, int col, bool *cast)
{
	mana_column *c = &t->cols[col];
	Datum	   *vals = palloc(sizeof(Datum) * Max(b->nrows, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(b->nrows, 1));
	int			dims[1] = {b->nrows};
	int			lbs[1] = {1};
	int			k;

	*cast = (c->param_type == TEXTARRAYOID);
	for (k = 0; k < b->nrows; k++)
	{
		vals[k] = (Datum) 0;
		nulls[k] = true;
		if (col_touched(t, b->rows[k], col))
			vals[k] = merged_value(t, b->rows[k], col, &nulls[k]);
		if (*cast && !nulls[k])
			vals[k] = CStringGetTextDatum(OutputFunctionCall(&c->outfunc, vals[k]));
	}
	if (*cast)
		return batch_param(b, TEXTARRAYOID,
						   PointerGetDatum(construct_md_array(vals, nulls, 1, dims, lbs, TEXTOID,
															  -1, false, TYPALIGN_INT)));
	return batch_param(b, c->param_type,
					   PointerGetDatum(construct_md_array(vals, nulls, 1, dims, lbs, c->typid,
														  c->typlen, c->typbyval, c->typalign)));
}

static void
batch_common_arrays(write_batch *b, int *p_ids, int *p_fts)
{
	Datum	   *fts = palloc(sizeof(Datum) * Max(b->nrows, 1));
	char	  **ids = palloc(sizeof(char *) * Max(b->nrows, 1));
	int			i;

	for (i = 0; i < b->nrows; i++)
	{
		ids[i] = b->rows[i]->id;
		fts[i] = JsonbPGetDatum(merged_fts(b->rows[i]));
	}
	*p_ids = batch_param(b, TEXTARRAYOID, PointerGetDatum(text_array(ids, b->nrows)));
	*p_fts = batch_param(b, JSONBARRAYOID,
						 PointerGetDatum(construct_array(fts, b->nrows, JSONBOID, -1, false, TYPALIGN_INT)));
}

/* run a batch; rows it did not write are appended to *retry */
static void
batch_run(tbl_group *g, write_batch *b, List **retry)
{
	int			rc;
	HTAB	   *done;
	HASHCTL		ctl;
	uint64		i;
	int			j;

	rc = SPI_execute_with_args(b->sql.data, b->nparams, b->types, b->args, b->nulls, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING && rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "writing \"%s\" failed: %s", g->t->collection, SPI_result_code_string(rc));
	if (SPI_processed == (uint64) b->nrows)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MANA_MAX_ID_LEN + 1;
	ctl.entrysize = MANA_MAX_ID_LEN + 1;
	ctl.hcxt = CurrentMemoryContext;
	done = hash_create("mana_sync written", Max(SPI_processed, 16), &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (id != NULL && strlen(id) <= MANA_MAX_ID_LEN)
			(void) hash_search(done, id, HASH_ENTER, NULL);
	}
	for (j = 0; j < b->nrows; j++)
		if (hash_search(done, b->rows[j]->id, HASH_FIND, NULL) == NULL)
			*retry = lappend(*retry, b->rows[j]);
}

static void
write_updates(apply_ctx *cx, tbl_group *g, List *rows, List **retry)
{
	mana_table *t = g->t;
	mana_column *idc = &t->cols[t->id_idx];
	write_batch b;
	int			p_ids;
	int			p_fts;
	int			p_ver;
	int			p_client;
	int			col;
	int			k;
	Datum	   *vers;
	StringInfoData sets;
	StringInfoData from;
	StringInfoData alias;

	batch_init(&b, rows, 4 + 2 * t->ncols);
	batch_common_arrays(&b, &p_ids, &p_fts);
	vers = palloc(sizeof(Datum) * b.nrows);
	for (k = 0; k < b.nrows; k++)
		vers[k] = Int32GetDatum(b.rows[k]->version);
	p_ver = batch_param(&b, INT4ARRAYOID,
						PointerGetDatum(construct_array(vers, b.nrows, INT4OID, 4, true, TYPALIGN_INT)));
	p_client = batch_text_param(&b, cx->client_id);

	initStringInfo(&sets);
	initStringInfo(&from);
	initStringInfo(&alias);
	appendStringInfo(&sets, "field_timestamps = u.fts, client_id = $%d::text", p_client);
	appendStringInfo(&from, "$%d::text[], $%d::jsonb[], $%d::int4[]", p_ids, p_fts, p_ver);
	appendStringInfoString(&alias, "id, fts, ver");

	for (col = 0; col < t->ncols; col++)
	{
		bool		any = false;
		Datum	   *md;
		int			pm;
		int			pv;
		bool		cast;

		for (k = 0; k < b.nrows && !any; k++)
			any = col_touched(t, b.rows[k], col);
		if (!any)
			continue;
		md = palloc(sizeof(Datum) * b.nrows);
		for (k = 0; k < b.nrows; k++)
			md[k] = BoolGetDatum(col_touched(t, b.rows[k], col));
		pm = batch_param(&b, BOOLARRAYOID,
						 PointerGetDatum(construct_array(md, b.nrows, BOOLOID, 1, true, TYPALIGN_CHAR)));
		pv = batch_column(&b, t, col, &cast);
		appendStringInfo(&sets, ", %s = CASE WHEN u.m%d THEN u.v%d%s%s ELSE t.%s END",
						 t->cols[col].qname, col, col, cast ? "::" : "", cast ? t->cols[col].typname : "",
						 t->cols[col].qname);
		appendStringInfo(&from, ", $%d::bool[], $%d", pm, pv);
		appendStringInfo(&alias, ", m%d, v%d", col, col);
	}
	appendStringInfo(&b.sql,
					 "UPDATE %s AS t SET %s FROM unnest(%s) AS u(%s) "
					 "WHERE t.%s = u.id::%s AND t.version = u.ver RETURNING t.%s::text",
					 t->qualname, sets.data, from.data, alias.data,
					 idc->qname, idc->typname, idc->qname);
	batch_run(g, &b, retry);
}

static void
write_inserts(apply_ctx *cx, tbl_group *g, List *rows, List **retry)
{
	mana_table *t = g->t;
	mana_column *idc = &t->cols[t->id_idx];
	mana_column *ownc = &t->cols[t->owner_idx];
	write_batch b;
	int			p_ids;
	int			p_fts;
	int			p_owner;
	int			p_client;
	int			col;
	StringInfoData cols;
	StringInfoData sel;
	StringInfoData from;
	StringInfoData alias;
	row_state  *r0 = linitial(rows);

	batch_init(&b, rows, 4 + t->ncols);
	batch_common_arrays(&b, &p_ids, &p_fts);
	p_owner = batch_text_param(&b, cx->user);
	p_client = batch_text_param(&b, cx->client_id);

	initStringInfo(&cols);
	initStringInfo(&sel);
	initStringInfo(&from);
	initStringInfo(&alias);
	appendStringInfo(&cols, "%s, %s, field_timestamps, client_id", idc->qname, ownc->qname);
	appendStringInfo(&sel, "u.id::%s, $%d::%s, u.fts, $%d::text", idc->typname, p_owner,
					 ownc->typname, p_client);
	appendStringInfo(&from, "$%d::text[], $%d::jsonb[]", p_ids, p_fts);
	appendStringInfoString(&alias, "id, fts");

	/* every row of one batch has the same column set (see write_all) */
	for (col = 0; col < t->ncols; col++)
	{
		int			pv;
		bool		cast;

		if (!col_touched(t, r0, col))
			continue;
		pv = batch_column(&b, t, col, &cast);
		appendStringInfo(&cols, ", %s", t->cols[col].qname);
		appendStringInfo(&sel, ", u.v%d%s%s", col, cast ? "::" : "", cast ? t->cols[col].typname : "");
		appendStringInfo(&from, ", $%d", pv);
		appendStringInfo(&alias, ", v%d", col);
	}
	appendStringInfo(&b.sql,
					 "INSERT INTO %s AS t (%s) SELECT %s FROM unnest(%s) AS u(%s) "
					 "ON CONFLICT (%s) DO NOTHING RETURNING t.%s::text",
					 t->qualname, cols.data, sel.data, from.data, alias.data,
					 idc->qname, idc->qname);
	batch_run(g, &b, retry);
}

/* which columns a new row sets, as a string: rows with equal keys share an INSERT */
static char *
colset_key(mana_table *t, row_state *r)
{
	char	   *k = palloc(t->ncols + 1);
	int			i;

	for (i = 0; i < t->ncols; i++)
		k[i] = col_touched(t, r, i) ? '1' : '0';
	k[t->ncols] = '\0';
	return k;
}

/*
 * The trigger keeps the client timestamps of rows written here
 * (mana_apply_relid); reset it whatever happens.
 */
static void
write_all(apply_ctx *cx, tbl_group *g, List *updates, List *inserts, List **retry)
{
	if (updates != NIL)
		write_updates(cx, g, updates, retry);
	while (inserts != NIL)
	{
		char	   *key = colset_key(g->t, linitial(inserts));
		List	   *same = NIL;
		List	   *rest = NIL;
		ListCell   *lc;

		foreach(lc, inserts)
		{
			if (strcmp(colset_key(g->t, lfirst(lc)), key) == 0)
				same = lappend(same, lfirst(lc));
			else
				rest = lappend(rest, lfirst(lc));
		}
		write_inserts(cx, g, same, retry);
		inserts = rest;
	}
}

static void
write_batches(apply_ctx *cx, tbl_group *g, List *updates, List *inserts, List **retry)
{
	mana_apply_relid = g->t->relid;
	PG_TRY();
	{
		write_all(cx, g, updates, inserts, retry);
	}
	PG_FINALLY();
	{
		mana_apply_relid = InvalidOid;
	}
	PG_END_TRY();
}

void
mana_cs_write_group(apply_ctx *cx, tbl_group *g)
{
	List	   *pending = g->order;
	int			round;

	for (round = 0; pending != NIL; round++)
	{
		List	   *updates = NIL;
		List	   *inserts = NIL;
		List	   *retry = NIL;
		ListCell   *lc;

		if (round == MAX_WRITE_ROUNDS)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("rows of table \"%s\" kept changing while the changeset was applied",
							g->t->collection),
					 errhint("Retry the changeset.")));
		mana_cs_read_rows(cx, g, pending);
		foreach(lc, pending)
		{
			row_state  *r = lfirst(lc);

			mana_cs_merge_row(g, r);
			if (!r->dirty)
				continue;
			if (r->exists)
				updates = lappend(updates, r);
			else
				inserts = lappend(inserts, r);
		}

		write_batches(cx, g, updates, inserts, &retry);

		/*
		 * A row in retry was changed (or inserted) by a transaction that
		 * committed after we read it.  Read it again and merge afresh: that
		 * is the same as applying this changeset after the other one.  If
		 * the row is another user's and hidden by row level security,
		 * read_rows finds nothing and the insert conflicts again; after a
		 * round with no progress we say so.
		 */
		if (retry != NIL && round > 0 && list_length(retry) == list_length(pending))
		{
			row_state  *r = linitial(retry);

			foreach(lc, retry)
			{
				r = lfirst(lc);
				if (!r->exists)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("row \"%s\" of table \"%s\" cannot be written by this user",
									r->id, g->t->collection),
							 errdetail("Change %d of the changeset writes a row the user does not own.",
									   r->first_index)));
			}
		}
		pending = retry;
	}
}
