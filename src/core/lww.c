/*
 * lww.c
 *     The per-field last-write-wins rule (pure C).
 */
#include <string.h>

#include "lww.h"

int
mana_lww_cmp_ts(int64_t in_ts, bool has_stored, int64_t stored_ts)
{
	if (!has_stored)
		return 1;
	if (in_ts < stored_ts)
		return -1;
	if (in_ts > stored_ts)
		return 1;
	return 0;
}

mana_lww_result
mana_lww_tiebreak(const char *in_val, size_t in_len,
				  const char *st_val, size_t st_len)
{
	size_t		n = in_len < st_len ? in_len : st_len;

	if (n > 0)
	{
		int			c = memcmp(in_val, st_val, n);

		if (c > 0)
			return MANA_LWW_INCOMING;
		if (c < 0)
			return MANA_LWW_STORED;
	}
	if (in_len > st_len)
		return MANA_LWW_INCOMING;
	if (in_len < st_len)
		return MANA_LWW_STORED;
	return MANA_LWW_SAME;
}

mana_lww_result
mana_lww_decide(int64_t in_ts, bool has_stored, int64_t stored_ts,
				const char *in_val, size_t in_len,
				const char *st_val, size_t st_len)
{
	int			c = mana_lww_cmp_ts(in_ts, has_stored, stored_ts);

	if (c > 0)
		return MANA_LWW_INCOMING;
	if (c < 0)
		return MANA_LWW_STORED;
	return mana_lww_tiebreak(in_val, in_len, st_val, st_len);
}
