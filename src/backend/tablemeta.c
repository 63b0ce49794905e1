/*
 * tablemeta.c
 *     What mana_sync knows about a registered table: which column plays
 *     which role, how client field names map to columns, and how to convert
 *     values into each column's type.
 *
 * Built once per SQL call from the registry and the relation's descriptor
 * (callers hold SPI).  Nothing is cached across calls, so ALTER TABLE is
 * always seen.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "request.h"
#include "tablemeta.h"
#include "core/names.h"

/* the registry, qualified by the extension's schema (callers hold SPI) */
static char *
mana_registry_name(void)
{
	int			rc = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
								 "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
								 "WHERE e.extname = 'mana_sync'", true, 1);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"mana_sync\" is not installed in this database")));
	return quote_qualified_identifier(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
									  "mana_sync_registry");
}

static int
fieldmap_cmp(const void *a, const void *b)
{
	return strcmp(((const mana_fieldmap *) a)->name, ((const mana_fieldmap *) b)->name);
}

static mana_col_role
role_of(const char *name, const char *owner_col, const char *id_col, Oid typid)
{
	if (strcmp(name, id_col) == 0)
		return MANA_COL_ID;
	if (strcmp(name, owner_col) == 0)
		return MANA_COL_OWNER;
	if (strcmp(name, "updated_at") == 0)
		return MANA_COL_UPDATED_AT;
	if (strcmp(name, "deleted_at") == 0)
		return MANA_COL_DELETED_AT;
	if (strcmp(name, "client_id") == 0)
		return MANA_COL_CLIENT_ID;
	if (strcmp(name, "field_timestamps") == 0)
		return MANA_COL_FIELD_TS;
	if (strcmp(name, "version") == 0)
		return MANA_COL_VERSION;
	if (strcmp(name, "sync_xid") == 0)
		return MANA_COL_SYNC_XID;
	if (strcmp(name, "extra") == 0 && typid == JSONBOID)
		return MANA_COL_EXTRA;
	return MANA_COL_FIELD;
}

/*
 * The table's columns, their roles and conversions.  Long (about 115
 * lines) for a reason: one loop over the attributes fills each column's
 * whole description; the parts only make sense together.
 */
static void
build_columns(mana_table *t, Relation rel, const char *owner_col, const char *id_col)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;
	int			i;

	t->cols = palloc0(sizeof(mana_column) * desc->natts);
	t->rows_are_plain = true;
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (strcmp(rel->trigdesc->triggers[i].tgname, "zz_mana_sync") != 0)
				t->rows_are_plain = false;
	}
	t->id_idx = t->owner_idx = t->extra_idx = t->deleted_idx = -1;
	t->field_ts_idx = t->updated_idx = t->client_idx = t->version_idx = t->xid_idx = -1;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		mana_column *c;
		char	   *name;
		size_t		len;
		Oid			infn;

		if (att->attisdropped)
			continue;
		c = &t->cols[n];
		name = NameStr(att->attname);
		len = strlen(name);
		c->attnum = att->attnum;
		c->name = pstrdup(name);
		c->field = palloc(len + 1);
		mana_snake_to_camel(name, len, c->field);
		c->qname = pstrdup(quote_identifier(name));
		c->typid = att->atttypid;
		c->typmod = att->atttypmod;
		c->typname = format_type_with_typemod(att->atttypid, att->atttypmod);
		c->basetype = getBaseType(att->atttypid);
		c->elemtype = get_element_type(c->basetype);
		c->typcategory = TypeCategory(c->basetype);
		c->notnull = att->attnotnull;
		c->hasdefault = att->atthasdef;
		c->role = role_of(name, owner_col, id_col, att->atttypid);
		if (att->attgenerated && c->role == MANA_COL_FIELD)
			c->role = MANA_COL_SKIP;

		getTypeInputInfo(att->atttypid, &infn, &c->inioparam);
		fmgr_info(infn, &c->infunc);
		{
			Oid			outfn;
			bool		isvarlena;
			Oid			arr = get_array_type(att->atttypid);

			getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
			fmgr_info(outfn, &c->outfunc);
			get_typlenbyvalalign(att->atttypid, &c->typlen, &c->typbyval, &c->typalign);
			/* plain scalar types travel typed; arrays and domains as text + cast */
			c->param_type = (OidIsValid(arr) && c->basetype == att->atttypid &&
							 !OidIsValid(c->elemtype)) ? arr : TEXTARRAYOID;
		}
		if (att->attgenerated)
			t->rows_are_plain = false;
		if (OidIsValid(c->elemtype))
		{
			getTypeInputInfo(c->elemtype, &infn, &c->elem_ioparam);
			fmgr_info(infn, &c->elem_infunc);
			get_typlenbyvalalign(c->elemtype, &c->elem_len, &c->elem_byval, &c->elem_align);
		}

		switch (c->role)
		{
			case MANA_COL_ID: t->id_idx = n; break;
			case MANA_COL_OWNER: t->owner_idx = n; break;
			case MANA_COL_EXTRA: t->extra_idx = n; break;
			case MANA_COL_DELETED_AT: t->deleted_idx = n; break;
			case MANA_COL_FIELD_TS: t->field_ts_idx = n; break;
			case MANA_COL_UPDATED_AT: t->updated_idx = n; break;
			case MANA_COL_CLIENT_ID: t->client_idx = n; break;
			case MANA_COL_VERSION: t->version_idx = n; break;
			case MANA_COL_SYNC_XID: t->xid_idx = n; break;
			default: break;
		}
		n++;
	}
	t->ncols = n;

	if (t->id_idx < 0 || t->owner_idx < 0 || t->deleted_idx < 0 || t->field_ts_idx < 0 ||
		t->updated_idx < 0 || t->client_idx < 0 || t->version_idx < 0 || t->xid_idx < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" lacks the columns mana_sync needs", t->qualname),
				 errhint("Run mana_sync_enable() on it again.")));

	/*
	 * Incoming names are matched against the camelCase form and the column
	 * name itself, so "isCompleted" and "is_completed" both find
	 * is_completed.  deletedAt is a synced field too.
	 */
	t->fieldmap = palloc(sizeof(mana_fieldmap) * t->ncols * 2);
	t->nfieldmap = 0;
	for (i = 0; i < t->ncols; i++)
	{
		mana_column *c = &t->cols[i];

		if (c->role != MANA_COL_FIELD && c->role != MANA_COL_DELETED_AT)
			continue;
		t->fieldmap[t->nfieldmap].name = c->field;
		t->fieldmap[t->nfieldmap++].col = i;
		if (strcmp(c->field, c->name) != 0)
		{
			t->fieldmap[t->nfieldmap].name = c->name;
			t->fieldmap[t->nfieldmap++].col = i;
		}
	}
	qsort(t->fieldmap, t->nfieldmap, sizeof(mana_fieldmap), fieldmap_cmp);
}

