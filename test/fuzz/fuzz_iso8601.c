/*
 * fuzz_iso8601.c
 *     libFuzzer harness for src/iso8601.c.
 *
 * The input is an ISO-8601 candidate.  A successful parse must give a value
 * in range that formats to 24 characters which parse back to the same
 * milliseconds; a canonical input ("YYYY-MM-DDTHH:MM:SS.mmmZ") must format
 * back to itself byte for byte.  A failed parse must leave *ms_out alone.
 * The first 8 bytes are also read as an int64 and formatted: in range it
 * must round-trip, out of range it must fail with an empty buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iso8601.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENTINEL INT64_C(0x5a5a5a5a5a5a5a5a)

static void
check_format_roundtrip(int64_t ms)
{
	char		buf[MANA_ISO_BUFLEN];
	int64_t		back = SENTINEL;

	memset(buf, 'x', sizeof(buf));
	if (mana_iso8601_format(ms, buf) != 24)
		abort();
	if (strlen(buf) != 24)
		abort();
	if (mana_iso8601_parse(buf, 24, &back) != 0)
		abort();
	if (back != ms)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy, so ASan sees any read past len */
	char	   *s = malloc(size ? size : 1);
	int64_t		ms = SENTINEL;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);

	if (mana_iso8601_parse(s, size, &ms) == 0)
	{
		char		buf[MANA_ISO_BUFLEN];

		if (ms < MANA_ISO_MIN_MS || ms > MANA_ISO_MAX_MS)
			abort();
		check_format_roundtrip(ms);
		/* canonical form formats back to the very same text */
		if (size == 24 && s[19] == '.' && s[23] == 'Z')
		{
			if (mana_iso8601_format(ms, buf) != 24 || memcmp(buf, s, 24) != 0)
				abort();
		}
	}
	else if (ms != SENTINEL)
		abort();				/* failure must leave *ms_out untouched */

	/* the formatter on an arbitrary int64 */
	if (size >= 8)
	{
		uint64_t	u = 0;
		int64_t		v;
		size_t		i;

		for (i = 0; i < 8; i++)
			u = (u << 8) | data[i];
		/* half the time fold into (around) the valid range */
		if (u & 1)
			v = (int64_t) (u % (uint64_t) (MANA_ISO_MAX_MS - MANA_ISO_MIN_MS + 3))
				+ MANA_ISO_MIN_MS - 1;
		else
			v = (int64_t) u;
		if (v >= MANA_ISO_MIN_MS && v <= MANA_ISO_MAX_MS)
			check_format_roundtrip(v);
		else
		{
			char		buf[MANA_ISO_BUFLEN];

			memset(buf, 'x', sizeof(buf));
			if (mana_iso8601_format(v, buf) != -1 || buf[0] != '\0')
				abort();
		}
	}
	free(s);
	return 0;
}
