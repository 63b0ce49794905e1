/*
 * changeset_parse.c
 *     Phase 1 of mana_apply_changeset: parse and validate every change
 *     (changeset.h has the phases).  Errors name the change index and field;
 *     nothing has been written yet when one is raised.
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

/* ---------------------------------------------------------------- parsing */

static void
bad_change(int index, const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid change: %s", msg),
			 errdetail("Change %d of the changeset: %s", index, detail)));
}

JsonbValue *
mana_cs_get_key(JsonbContainer *obj, const char *key)
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

char *
mana_cs_jstr(JsonbValue *v)
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
		name = mana_cs_jstr(&v);
		(void) JsonbIteratorNext(&it, &fv, true);
		if (!is_object(&fv))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid change: field \"%s\" is not an object", name),
					 errdetail("Change %d of the changeset: a field change is {\"value\": ..., \"updatedAt\": ...}.",
							   ch->index)));
		value = mana_cs_get_key(fv.val.binary.data, "value");
		ts = mana_cs_get_key(fv.val.binary.data, "updatedAt");
		if (ts == NULL)
			ts = mana_cs_get_key(fv.val.binary.data, "at");
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
	JsonbValue *tsv = mana_cs_get_key(data->val.binary.data, "updatedAt");
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
		name = mana_cs_jstr(&v);
		(void) JsonbIteratorNext(&it, &val, true);
		if (mana_table_find_field(t, name) >= 0)
		{
			add_field(cx, t, id, ch, name, &val, ts);
			continue;
		}
		m = managed_column(t, name);
		if (m != NULL && m->role == MANA_COL_ID)
		{
			if (val.type != jbvString || strcmp(mana_cs_jstr(&val), id) != 0)
				bad_change(ch->index, "data.id differs from the change's id",
						   "\"id\" in data must equal the change's \"id\".");
			continue;
		}
		if (m != NULL && m->role == MANA_COL_OWNER)
		{
			if (val.type != jbvString || strcmp(mana_cs_jstr(&val), cx->user) != 0)
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

/*
 * A delete: its time, from "deletedAt", else the field deletedAt of
 * "fields" (its value, else its updatedAt), is the deletedAt field's.
 */
static void
add_delete(apply_ctx *cx, mana_table *t, const char *id, in_change *ch, JsonbValue *cv,
		   JsonbValue *fields)
{
	JsonbValue	tsv;
	JsonbValue *del = mana_cs_get_key(cv->val.binary.data, "deletedAt");

	if (del == NULL && fields != NULL)
	{
		JsonbValue *fd = mana_cs_get_key(fields->val.binary.data, "deletedAt");

		if (is_object(fd))
		{
			del = mana_cs_get_key(fd->val.binary.data, "value");
			if (del == NULL || del->type == jbvNull)
				del = mana_cs_get_key(fd->val.binary.data, "updatedAt");
		}
	}
	if (del == NULL || del->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid timestamp for field \"deletedAt\""),
				 errdetail("Change %d of the changeset: a delete needs \"deletedAt\", an ISO-8601 string.", ch->index)));
	tsv = *del;
	add_field(cx, t, id, ch, t->cols[t->deleted_idx].field, &tsv, parse_ts(del, ch->index, "deletedAt"));
}

/* the change joins the changes of its row (the row's state is made on first sight) */
static void
add_to_row(tbl_group *g, const char *id, in_change *ch)
{
	bool		found;
	row_state  *row = hash_search(g->rows, id, HASH_ENTER, &found);

	if (!found)
	{
		char		key[MANA_MAX_ID_LEN + 1];

		strlcpy(key, row->id, sizeof(key));
		memset(row, 0, sizeof(*row));
		strlcpy(row->id, key, sizeof(row->id));
		row->first_index = ch->index;
		row->only_deletes = true;
		g->order = lappend(g->order, row);
	}
	row->changes = lappend(row->changes, ch);
	if (ch->op != OP_DELETE)
		row->only_deletes = false;
}

void
mana_cs_parse_change(apply_ctx *cx, JsonbValue *cv, int index)
{
	JsonbValue *tv;
	JsonbValue *iv;
	JsonbValue *ov;
	JsonbValue *fields;
	JsonbValue *data;
	char	   *table;
	char	   *id;
	char	   *op;
	in_change  *ch;
	tbl_group  *g;

	if (!is_object(cv))
		bad_change(index, "not an object", "each change is an object with table, id and op.");
	tv = mana_cs_get_key(cv->val.binary.data, "table");
	iv = mana_cs_get_key(cv->val.binary.data, "id");
	ov = mana_cs_get_key(cv->val.binary.data, "op");
	if (tv == NULL || tv->type != jbvString || tv->val.string.len == 0)
		bad_change(index, "missing or invalid table", "\"table\" must be a non-empty string.");
	if (iv == NULL || iv->type != jbvString || iv->val.string.len == 0)
		bad_change(index, "missing or invalid id", "\"id\" must be a non-empty string.");
	if (iv->val.string.len > MANA_MAX_ID_LEN)
		bad_change(index, "id too long", "\"id\" may have at most 256 bytes.");
	if (ov == NULL || ov->type != jbvString)
		bad_change(index, "missing or invalid op", "\"op\" must be \"insert\", \"update\" or \"delete\".");
	table = mana_cs_jstr(tv);
	id = mana_cs_jstr(iv);
	if (strlen(id) != (size_t) iv->val.string.len)
		bad_change(index, "id contains a NUL character", "\"id\" must be text.");
	op = mana_cs_jstr(ov);

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

	fields = mana_cs_get_key(cv->val.binary.data, "fields");
	data = mana_cs_get_key(cv->val.binary.data, "data");
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
			add_delete(cx, g->t, id, ch, cv, fields);
			fields = NULL;
			data = NULL;
			break;
	}
	if (data != NULL)
		add_data_object(cx, g->t, id, ch, data);
	if (fields != NULL)
		add_fields_object(cx, g->t, id, ch, fields);

	add_to_row(g, id, ch);
}
