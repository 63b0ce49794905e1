/*
 * lww.h
 *     The per-field last-write-wins rule (pure C).
 *
 * A field changes only when the incoming timestamp is newer than the stored
 * one.  On equal timestamps the greater value wins, comparing the canonical
 * JSON bytes of both values (memcmp order, then the longer wins), so every
 * replica picks the same winner whatever the arrival order.  Equal timestamp
 * and equal bytes is the same write seen twice: nothing changes.  A field
 * without a stored timestamp (a row written before sync was enabled, or a
 * field never written through sync) loses to any incoming write.
 */
#ifndef MANA_LWW_H
#define MANA_LWW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mana_lww_result
{
	MANA_LWW_INCOMING,			/* incoming value and timestamp win */
	MANA_LWW_STORED,			/* stored wins: the incoming field lost */
	MANA_LWW_SAME				/* identical write: nothing to do */
} mana_lww_result;

/*
 * Timestamp-only part: returns <0, 0, >0 as incoming is older, equal, newer
 * (a missing stored timestamp counts as older than anything).
 */
extern int	mana_lww_cmp_ts(int64_t in_ts, bool has_stored, int64_t stored_ts);

/* Tie-break of two canonical JSON texts at equal timestamps. */
extern mana_lww_result mana_lww_tiebreak(const char *in_val, size_t in_len,
										 const char *st_val, size_t st_len);

/* The whole rule. Values are only read when the timestamps are equal. */
extern mana_lww_result mana_lww_decide(int64_t in_ts, bool has_stored, int64_t stored_ts,
									   const char *in_val, size_t in_len,
									   const char *st_val, size_t st_len);

#endif
