/*
 * trigger.c
 *     The row trigger on every synced table.
 *
 * BEFORE INSERT/UPDATE: stamp updated_at, bump version, record the writing
 * transaction in sync_xid (the commit-safe cursor compares it with pull
 * snapshots), and for plain SQL writes stamp server time in field_timestamps
 * for exactly the fields whose values changed.  Writes made by
 * mana_apply_changeset (mana_apply_relid names the table it is writing) keep
 * the client timestamps it computed.  Every write hands a hint (app, table,
 * owner, originating client) to the change intake: in commit_hook mode
 * hintring.c keeps it in backend memory and passes it to the worker at
 * commit; in notify mode (or without shared_preload_libraries) it is a
 * NOTIFY on channel mana_sync, which PostgreSQL sends at commit.  Either
 * way nothing is sent on abort, and duplicates within a transaction fold.
 *
 * BEFORE DELETE: a plain DELETE becomes a soft delete (deleted_at set by an
 * UPDATE of the same row, so clients learn of it through pull), unless
 * mana_sync.hard_delete is on.
 *
 * Arguments (set by mana_sync_enable): app_id, collection, owner column,
 * id column.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/inval.h"
#include "utils/hsearch.h"
#include "utils/xid8.h"

#include "core/iso8601.h"
#include "core/names.h"
#include "core/notify_payload.h"
#include "hintring.h"
#include "jsonconv.h"
#include "request.h"
#include "trigger.h"

PG_FUNCTION_INFO_V1(mana_sync_trigger);

Oid			mana_apply_relid = InvalidOid;
bool		mana_hard_delete = false;

void
mana_trigger_init(void)
{
	DefineCustomBoolVariable("mana_sync.hard_delete",
							 "Let plain SQL DELETE remove rows of synced tables instead of soft-deleting them.",
							 "Clients are not told of hard-deleted rows; use it to purge old tombstones.",
							 &mana_hard_delete,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

typedef struct trig_field
{
	int			attno;			/* 1-based */
	char	   *key;			/* field_timestamps key (camelCase) */
	int16		typlen;
	bool		typbyval;
	bool		is_extra;
} trig_field;

typedef struct trig_cache
{
	MemoryContext cxt;
	bool		valid;
	char	   *owner_col;
	char	   *id_col;
	Oid			relid;
	int			natts;
	int			att_updated;
	int			att_deleted;
	int			att_client;
	int			att_field_ts;
	int			att_version;
	int			att_xid;
	int			att_owner;
	int			nfields;
	trig_field *fields;
	FmgrInfo	owner_out;
	char	   *qualname;
} trig_cache;

/* last NOTIFY payload queued, per (local transaction, subtransaction) */
static LocalTransactionId last_lxid = InvalidLocalTransactionId;
static SubTransactionId last_subid = InvalidSubTransactionId;
static char last_payload[MANA_NOTIFY_MAX_PAYLOAD];
static char *my_dbname = NULL;

static int
attno_of(TupleDesc desc, const char *name, const char *relname, bool required)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i + 1;
	}
	if (required)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("synced table \"%s\" has no column \"%s\"", relname, name),
				 errhint("Run mana_sync_enable() on the table again.")));
	return 0;
}

/*
 * Per-table facts, kept for the backend's life in TopMemoryContext and
 * dropped when the relation's cache entry is invalidated (ALTER TABLE,
 * re-enabling): single-row statements would otherwise rebuild them on
 * every call.
 */
static HTAB *trig_caches = NULL;

typedef struct trig_cache_entry
{
	Oid			relid;			/* hash key */
	trig_cache *cache;
} trig_cache_entry;

static void
trig_cache_invalidate(Datum arg, Oid relid)
{
	trig_cache_entry *e;

	if (trig_caches == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = hash_search(trig_caches, &relid, HASH_FIND, NULL);
		if (e != NULL && e->cache != NULL)
			e->cache->valid = false;	/* rebuilt (and freed) on next use */
	}
	else
	{
		HASH_SEQ_STATUS seq;

		hash_seq_init(&seq, trig_caches);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (e->cache != NULL)
				e->cache->valid = false;
	}
}

