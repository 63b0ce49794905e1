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
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/xid8.h"
#include "access/transam.h"
#include "access/xact.h"

#include "core/iso8601.h"
#include "core/lww.h"
#include "mana_sync.h"

PG_FUNCTION_INFO_V1(mana_apply_changeset);

#define OP_INSERT 1
#define OP_UPDATE 2
#define OP_DELETE 3

#define MAX_WRITE_ROUNDS 10

typedef struct in_field
{
	char	   *name;			/* the field as the client named it */
	char	   *key;			/* field_timestamps key: camelCase column, or the extra key */
	int			col;			/* index in t->cols; -1: a key of extra */
	JsonbValue	value;
	Datum		datum;
	bool		isnull;
	int64		ts;				/* after clamping */
	char	   *canon;			/* canonical JSON, on demand */
} in_field;

typedef struct in_change
{
	int			index;
	int			op;
	int			nfields;
	int			cap;
	in_field   *fields;
} in_change;

typedef struct row_state
{
	char		id[MANA_MAX_ID_LEN + 1];	/* hash key: keep first */
	List	   *changes;		/* in_change *, changeset order */
	int			first_index;
	bool		only_deletes;
	/* as read */
	bool		exists;
	int32		version;
	uint64		prior_xid;		/* sync_xid of the row as read */
	bool		prior_deleted;	/* deleted_at was set as read */
	bool		known;			/* after the write, the client holds exactly this row */
	HeapTuple	tup;
	Jsonb	   *cur_fts;
	Jsonb	   *cur_extra;
	/* merged */
	bool		dirty;
	bool		conflicted;
	bool		skipped;
	bool	   *touched;
	Datum	   *val;
	bool	   *valnull;
	int			nts;
	char	  **ts_keys;
	int64	   *ts_ms;
	int			nex;
	char	  **ex_keys;
	JsonbValue *ex_vals;
	int			cap;
	StringInfoData conflicts;	/* conflict objects, comma-joined */
} row_state;

typedef struct tbl_group
{
	mana_table *t;
	HTAB	   *rows;
	List	   *order;			/* row_state *, first appearance */
	TupleDesc	desc;			/* of the last row read */
} tbl_group;

typedef struct apply_ctx
{
	char	   *user;
	char	   *app_id;
	char	   *client_id;
	int64		now_ms;
	int64		max_ms;
	List	   *groups;
	StringInfoData warnings;
	bool		any_warning;
} apply_ctx;

/* ---------------------------------------------------------------- parsing */

static void
bad_change(int index, const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid change: %s", msg),
			 errdetail("Change %d of the changeset: %s", index, detail)));
}