/*
 * Find the registered table (app_id, collection).  Errors (or NULL with
 * missing_ok) when there is none.  The caller must be connected to SPI.
 */
mana_table *
mana_table_lookup(const char *app_id, const char *collection, bool missing_ok)
{
	char	   *sql;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	int			rc;
	mana_table *t;
	bool		isnull;
	Relation	rel;
	char	   *owner_col;
	char	   *id_col;

	sql = psprintf("SELECT relid::oid, owner_column::text, id_column::text FROM %s "
				   "WHERE app_id = $1 AND collection = $2",
				   mana_registry_name());
	args[0] = CStringGetTextDatum(app_id);
	args[1] = CStringGetTextDatum(collection);
	rc = SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "registry lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("unknown table \"%s\" for app \"%s\"", collection, app_id),
				 errhint("Register the table with mana_sync_enable().")));
	}

	t = palloc0(sizeof(mana_table));
	t->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	owner_col = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	id_col = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	t->app_id = pstrdup(app_id);
	t->collection = pstrdup(collection);

	rel = try_relation_open(t->relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" of app \"%s\" no longer exists", collection, app_id)));
	t->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											 RelationGetRelationName(rel));
	build_columns(t, rel, owner_col, id_col);
	relation_close(rel, NoLock);
	return t;
}

/* Collections registered for app_id, in name order (list of char *). */
List *
mana_app_collections(const char *app_id)
{
	char	   *sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			rc;
	List	   *out = NIL;
	uint64		i;

	sql = psprintf("SELECT r.collection FROM %s r JOIN pg_catalog.pg_class c ON c.oid = r.relid "
				   "WHERE r.app_id = $1 ORDER BY r.collection",
				   mana_registry_name());
	args[0] = CStringGetTextDatum(app_id);
	rc = SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "registry lookup failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

/* Column index for an incoming field name, or -1. */
int
mana_table_find_field(mana_table *t, const char *field)
{
	mana_fieldmap key;
	mana_fieldmap *hit;

	key.name = field;
	hit = bsearch(&key, t->fieldmap, t->nfieldmap, sizeof(mana_fieldmap), fieldmap_cmp);
	return hit ? hit->col : -1;
}
