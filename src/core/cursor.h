/*
 * cursor.h
 *     Sync cursor tokens (pure C).
 *
 * A cursor tells the server exactly which committed changes a client has
 * already been given.  Clients compare cursors as strings against
 * toISOString() output, so every cursor starts with an ISO-8601 UTC instant;
 * what the server needs follows a '#':
 *
 *   ISO                               bare timestamp (legacy clients): the
 *                                     base is "rows written at or after ISO"
 *   ISO#SNAP                          base is a snapshot: delivered are all
 *                                     rows whose last writer is visible in SNAP
 *   ISO#BASE~PAGESNAP~LASTXID~LASTID  a pull cut at max_changes: BASE is "t"
 *                                     (timestamp base) or SNAP; PAGESNAP the
 *                                     snapshot of the first page (becomes the
 *                                     next base); (LASTXID, LASTID) the
 *                                     position of the last row sent, LASTID
 *                                     base64url of the id's text
 *
 * SNAP is pg_snapshot's text form "xmin:xmax:xip,xip,...", xip ascending,
 * each in [xmin, xmax).  All numbers are unsigned decimal without leading
 * '+' or blanks, and fit in 64 bits.
 */
#ifndef MANA_CURSOR_H
#define MANA_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Refuse longer tokens outright (a snapshot of ~60k running xids). */
#define MANA_CURSOR_MAX_LEN (1024 * 1024)
/* Longest last id a cursor may carry (an id of 256 bytes plus the collection). */
#define MANA_CURSOR_MAX_ID 1024

typedef void *(*mana_alloc_fn) (size_t size);

typedef struct mana_snapshot
{
	uint64_t	xmin;
	uint64_t	xmax;
	uint32_t	nxip;
	uint64_t   *xip;			/* nxip entries, ascending */
} mana_snapshot;

typedef struct mana_cursor
{
	int64_t		ts_ms;			/* the ISO prefix */
	bool		has_snap;		/* base is a snapshot (else timestamp ts_ms) */
	mana_snapshot snap;
	bool		has_page;		/* a paged pull is under way */
	mana_snapshot page;
	uint64_t	last_xid;
	char	   *last_id;		/* NUL-terminated, may contain any byte but NUL */
	size_t		last_id_len;
} mana_cursor;

/*
 * Parse a snapshot "xmin:xmax:xip,..." (the whole of s).  xip is allocated
 * with alloc (not called when nxip is 0; then xip is NULL).  Returns 0 or -1.
 */
extern int	mana_snapshot_parse(const char *s, size_t len, mana_snapshot *out,
								mana_alloc_fn alloc);

/* Writes the text form; snprintf-like: returns the length it needs. */
extern size_t mana_snapshot_format(const mana_snapshot *snap, char *buf, size_t buflen);

/* true if xid counts as committed in snap (pg_visible_in_snapshot rules) */
extern bool mana_snapshot_visible(const mana_snapshot *snap, uint64_t xid);

/*
 * Make xid count as visible in snap without making anything else visible:
 * an xid in xip is dropped from it; an xid at or past xmax moves xmax to
 * xid + 1 and puts every xid in [old xmax, xid) into xip (they had not
 * completed when the snapshot was taken).  A transaction uses this for its
 * own xid, which PostgreSQL leaves out of its snapshots.  Refuses (-1,
 * snap untouched) when more than max_added xids would be added or on
 * overflow; 0 on success (also when xid was visible already).  A new xip
 * array is allocated with alloc.
 */
extern int	mana_snapshot_include(mana_snapshot *snap, uint64_t xid, uint32_t max_added,
								  mana_alloc_fn alloc);

/*
 * Decode a whole cursor token.  Strings and arrays are allocated with alloc.
 * A last id that decodes to bytes containing NUL, is empty or longer than
 * MANA_CURSOR_MAX_ID is refused.  Returns 0 or -1 (out is then unspecified).
 */
extern int	mana_cursor_decode(const char *s, size_t len, mana_cursor *out,
							   mana_alloc_fn alloc);

/* Encode; snprintf-like: returns the length needed (excluding NUL). */
extern size_t mana_cursor_encode(const mana_cursor *c, char *buf, size_t buflen);

#endif