static JsonbValue *
get_key(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

static bool
is_object(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static char *
jstr(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int64
parse_ts(JsonbValue *v, int index, const char *field)
{
	int64		ms;

	if (v == NULL || v->type != jbvString ||
		mana_iso8601_parse(v->val.string.val, v->val.string.len, &ms) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid timestamp for field \"%s\"", field),
				 errdetail("Change %d of the changeset: %s.", index,
						   v == NULL ? "the field has no timestamp (\"updatedAt\" or \"at\")" :
						   "timestamps are ISO-8601 strings as toISOString() writes them")));
	return ms;
}

static int64
clamp_ts(apply_ctx *cx, mana_table *t, const char *id, const char *field, int64 ts)
{
	if (ts <= cx->max_ms)
		return ts;
	if (cx->any_warning)
		appendStringInfoChar(&cx->warnings, ',');
	cx->any_warning = true;
	appendStringInfoString(&cx->warnings, "{\"type\":\"clockSkew\",\"table\":");
	mana_json_string(&cx->warnings, t->collection);
	appendStringInfoString(&cx->warnings, ",\"id\":");
	mana_json_string(&cx->warnings, id);
	appendStringInfoString(&cx->warnings, ",\"field\":");
	mana_json_string(&cx->warnings, field);
	appendStringInfoString(&cx->warnings, ",\"requested\":");
	mana_json_ts(&cx->warnings, ts);
	appendStringInfoString(&cx->warnings, ",\"applied\":");
	mana_json_ts(&cx->warnings, cx->now_ms);
	appendStringInfoChar(&cx->warnings, '}');
	return cx->now_ms;
}

/* a name the client may not write: id, owner and the sync columns */
static mana_column *
managed_column(mana_table *t, const char *name)
{
	int			i;

	for (i = 0; i < t->ncols; i++)
	{
		mana_column *c = &t->cols[i];

		if (c->role == MANA_COL_FIELD || c->role == MANA_COL_DELETED_AT ||
			c->role == MANA_COL_EXTRA)
			continue;
		if (strcmp(name, c->field) == 0 || strcmp(name, c->name) == 0)
			return c;
	}
	return NULL;
}

static void
add_field(apply_ctx *cx, mana_table *t, const char *id, in_change *ch,
		  char *name, JsonbValue *value, int64 ts)
{
	int			col = mana_table_find_field(t, name);
	in_field   *f;
	int			i;

	if (ch->nfields >= mana_max_fields_per_change)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many fields in one change"),
				 errdetail("Change %d of the changeset has more than %d fields (mana_sync.max_fields).",
						   ch->index, mana_max_fields_per_change)));
	if (col < 0)
	{
		mana_column *m = managed_column(t, name);

		if (m != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of table \"%s\" cannot be set by a change", name, t->collection),
					 errdetail("Change %d of the changeset sets field \"%s\", which %s.", ch->index, name,
							   m->role == MANA_COL_SKIP ? "is a generated column" : "mana_sync manages")));
		if (t->extra_idx < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("unknown field \"%s\" for table \"%s\"", name, t->collection),
					 errdetail("Change %d of the changeset sets a field that maps to no column.", ch->index),
					 errhint("Add the column, or a jsonb column \"extra\" to keep unknown fields.")));
	}

	/* the same column or key twice in one change: the later one counts */
	f = NULL;
	for (i = 0; i < ch->nfields; i++)
	{
		if (ch->fields[i].col == col &&
			(col >= 0 || strcmp(ch->fields[i].key, name) == 0))
		{
			f = &ch->fields[i];
			break;
		}
	}
	if (f == NULL)
	{
		if (ch->nfields == ch->cap)
		{
			ch->cap = ch->cap ? ch->cap * 2 : 8;
			ch->fields = ch->fields ? repalloc(ch->fields, sizeof(in_field) * ch->cap)
				: palloc(sizeof(in_field) * ch->cap);
		}
		f = &ch->fields[ch->nfields++];
	}
	memset(f, 0, sizeof(*f));
	f->name = (char *) name;	/* callers pass a string of their own */
	f->col = col;
	f->key = col >= 0 ? t->cols[col].field : f->name;
	f->value = *value;
	if (col >= 0)
		f->datum = mana_json_to_datum(t, &t->cols[col], value, &f->isnull, ch->index, name);
	f->ts = clamp_ts(cx, t, id, name, ts);
	if (col >= 0 && col == t->deleted_idx && !f->isnull && f->ts == cx->now_ms && ts > cx->max_ms)
		f->datum = TimestampTzGetDatum(mana_ms_to_ts(cx->now_ms));	/* a clamped delete time */
}

/* {name: {value, updatedAt|at}} */
static void
check_field_count(in_change *ch, JsonbValue *obj)
{
	if (JsonContainerSize(obj->val.binary.data) + ch->nfields > (uint32) mana_max_fields_per_change)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many fields in one change"),
				 errdetail("Change %d of the changeset has more than %d fields (mana_sync.max_fields).",
						   ch->index, mana_max_fields_per_change)));
}

