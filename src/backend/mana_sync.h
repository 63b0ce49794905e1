/*
 * mana_sync.h
 *     Declarations shared by the extension's glue files (the code that talks
 *     to PostgreSQL).  The pure logic lives in iso8601.h, cursor.h, lww.h,
 *     names.h, notify_payload.h and b64url.h and never includes this file.
 */
#ifndef MANA_SYNC_H
#define MANA_SYNC_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "core/cursor.h"

/* ---- settings (mana_sync.c) ---- */
extern int	mana_max_future_skew_ms;
extern int	mana_max_changeset_changes;
extern int	mana_max_fields_per_change;
extern int	mana_max_push_delta;
extern bool mana_hard_delete;

/* ---- time (mana_sync.c) ---- */
/* PostgreSQL TimestampTz (us since 2000) <-> protocol ms since 1970 */
extern int64 mana_ts_to_ms(TimestampTz ts);
extern TimestampTz mana_ms_to_ts(int64 ms);
/* statement time, truncated to the protocol's millisecond precision */
extern int64 mana_now_ms(void);

/* ---- table metadata (tablemeta.c) ---- */

typedef enum mana_col_role
{
	MANA_COL_FIELD,				/* an app column, synced per field */
	MANA_COL_ID,
	MANA_COL_OWNER,
	MANA_COL_EXTRA,				/* overflow jsonb for unknown fields */
	MANA_COL_UPDATED_AT,
	MANA_COL_DELETED_AT,		/* synced per field as "deletedAt" */
	MANA_COL_CLIENT_ID,
	MANA_COL_FIELD_TS,
	MANA_COL_VERSION,
	MANA_COL_SYNC_XID,
	MANA_COL_SKIP				/* generated columns: not written by sync */
} mana_col_role;

typedef struct mana_column
{
	AttrNumber	attnum;
	char	   *name;			/* column name */
	char	   *field;			/* client's field name (camelCase) */
	char	   *qname;			/* quoted column name */
	char	   *typname;		/* format_type_with_typemod, for casts */
	mana_col_role role;
	Oid			typid;
	int32		typmod;
	Oid			basetype;		/* domains resolved */
	Oid			elemtype;		/* element type of an array base, else 0 */
	char		typcategory;
	bool		notnull;
	bool		hasdefault;
	/* input conversion of the column type (and of its element, for arrays) */
	FmgrInfo	infunc;
	Oid			inioparam;
	FmgrInfo	elem_infunc;
	Oid			elem_ioparam;
	int16		elem_len;
	bool		elem_byval;
	char		elem_align;
	/* output conversion, and how values travel as write parameters */
	FmgrInfo	outfunc;
	Oid			param_type;		/* array type for a typed parameter, or TEXTARRAYOID */
	int16		typlen;
	bool		typbyval;
	char		typalign;
} mana_column;

typedef struct mana_table
{
	Oid			relid;
	char	   *app_id;
	char	   *collection;		/* table name as the client knows it */
	char	   *qualname;		/* quoted schema.table */
	int			ncols;
	mana_column *cols;			/* in attnum order, dropped columns left out */
	int			id_idx;			/* index into cols */
	int			owner_idx;
	int			extra_idx;		/* -1 without an extra jsonb column */
	int			deleted_idx;
	int			field_ts_idx;
	int			updated_idx;
	int			client_idx;
	int			version_idx;
	int			xid_idx;
	/*
	 * Whether the stored row is exactly what a write put there: no other
	 * trigger and no generated column can change it.  Only then may a push
	 * response leave out rows the pushing client already knows.
	 */
	bool		rows_are_plain;
	/* lookup of incoming field names: sorted by field name */
	int			nfieldmap;
	struct mana_fieldmap *fieldmap;
} mana_table;

typedef struct mana_fieldmap
{
	const char *name;
	int			col;
} mana_fieldmap;

extern mana_table *mana_table_lookup(const char *app_id, const char *collection,
									 bool missing_ok);
extern List *mana_app_collections(const char *app_id);
extern int	mana_table_find_field(mana_table *t, const char *field);

/* ---- JSON conversion (jsonconv.c) ---- */
extern void mana_json_datum(StringInfo out, Datum value, bool isnull,
							Oid typid);
