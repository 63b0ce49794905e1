/*
 * tablemeta.h
 *     Registered tables as the sync code sees them (tablemeta.c): columns,
 *     their roles and conversions, looked up by app and collection.
 */
#ifndef MANA_TABLEMETA_H
#define MANA_TABLEMETA_H

#include "access/attnum.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

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

#endif