static void
add_fields_object(apply_ctx *cx, mana_table *t, const char *id, in_change *ch, JsonbValue *fields)
{
	JsonbIterator *it = JsonbIteratorInit(fields->val.binary.data);
	JsonbValue	v;
	JsonbIteratorToken tok;

	check_field_count(ch, fields);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		JsonbValue	fv;
		JsonbValue *value;
		JsonbValue *ts;
		JsonbValue	nullv;

		if (tok != WJB_KEY)
			continue;
		name = jstr(&v);
		(void) JsonbIteratorNext(&it, &fv, true);
		if (!is_object(&fv))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid change: field \"%s\" is not an object", name),
					 errdetail("Change %d of the changeset: a field change is {\"value\": ..., \"updatedAt\": ...}.",
							   ch->index)));
		value = get_key(fv.val.binary.data, "value");
		ts = get_key(fv.val.binary.data, "updatedAt");
		if (ts == NULL)
			ts = get_key(fv.val.binary.data, "at");
		if (value == NULL)
		{
			/* JSON.stringify drops undefined: a field without value is null */
			nullv.type = jbvNull;
			value = &nullv;
		}
		add_field(cx, t, id, ch, name, value, parse_ts(ts, ch->index, name));
	}
}

/* an insert's data: {field: value, ..., updatedAt} */
static void
add_data_object(apply_ctx *cx, mana_table *t, const char *id, in_change *ch, JsonbValue *data)
{
	JsonbValue *tsv = get_key(data->val.binary.data, "updatedAt");
	int64		ts = tsv ? parse_ts(tsv, ch->index, "updatedAt") : cx->now_ms;
	JsonbIterator *it = JsonbIteratorInit(data->val.binary.data);
	JsonbValue	v;
	JsonbIteratorToken tok;

	check_field_count(ch, data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		JsonbValue	val;
		mana_column *m;

		if (tok != WJB_KEY)
			continue;
		name = jstr(&v);
		(void) JsonbIteratorNext(&it, &val, true);
		if (mana_table_find_field(t, name) >= 0)
		{
			add_field(cx, t, id, ch, name, &val, ts);
			continue;
		}
		m = managed_column(t, name);
		if (m != NULL && m->role == MANA_COL_ID)
		{
			if (val.type != jbvString || strcmp(jstr(&val), id) != 0)
				bad_change(ch->index, "data.id differs from the change's id",
						   "\"id\" in data must equal the change's \"id\".");
			continue;
		}
		if (m != NULL && m->role == MANA_COL_OWNER)
		{
			if (val.type != jbvString || strcmp(jstr(&val), cx->user) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("a change may not give a row to another user"),
						 errdetail("Change %d of the changeset sets field \"%s\" to a different user.",
								   ch->index, name)));
			continue;
		}
		if (m != NULL)
			continue;			/* updatedAt, version, ...: the server's own */
		if (strcmp(name, "createdAt") == 0 && t->extra_idx < 0)
			continue;			/* every client sends it; keep it only where there is room */
		add_field(cx, t, id, ch, name, &val, ts);
	}
}

