/*
 * changeset.h
 *     mana_apply_changeset, in phases (one file each):
 *
 *       changeset.c         the SQL function and its settings: reads the
 *                           envelope, runs the phases, all or nothing
 *       changeset_parse.c   1. parse and validate every change (nothing is
 *                           written before the whole changeset is known to
 *                           be well-formed)
 *       changeset_merge.c   2. read the current rows of a table in one
 *                           query; 3. merge in memory, field by field,
 *                           under the LWW rule of core/lww.h
 *       changeset_write.c   4. write each table's merged rows in batches,
 *                           guarded by the version read (a row changed
 *                           meanwhile is read and merged again)
 *       changeset_answer.c  5. the answer: the delta since the cursor
 *                           (delta.c) plus every row this call touched,
 *                           conflicts and warnings
 *
 * The types below are the state the phases share; only these files use
 * them.
 */
#ifndef MANA_CHANGESET_H
#define MANA_CHANGESET_H

#include "access/htup.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "core/cursor.h"
#include "request.h"
#include "tablemeta.h"

/* settings (changeset.c) */
extern int	mana_max_future_skew_ms;
extern int	mana_max_changeset_changes;
extern int	mana_max_fields_per_change;
extern int	mana_max_push_delta;
extern void mana_changeset_init(void);

#define OP_INSERT 1
#define OP_UPDATE 2
#define OP_DELETE 3



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

/* changeset_parse.c */
extern JsonbValue *mana_cs_get_key(JsonbContainer *obj, const char *key);
extern char *mana_cs_jstr(JsonbValue *v);
extern void mana_cs_parse_change(apply_ctx *cx, JsonbValue *cv, int index);

/* changeset_merge.c */
extern void mana_cs_read_rows(apply_ctx *cx, tbl_group *g, List *rows);
extern void mana_cs_merge_row(tbl_group *g, row_state *r);

/* changeset_write.c */
extern void mana_cs_write_group(apply_ctx *cx, tbl_group *g);

/* changeset_answer.c: the answer, as JSON text, into out */
extern void mana_cs_answer(apply_ctx *cx, StringInfo out, mana_cursor *since, const char *since_text);

#endif
