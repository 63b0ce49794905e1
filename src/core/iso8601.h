/*
 * iso8601.h
 *     ISO-8601 instants as JavaScript's Date.prototype.toISOString() writes
 *     them, held as milliseconds since the Unix epoch.
 *
 * Pure C (libc only): no PostgreSQL headers, no longjmp, no allocation.
 * Millisecond precision is the wire precision of the sync protocol; extra
 * fractional digits are accepted and truncated.
 */
#ifndef MANA_ISO8601_H
#define MANA_ISO8601_H

#include <stddef.h>
#include <stdint.h>

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
#define MANA_ISO_MIN_MS  INT64_C(-62167219200000)
#define MANA_ISO_MAX_MS  INT64_C(253402300799999)

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL */
#define MANA_ISO_BUFLEN 25

/*
 * Parse "YYYY-MM-DDTHH:MM:SS[.f+](Z|+HH:MM|-HH:MM|+HHMM|-HHMM)" exactly
 * (no leading/trailing blanks, 'T' required, zone required).  Impossible
 * dates (Feb 30, hour 24, second 60, month 13) are refused.  The result,
 * after applying the offset, must lie in [MANA_ISO_MIN_MS, MANA_ISO_MAX_MS].
 * Returns 0 on success, -1 on any error (then *ms_out is untouched).
 */
extern int	mana_iso8601_parse(const char *s, size_t len, int64_t *ms_out);

/*
 * Format as "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars) into buf (at least
 * MANA_ISO_BUFLEN bytes), NUL-terminated.  Returns 24, or -1 when ms is out
 * of range (buf then holds an empty string).
 */
extern int	mana_iso8601_format(int64_t ms, char *buf);

#endif