extern void mana_json_col(StringInfo out, Datum value, bool isnull,
						  mana_column *col);
extern void mana_json_string(StringInfo out, const char *s);
extern void mana_json_ts(StringInfo out, int64 ms);
extern Datum mana_json_to_datum(mana_table *t, mana_column *col, JsonbValue *v,
								bool *isnull, int change_index,
								const char *field);
extern char *mana_jsonb_value_text(JsonbValue *v);
extern Jsonb *mana_json_finish(StringInfo buf);
extern Jsonb *mana_jsonb_set_pairs(Jsonb *base, int n, char **keys, JsonbValue *values);
extern void mana_jbv_ts(JsonbValue *v, int64 ms);

/* ---- the caller's identity (mana_sync.c) ---- */
extern char *mana_resolve_user(text *user_id);

/* ---- pull (pull.c) ---- */
typedef struct mana_delta_state
{
	mana_cursor since;			/* decoded since cursor */
	char	   *snap_text;		/* snapshot taken before the scans */
	mana_snapshot snap;
	int64		snap_ms;
} mana_delta_state;

extern void mana_parse_since(const char *since, mana_cursor *out);
extern void mana_take_snapshot(mana_delta_state *st);
/* appends changes (comma-separated, with leading comma when *first false) */
extern int	mana_delta_rows(StringInfo out, bool *first, mana_table *t,
							const char *user, const mana_cursor *since,
							int limit, uint64 *last_xid, char **last_id,
							HTAB *emitted, Datum exclude_ids);
extern int	mana_rows_by_id(StringInfo out, bool *first, mana_table *t,
							const char *user, List *ids);
extern char *mana_cursor_text(const mana_cursor *c);

/* ---- push worker counters in shared memory (shmem.c) ---- */
#include "port/atomics.h"

typedef enum mana_stat
{
	MANA_STAT_CONNECTIONS,		/* gauges */
	MANA_STAT_USERS,
	MANA_STAT_DATABASES,
	MANA_STAT_AUTH_FAILURES,	/* counters */
	MANA_STAT_NOTIFICATIONS,
	MANA_STAT_MESSAGES_SENT,
	MANA_STAT_HINTS_COALESCED,
	MANA_STAT_HINTS_DROPPED,
	MANA_STAT_LISTENER_RECONNECTS,
	MANA_STAT_CONNECTIONS_REFUSED,
	MANA_STAT_FRAMES_REFUSED,
	MANA_STAT_RING_HINTS,		/* hints taken from the commit_hook ring */
	MANA_STAT_RING_OVERFLOWS,	/* commits whose hints did not fit */
	MANA_STAT_RING_WAKEUPS,		/* commits that woke the worker */
	MANA_STAT_COUNT
} mana_stat;

typedef struct mana_stats
{
	pg_atomic_uint32 worker_pid;	/* 0: not running */
	pg_atomic_uint64 counters[MANA_STAT_COUNT];
} mana_stats;

extern mana_stats *mana_shared;
extern const char *const mana_stat_names[MANA_STAT_COUNT];
extern void mana_shmem_init(void);

/* ---- commit_hook intake (hintring.c) ---- */
typedef enum mana_notify_mode_t
{
	MANA_NOTIFY_NOTIFY,
	MANA_NOTIFY_COMMIT_HOOK
} mana_notify_mode_t;

extern int	mana_notify_mode;
extern void mana_hintring_define_settings(void);
extern void mana_hintring_preload_settings(void);
extern Size mana_hintring_shmem_size(void);
extern void mana_hintring_shmem_startup(void);
extern bool mana_hintring_active(void);
extern bool mana_hintring_record(const char *dbname, const char *payload);
extern int	mana_hintring_fd(void);
extern void mana_hintring_ack(void);
extern uint64 mana_hintring_drain(void (*deliver) (const char *payload, size_t len),
								  void (*broadcast) (const char *dbname), bool may_sleep);
extern bool mana_hintring_pending(void);

/* ---- trigger (trigger.c) ---- */
extern Oid	mana_apply_relid;	/* table being written by apply, or 0 */

#define MANA_MAX_ID_LEN 256
#define MANA_MAX_USER_LEN 256
#define MANA_MAX_CLIENT_LEN 128

#endif