static tbl_group *
group_for(apply_ctx *cx, const char *table)
{
	ListCell   *lc;
	tbl_group  *g;
	HASHCTL		ctl;

	foreach(lc, cx->groups)
	{
		g = lfirst(lc);
		if (strcmp(g->t->collection, table) == 0)
			return g;
	}
	g = palloc0(sizeof(tbl_group));
	g->t = mana_table_lookup(cx->app_id, table, false);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MANA_MAX_ID_LEN + 1;
	ctl.entrysize = sizeof(row_state);
	ctl.hcxt = CurrentMemoryContext;
	g->rows = hash_create("mana_sync rows", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cx->groups = lappend(cx->groups, g);
	return g;
}

static void
parse_change(apply_ctx *cx, JsonbValue *cv, int index)
{
	JsonbValue *tv;
	JsonbValue *iv;
	JsonbValue *ov;
	JsonbValue *fields;
	JsonbValue *data;
	JsonbValue *del;
	char	   *table;
	char	   *id;
	char	   *op;
	in_change  *ch;
	tbl_group  *g;
	row_state  *row;
	bool		found;

	if (!is_object(cv))
		bad_change(index, "not an object", "each change is an object with table, id and op.");
	tv = get_key(cv->val.binary.data, "table");
	iv = get_key(cv->val.binary.data, "id");
	ov = get_key(cv->val.binary.data, "op");
	if (tv == NULL || tv->type != jbvString || tv->val.string.len == 0)
		bad_change(index, "missing or invalid table", "\"table\" must be a non-empty string.");
	if (iv == NULL || iv->type != jbvString || iv->val.string.len == 0)
		bad_change(index, "missing or invalid id", "\"id\" must be a non-empty string.");
	if (iv->val.string.len > MANA_MAX_ID_LEN)
		bad_change(index, "id too long", "\"id\" may have at most 256 bytes.");
	if (ov == NULL || ov->type != jbvString)
		bad_change(index, "missing or invalid op", "\"op\" must be \"insert\", \"update\" or \"delete\".");
	table = jstr(tv);
	id = jstr(iv);
	if (strlen(id) != (size_t) iv->val.string.len)
		bad_change(index, "id contains a NUL character", "\"id\" must be text.");
	op = jstr(ov);

	ch = palloc0(sizeof(in_change));
	ch->index = index;
	if (strcmp(op, "insert") == 0)
		ch->op = OP_INSERT;
	else if (strcmp(op, "update") == 0)
		ch->op = OP_UPDATE;
	else if (strcmp(op, "delete") == 0)
		ch->op = OP_DELETE;
	else
		bad_change(index, "unknown op", "\"op\" must be \"insert\", \"update\" or \"delete\".");
	g = group_for(cx, table);

	/*
	 * The id must be a valid value of the id column; keep its canonical text
	 * (a text id is its own canonical form).
	 */
	if (g->t->cols[g->t->id_idx].typid != TEXTOID)
	{
		bool		isnull;
		mana_column *idc = &g->t->cols[g->t->id_idx];
		Datum		d = mana_json_to_datum(g->t, idc, iv, &isnull, index, "id");

		id = OutputFunctionCall(&idc->outfunc, d);
		if (strlen(id) > MANA_MAX_ID_LEN)
			bad_change(index, "id too long", "\"id\" may have at most 256 bytes.");
	}

	fields = get_key(cv->val.binary.data, "fields");
	data = get_key(cv->val.binary.data, "data");
	if (fields != NULL && fields->type != jbvNull && !is_object(fields))
		bad_change(index, "fields is not an object", "\"fields\" maps field names to {value, updatedAt}.");
	if (data != NULL && data->type != jbvNull && !is_object(data))
		bad_change(index, "data is not an object", "\"data\" maps field names to values.");
	if (fields != NULL && fields->type == jbvNull)
		fields = NULL;
	if (data != NULL && data->type == jbvNull)
		data = NULL;

	switch (ch->op)
	{
		case OP_INSERT:
			if (data == NULL && fields == NULL)
				bad_change(index, "insert without data", "an insert carries \"data\" or \"fields\".");
			break;
		case OP_UPDATE:
			if (data == NULL && fields == NULL)
				bad_change(index, "update without fields", "an update carries \"fields\".");
			break;
		case OP_DELETE:
			{
				JsonbValue	tsv;

				del = get_key(cv->val.binary.data, "deletedAt");
				if (del == NULL && fields != NULL)
				{
					JsonbValue *fd = get_key(fields->val.binary.data, "deletedAt");

					if (is_object(fd))
					{
						del = get_key(fd->val.binary.data, "value");
						if (del == NULL || del->type == jbvNull)
							del = get_key(fd->val.binary.data, "updatedAt");
					}
				}
				if (del == NULL || del->type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
							 errmsg("invalid timestamp for field \"deletedAt\""),
							 errdetail("Change %d of the changeset: a delete needs \"deletedAt\", an ISO-8601 string.", index)));
				tsv = *del;
				add_field(cx, g->t, id, ch, g->t->cols[g->t->deleted_idx].field, &tsv,
						  parse_ts(del, index, "deletedAt"));
				fields = NULL;
				data = NULL;
				break;
			}
	}
	if (data != NULL)
		add_data_object(cx, g->t, id, ch, data);
	if (fields != NULL)
		add_fields_object(cx, g->t, id, ch, fields);

	row = hash_search(g->rows, id, HASH_ENTER, &found);
	if (!found)
	{
		char		key[MANA_MAX_ID_LEN + 1];

		strlcpy(key, row->id, sizeof(key));
		memset(row, 0, sizeof(*row));
		strlcpy(row->id, key, sizeof(row->id));
		row->first_index = index;
		row->only_deletes = true;
		g->order = lappend(g->order, row);
	}
	row->changes = lappend(row->changes, ch);
	if (ch->op != OP_DELETE)
		row->only_deletes = false;
}