static trig_cache *
get_cache(FunctionCallInfo fcinfo, TriggerData *td)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	trig_cache_entry *e;
	trig_cache *c;
	char	  **args = td->tg_trigger->tgargs;
	const char *relname = RelationGetRelationName(rel);
	MemoryContext old;
	MemoryContext cxt;
	bool		found;
	int			i;
	Oid			outfn;
	bool		isvarlena;

	if (trig_caches == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(trig_cache_entry);
		trig_caches = hash_create("mana_sync trigger cache", 64, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(trig_cache_invalidate, (Datum) 0);
	}
	e = hash_search(trig_caches, &relid, HASH_ENTER, &found);
	if (!found)
		e->cache = NULL;
	c = e->cache;
	if (c != NULL && c->valid && c->natts == desc->natts && strcmp(c->owner_col, args[2]) == 0 &&
		strcmp(c->id_col, args[3]) == 0)
		return c;
	if (c != NULL)
		MemoryContextDelete(c->cxt);
	e->cache = NULL;

	cxt = AllocSetContextCreate(TopMemoryContext, "mana_sync trigger", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	c = palloc0(sizeof(trig_cache));
	c->cxt = cxt;
	c->valid = true;
	c->relid = relid;
	c->natts = desc->natts;
	c->owner_col = pstrdup(args[2]);
	c->id_col = pstrdup(args[3]);
	c->att_updated = attno_of(desc, "updated_at", relname, true);
	c->att_deleted = attno_of(desc, "deleted_at", relname, true);
	c->att_client = attno_of(desc, "client_id", relname, true);
	c->att_field_ts = attno_of(desc, "field_timestamps", relname, true);
	c->att_version = attno_of(desc, "version", relname, true);
	c->att_xid = attno_of(desc, "sync_xid", relname, true);
	c->att_owner = attno_of(desc, args[2], relname, true);
	(void) attno_of(desc, args[3], relname, true);
	getTypeOutputInfo(TupleDescAttr(desc, c->att_owner - 1)->atttypid, &outfn, &isvarlena);
	fmgr_info_cxt(outfn, &c->owner_out, cxt);
	c->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)), relname);

	c->fields = palloc0(sizeof(trig_field) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		int			attno = i + 1;
		trig_field *f;
		size_t		len;

		if (att->attisdropped || att->attgenerated)
			continue;
		if (attno == c->att_updated || attno == c->att_client || attno == c->att_field_ts ||
			attno == c->att_version || attno == c->att_xid || attno == c->att_owner ||
			strcmp(name, args[3]) == 0)
			continue;
		f = &c->fields[c->nfields++];
		f->attno = attno;
		len = strlen(name);
		f->key = palloc(len + 1);
		mana_snake_to_camel(name, len, f->key);
		f->typlen = att->attlen;
		f->typbyval = att->attbyval;
		f->is_extra = (strcmp(name, "extra") == 0 && att->atttypid == JSONBOID);
	}
	MemoryContextSwitchTo(old);
	e->cache = c;
	return c;
}

static bool
values_equal(Datum a, bool anull, Datum b, bool bnull, int16 typlen, bool typbyval)
{
	if (anull || bnull)
		return anull == bnull;
	if (datumIsEqual(a, b, typbyval, typlen))
		return true;
	if (typlen == -1)
	{
		/* same value stored differently (compressed, toasted)? */
		struct varlena *va = PG_DETOAST_DATUM_PACKED(a);
		struct varlena *vb = PG_DETOAST_DATUM_PACKED(b);

		return VARSIZE_ANY_EXHDR(va) == VARSIZE_ANY_EXHDR(vb) &&
			memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) == 0;
	}
	return false;
}

