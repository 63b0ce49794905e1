/*
 * changeset_answer.c
 *     Phase 5 of mana_apply_changeset: the answer (serverChanges,
 *     conflicts, syncedUntil, hasMore, warnings; changeset.h has the
 *     phases).
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

/*
 * The whole answer into out: {"serverChanges", "conflicts", "syncedUntil",
 * "hasMore", and "warnings" when there are any}.
 */
void
mana_cs_answer(apply_ctx *cx, StringInfo out, mana_cursor *since, const char *since_text)
{
	bool		cut;
	char	   *cursor;
	bool		first = true;
	ListCell   *lc;

	appendStringInfoChar(out, '{');
	server_changes(cx, out, since, since_text, &cut, &cursor);
	appendStringInfoString(out, ",\"conflicts\":[");
	foreach(lc, cx->groups)
	{
		tbl_group  *g = lfirst(lc);
		ListCell   *rc;

		foreach(rc, g->order)
		{
			row_state  *r = lfirst(rc);

			if (r->skipped && cx->any_warning)
				appendStringInfoChar(&cx->warnings, ',');
			if (r->skipped)
			{
				cx->any_warning = true;
				appendStringInfoString(&cx->warnings, "{\"type\":\"tombstoneSkipped\",\"table\":");
				mana_json_string(&cx->warnings, g->t->collection);
				appendStringInfoString(&cx->warnings, ",\"id\":");
				mana_json_string(&cx->warnings, r->id);
				appendStringInfoChar(&cx->warnings, '}');
			}
			if (r->conflicts.len == 0)
				continue;
			if (!first)
				appendStringInfoChar(out, ',');
			first = false;
			appendBinaryStringInfo(out, r->conflicts.data, r->conflicts.len);
		}
	}
	appendStringInfoString(out, "],\"syncedUntil\":");
	mana_json_string(out, cursor);
	appendStringInfo(out, ",\"hasMore\":%s", cut ? "true" : "false");
	if (cx->any_warning)
		appendStringInfo(out, ",\"warnings\":[%s]", cx->warnings.data);
	appendStringInfoChar(out, '}');
}