/* ---------------------------------------------------------------- reading */

/* Read the current state of the given rows (all of them when rows is NIL). */
static void
read_rows(apply_ctx *cx, tbl_group *g, List *rows)
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
		JsonbValue *v = get_key(&r->cur_extra->root, f->key);

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
		JsonbValue *v = get_key(&r->cur_fts->root, key);

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

static void
merge_row(tbl_group *g, row_state *r)
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

static void
write_group(apply_ctx *cx, tbl_group *g)
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
		read_rows(cx, g, pending);
		foreach(lc, pending)
		{
			row_state  *r = lfirst(lc);

			merge_row(g, r);
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

/* ---------------------------------------------------------------- response */

static void *
palloc_cb(size_t n)
{
	return palloc(n);
}

/*
 * Does the client hold exactly this row once the push succeeds?  Only when
 * every field it sent won, nothing but this write changed the row (no other
 * trigger, no generated column), and it knew the row before: the row's
 * previous writer is inside its cursor (or the row is new and the client
 * sent every field that has a default).  Such rows need not travel back.
 */
static bool
row_is_known(mana_table *t, row_state *r, const mana_cursor *since)
{
	int			i;

	if (!t->rows_are_plain || !r->dirty || r->conflicted || r->skipped)
		return false;
	/*
	 * The client saw the row as it was read, and applied its own changes.
	 * Not if that was a tombstone: deleted rows travel without their
	 * fields, so a restore must bring them.
	 */
	if (r->exists)
		return !r->prior_deleted &&
			since->has_snap && mana_snapshot_visible(&since->snap, r->prior_xid);
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].role == MANA_COL_FIELD && t->cols[i].hasdefault && !r->touched[i])
			return false;
	return true;
}