/* keys of an extra jsonb object whose values differ between old and new */
static void
extra_changed_keys(Jsonb *oldj, Jsonb *newj, List **keys)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		Jsonb	   *a = pass == 0 ? newj : oldj;
		Jsonb	   *b = pass == 0 ? oldj : newj;

		if (a == NULL || !JB_ROOT_IS_OBJECT(a))
			continue;
		it = JsonbIteratorInit(&a->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			JsonbValue	key;
			JsonbValue	val;
			JsonbValue *other;

			if (tok != WJB_KEY)
				continue;
			key = v;
			tok = JsonbIteratorNext(&it, &val, true);
			other = (b != NULL && JB_ROOT_IS_OBJECT(b)) ?
				findJsonbValueFromContainer(&b->root, JB_FOBJECT, &key) : NULL;
			if (other == NULL ||
				(pass == 0 && strcmp(mana_jsonb_value_text(&val), mana_jsonb_value_text(other)) != 0))
				*keys = lappend(*keys, pnstrdup(key.val.string.val, key.val.string.len));
		}
	}
}

/* field_timestamps with the given keys set to the time ms */
static Jsonb *
stamp_keys(Jsonb *base, List *keys, int64 ms)
{
	int			n = list_length(keys);
	char	  **names = palloc(sizeof(char *) * Max(n, 1));
	JsonbValue *vals = palloc(sizeof(JsonbValue) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, keys)
	{
		names[i] = lfirst(lc);
		mana_jbv_ts(&vals[i++], ms);
	}
	return mana_jsonb_set_pairs(base, n, names, vals);
}

static void
queue_notify(trig_cache *c, TriggerData *td, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	char	  **args = td->tg_trigger->tgargs;
	mana_notify_msg m;
	char		payload[MANA_NOTIFY_MAX_PAYLOAD];
	bool		isnull;
	Datum		d;
	char	   *owner = NULL;
	char	   *client = NULL;

	if (my_dbname == NULL)
		my_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));

	d = heap_getattr(tuple, c->att_owner, desc, &isnull);
	if (!isnull)
		owner = OutputFunctionCall(&c->owner_out, d);
	d = heap_getattr(tuple, c->att_client, desc, &isnull);
	if (!isnull)
		client = TextDatumGetCString(d);

	memset(&m, 0, sizeof(m));
	m.db = my_dbname;
	m.db_len = strlen(my_dbname);
	m.app = args[0];
	m.app_len = strlen(args[0]);
	m.table = args[1];
	m.table_len = strlen(args[1]);
	m.owner = owner;
	m.owner_len = owner ? strlen(owner) : 0;
	m.client = client;
	m.client_len = client ? strlen(client) : 0;
	if (mana_notify_encode(&m, payload) < 0)
		return;					/* names over 256 bytes: mana_sync_enable refuses them */

	/* rows of one statement usually share a payload: skip the repeats */
	if (last_lxid == MyProc->lxid && last_subid == GetCurrentSubTransactionId() &&
		strcmp(last_payload, payload) == 0)
		return;
	/* commit_hook mode: to the worker at commit, through shared memory */
	if (!mana_hintring_record(my_dbname, payload))
		Async_Notify("mana_sync", payload);
	last_lxid = MyProc->lxid;
	last_subid = GetCurrentSubTransactionId();
	strlcpy(last_payload, payload, sizeof(last_payload));
}

