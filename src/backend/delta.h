/*
 * delta.h
 *     Deltas: the rows a user may see that changed after a cursor
 *     (delta.c), used by mana_pull and by the answer of mana_apply_changeset.
 */
#ifndef MANA_DELTA_H
#define MANA_DELTA_H

#include "lib/stringinfo.h"
#include "utils/hsearch.h"

#include "core/cursor.h"
#include "tablemeta.h"

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

#endif