static void
server_changes(apply_ctx *cx, StringInfo out, mana_cursor *since, const char *since_text,
			   bool *cut_out, char **cursor_out)
{
	List	   *collections = mana_app_collections(cx->app_id);
	ListCell   *lc;
	mana_delta_state st;
	bool		first = true;
	int			remaining = mana_max_push_delta;
	bool		cut = false;
	mana_cursor next;
	FullTransactionId me = GetTopFullTransactionIdIfAny();

	memset(&st, 0, sizeof(st));
	mana_take_snapshot(&st);
	since->has_page = false;	/* a page position belongs to one pull */

	/*
	 * PostgreSQL leaves a transaction's own xid out of its snapshot.  The
	 * rows this call wrote are answered below (or known to the client), so
	 * the cursor counts them as seen; otherwise every push would come back
	 * in the next pull.  (Past a large gap of newer xids we leave it.)
	 */
	if (FullTransactionIdIsValid(me))
		(void) mana_snapshot_include(&st.snap, U64FromFullTransactionId(me), 10000, palloc_cb);

	appendStringInfoString(out, "\"serverChanges\":[");
	foreach(lc, collections)
	{
		char	   *coll = lfirst(lc);
		tbl_group  *g = NULL;
		ListCell   *gc;
		mana_table *t;
		HTAB	   *emitted;
		HASHCTL		ctl;
		List	   *extra_ids = NIL;
		Datum		exclude = (Datum) 0;
		int			got;

		foreach(gc, cx->groups)
			if (strcmp(((tbl_group *) lfirst(gc))->t->collection, coll) == 0)
				g = lfirst(gc);
		t = g ? g->t : mana_table_lookup(cx->app_id, coll, false);

		if (g != NULL)
		{
			Datum	   *known = palloc(sizeof(Datum) * Max(list_length(g->order), 1));
			int			nknown = 0;

			foreach(gc, g->order)
			{
				row_state  *r = lfirst(gc);

				r->known = row_is_known(t, r, since);
				if (r->known)
					known[nknown++] = CStringGetTextDatum(r->id);
			}
			if (nknown > 0)
				exclude = PointerGetDatum(construct_array(known, nknown, TEXTOID, -1, false, TYPALIGN_INT));
		}

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = MANA_MAX_ID_LEN + 1;
		ctl.entrysize = MANA_MAX_ID_LEN + 1;
		ctl.hcxt = CurrentMemoryContext;
		emitted = hash_create("mana_sync emitted", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

		if (!cut)
		{
			got = mana_delta_rows(out, &first, t, cx->user, since, remaining, NULL, NULL,
								  emitted, exclude);
			if (got > remaining)
				cut = true;
			remaining -= Min(got, remaining);
		}

		/* rows where an incoming field lost, or that merged: their current state */
		if (g != NULL)
		{
			foreach(gc, g->order)
			{
				row_state  *r = lfirst(gc);

				if ((r->conflicted || (r->dirty && !r->known)) &&
					hash_search(emitted, r->id, HASH_FIND, NULL) == NULL)
					extra_ids = lappend(extra_ids, r->id);
			}
			(void) mana_rows_by_id(out, &first, t, cx->user, extra_ids);
		}
	}
	appendStringInfoChar(out, ']');

	memset(&next, 0, sizeof(next));
	next.ts_ms = st.snap_ms;
	next.has_snap = true;
	next.snap = st.snap;
	*cut_out = cut;
	*cursor_out = cut ? (since_text ? pstrdup(since_text) : pstrdup("1970-01-01T00:00:00.000Z"))
		: mana_cursor_text(&next);
}

static char *
opt_string(JsonbContainer *root, const char *key, int maxlen)
{
	JsonbValue *v = get_key(root, key);

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
	return jstr(v);
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
	bool		cut;
	char	   *cursor;
	ListCell   *lc;
	bool		first;
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

	changes = get_key(&cs->root, "changes");
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

		parse_change(&cx, cv, i);
	}
	if (cx.groups == NIL && mana_app_collections(cx.app_id) == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("unknown app \"%s\"", cx.app_id),
				 errhint("Register its tables with mana_sync_enable().")));

	foreach(lc, cx.groups)
		write_group(&cx, lfirst(lc));

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	server_changes(&cx, &out, &since, since_text, &cut, &cursor);

	appendStringInfoString(&out, ",\"conflicts\":[");
	first = true;
	foreach(lc, cx.groups)
	{
		tbl_group  *g = lfirst(lc);
		ListCell   *rc;

		foreach(rc, g->order)
		{
			row_state  *r = lfirst(rc);

			if (r->skipped && cx.any_warning)
				appendStringInfoChar(&cx.warnings, ',');
			if (r->skipped)
			{
				cx.any_warning = true;
				appendStringInfoString(&cx.warnings, "{\"type\":\"tombstoneSkipped\",\"table\":");
				mana_json_string(&cx.warnings, g->t->collection);
				appendStringInfoString(&cx.warnings, ",\"id\":");
				mana_json_string(&cx.warnings, r->id);
				appendStringInfoChar(&cx.warnings, '}');
			}
			if (r->conflicts.len == 0)
				continue;
			if (!first)
				appendStringInfoChar(&out, ',');
			first = false;
			appendBinaryStringInfo(&out, r->conflicts.data, r->conflicts.len);
		}
	}
	appendStringInfoString(&out, "],\"syncedUntil\":");
	mana_json_string(&out, cursor);
	appendStringInfo(&out, ",\"hasMore\":%s", cut ? "true" : "false");
	if (cx.any_warning)
		appendStringInfo(&out, ",\"warnings\":[%s]", cx.warnings.data);
	appendStringInfoChar(&out, '}');

	MemoryContextSwitchTo(callcxt);
	result = mana_json_finish(&out);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