static HeapTuple
soft_delete(trig_cache *c, TriggerData *td)
{
	HeapTuple	old = td->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	bool		isnull;
	Datum		args[2];
	Oid			types[2] = {TIMESTAMPTZOID, TIDOID};
	int			rc;

	(void) heap_getattr(old, c->att_deleted, desc, &isnull);
	if (!isnull)
		return NULL;			/* already a tombstone: keep it */

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	args[0] = TimestampTzGetDatum(mana_ms_to_ts(mana_now_ms()));
	args[1] = PointerGetDatum(&old->t_self);
	rc = SPI_execute_with_args(psprintf("UPDATE %s SET deleted_at = $1 WHERE ctid = $2", c->qualname),
							   2, types, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "soft delete failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	return NULL;				/* the row stays, as a tombstone */
}

/*
 * The trigger function.  Long (about 130 lines) for a reason: it is the
 * hot path of every write, kept as one straight sequence (checks, stamps,
 * hint) so the cost of each step stays visible.
 */
Datum
mana_sync_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	trig_cache *c;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup;
	bool		is_insert;
	bool		apply_mode;
	Datum	   *vals;
	bool	   *nulls;
	bool	   *repl;
	int64		now_ms;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mana_sync_trigger: not called by the trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		td->tg_trigger->tgnargs != 4)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mana_sync_trigger must run BEFORE, FOR EACH ROW, with four arguments"),
				 errhint("Install it with mana_sync_enable().")));

	c = get_cache(fcinfo, td);
	desc = RelationGetDescr(td->tg_relation);

	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		if (mana_hard_delete)
			return PointerGetDatum(td->tg_trigtuple);
		return PointerGetDatum(soft_delete(c, td));
	}

	is_insert = TRIGGER_FIRED_BY_INSERT(td->tg_event);
	if (is_insert)
		newtup = td->tg_trigtuple;
	else
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	apply_mode = (mana_apply_relid == RelationGetRelid(td->tg_relation));

	vals = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc0(sizeof(bool) * desc->natts);
	repl = palloc0(sizeof(bool) * desc->natts);

	now_ms = mana_now_ms();

	vals[c->att_updated - 1] = TimestampTzGetDatum(mana_ms_to_ts(now_ms));
	repl[c->att_updated - 1] = true;
	vals[c->att_xid - 1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	repl[c->att_xid - 1] = true;
	if (is_insert)
		vals[c->att_version - 1] = Int32GetDatum(1);
	else
	{
		bool		isnull;
		Datum		v = heap_getattr(oldtup, c->att_version, desc, &isnull);

		vals[c->att_version - 1] = Int32GetDatum(isnull ? 1 : DatumGetInt32(v) + 1);
	}
	repl[c->att_version - 1] = true;

	if (!apply_mode)
	{
		List	   *keys = NIL;
		Jsonb	   *base = NULL;
		bool		isnull;
		Datum		d;
		int			i;

		for (i = 0; i < c->nfields; i++)
		{
			trig_field *f = &c->fields[i];
			bool		nnull;
			Datum		nv = heap_getattr(newtup, f->attno, desc, &nnull);

			if (is_insert)
			{
				if (f->is_extra)
				{
					if (!nnull)
						extra_changed_keys(NULL, DatumGetJsonbP(nv), &keys);
				}
				else if (!(f->attno == c->att_deleted && nnull))
					keys = lappend(keys, f->key);
			}
			else
			{
				bool		onull;
				Datum		ov = heap_getattr(oldtup, f->attno, desc, &onull);

				if (values_equal(ov, onull, nv, nnull, f->typlen, f->typbyval))
					continue;
				if (f->is_extra)
					extra_changed_keys(onull ? NULL : DatumGetJsonbP(ov),
									   nnull ? NULL : DatumGetJsonbP(nv), &keys);
				else
					keys = lappend(keys, f->key);
			}
		}
		d = heap_getattr(newtup, c->att_field_ts, desc, &isnull);
		if (!isnull)
			base = DatumGetJsonbP(d);
		if (keys != NIL || isnull)
		{
			vals[c->att_field_ts - 1] = JsonbPGetDatum(stamp_keys(base, keys, now_ms));
			repl[c->att_field_ts - 1] = true;
		}

		/* a server write has no originating client, unless it names one */
		if (!is_insert)
		{
			bool		onull;
			bool		nnull;
			Datum		ov = heap_getattr(oldtup, c->att_client, desc, &onull);
			Datum		nv = heap_getattr(newtup, c->att_client, desc, &nnull);

			if (values_equal(ov, onull, nv, nnull, -1, false))
			{
				nulls[c->att_client - 1] = true;
				repl[c->att_client - 1] = true;
			}
		}
	}

	newtup = heap_modify_tuple(newtup, desc, vals, nulls, repl);
	queue_notify(c, td, newtup);
	return PointerGetDatum(newtup);
}
