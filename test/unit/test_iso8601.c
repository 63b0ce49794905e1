/*
 * test_iso8601.c
 *     cmocka tests of iso8601.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iso8601.h"

#define DAY_MS INT64_C(86400000)

/*
 * Parse str from a heap copy of exactly strlen(str) bytes, no NUL, so that
 * ASan catches any read past len.
 */
static int
parse_exact(const char *str, int64_t *out)
{
	size_t		len = strlen(str);
	char	   *copy = malloc(len ? len : 1);
	int			rc;

	assert_non_null(copy);
	memcpy(copy, str, len);
	rc = mana_iso8601_parse(copy, len, out);
	free(copy);
	return rc;
}

static void
expect_ms(const char *str, int64_t expected)
{
	int64_t		got = INT64_C(0x5555555555555555);

	if (parse_exact(str, &got) != 0)
		fail_msg("refused valid \"%s\"", str);
	if (got != expected)
		fail_msg("\"%s\": got %lld, expected %lld", str,
				 (long long) got, (long long) expected);
}

static void
expect_refused(const char *str)
{
	int64_t		sentinel = INT64_C(0x1234567887654321);
	int64_t		got = sentinel;

	if (parse_exact(str, &got) != -1)
		fail_msg("accepted invalid \"%s\" (as %lld)", str, (long long) got);
	/* *ms_out is untouched on error */
	assert_true(got == sentinel);
}

static void
expect_format(int64_t ms, const char *expected)
{
	char		buf[MANA_ISO_BUFLEN];

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mana_iso8601_format(ms, buf), 24);
	assert_string_equal(buf, expected);
}

/* ------------------------------------------------------------------ */

static void
test_epoch_and_known_values(void **state)
{
	(void) state;
	expect_ms("1970-01-01T00:00:00.000Z", 0);
	expect_ms("1970-01-01T00:00:00Z", 0);
	expect_ms("1970-01-01T00:00:00.001Z", 1);
	expect_ms("1970-01-02T00:00:00.000Z", DAY_MS);
	expect_ms("1969-12-31T23:59:59.999Z", -1);
	expect_ms("1969-12-31T00:00:00.000Z", -DAY_MS);
	expect_ms("2024-03-01T12:34:56.789Z", INT64_C(1709296496789));
	expect_ms("2038-01-19T03:14:07.000Z", INT64_C(2147483647000));
	expect_ms("1969-07-20T20:17:40.000Z", INT64_C(-14182940000));
	expect_ms("1900-03-01T00:00:00.000Z", INT64_C(-2203891200000));
	expect_ms("1583-10-15T00:00:00.000Z", INT64_C(-12187756800000));
	expect_ms("0001-01-01T00:00:00.000Z", INT64_C(-62135596800000));
}

static void
test_leap_years(void **state)
{
	(void) state;
	/* 2000: divisible by 400, leap */
	expect_ms("2000-02-29T23:59:59.999Z", INT64_C(951868799999));
	expect_ms("2000-03-01T00:00:00.000Z", INT64_C(951868800000));
	/* 2024: ordinary leap year */
	expect_ms("2024-02-29T00:00:00.000Z", INT64_C(1709164800000));
	/* 1600: divisible by 400 */
	expect_ms("1600-02-29T12:00:00.000Z", INT64_C(-11670955200000));
	/* year 4 and year 0 are leap years */
	expect_ms("0004-02-29T00:00:00.000Z", INT64_C(-62035891200000));
	expect_ms("0000-02-29T00:00:00.000Z", MANA_ISO_MIN_MS + 59 * DAY_MS);
	expect_ms("0000-12-31T00:00:00.000Z", MANA_ISO_MIN_MS + 365 * DAY_MS);
	/* not leap: 1900, 2100 (century), 2023, 2025 */
	expect_refused("1900-02-29T00:00:00.000Z");
	expect_refused("2100-02-29T00:00:00.000Z");
	expect_refused("2023-02-29T00:00:00.000Z");
	expect_refused("2025-02-29T00:00:00.000Z");
	expect_refused("0001-02-29T00:00:00.000Z");
	expect_refused("0000-02-30T00:00:00.000Z");
	expect_refused("2024-02-30T00:00:00.000Z");
	expect_ms("1900-02-28T00:00:00.000Z", INT64_C(-2203891200000) - DAY_MS);
}

static void
test_month_lengths(void **state)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	char		s[64];
	int			m;
	int64_t		v;

	(void) state;
	for (m = 1; m <= 12; m++)
	{
		snprintf(s, sizeof(s), "2023-%02d-%02dT00:00:00.000Z", m, dim[m - 1]);
		assert_int_equal(parse_exact(s, &v), 0);
		snprintf(s, sizeof(s), "2023-%02d-%02dT00:00:00.000Z", m, dim[m - 1] + 1);
		expect_refused(s);
		snprintf(s, sizeof(s), "2023-%02d-00T00:00:00.000Z", m);
		expect_refused(s);
	}
	expect_refused("2023-04-31T00:00:00.000Z");
	expect_refused("2023-06-31T00:00:00.000Z");
	expect_refused("2023-09-31T00:00:00.000Z");
	expect_refused("2023-11-31T00:00:00.000Z");
	expect_refused("2023-01-32T00:00:00.000Z");
	expect_refused("2023-00-10T00:00:00.000Z");
	expect_refused("2023-13-10T00:00:00.000Z");
	expect_refused("2023-99-99T00:00:00.000Z");
}

static void
test_range_bounds(void **state)
{
	(void) state;
	expect_ms("0000-01-01T00:00:00.000Z", MANA_ISO_MIN_MS);
	expect_ms("0000-01-01T00:00:00Z", MANA_ISO_MIN_MS);
	expect_ms("9999-12-31T23:59:59.999Z", MANA_ISO_MAX_MS);
	expect_ms("9999-12-31T23:59:59.999999999Z", MANA_ISO_MAX_MS);
	/* the offset may pull an in-range wall clock out of range ... */
	expect_refused("0000-01-01T00:59:59.999+01:00");
	expect_refused("0000-01-01T00:00:00.000+00:01");
	expect_refused("9999-12-31T23:59:59.999-00:01");
	expect_refused("9999-12-31T23:00:00.000-01:00");
	/* ... or keep it in */
	expect_ms("0000-01-01T00:00:00.000-00:01", MANA_ISO_MIN_MS + 60000);
	expect_ms("0000-01-01T01:00:00.000+01:00", MANA_ISO_MIN_MS);
	expect_ms("9999-12-31T23:59:59.999+00:01", MANA_ISO_MAX_MS - 60000);
	expect_ms("9999-12-31T22:59:59.999-01:00", MANA_ISO_MAX_MS);
	expect_ms("9999-12-31T23:59:59.999+00:00", MANA_ISO_MAX_MS);
	expect_ms("9999-12-31T23:59:59.999-00:00", MANA_ISO_MAX_MS);
}

static void
test_fraction(void **state)
{
	(void) state;
	expect_ms("1970-01-01T00:00:00.1Z", 100);
	expect_ms("1970-01-01T00:00:00.12Z", 120);
	expect_ms("1970-01-01T00:00:00.123Z", 123);
	expect_ms("1970-01-01T00:00:00.1239Z", 123);
	expect_ms("1970-01-01T00:00:00.12399Z", 123);
	expect_ms("1970-01-01T00:00:00.123999Z", 123);
	expect_ms("1970-01-01T00:00:00.1239999Z", 123);
	expect_ms("1970-01-01T00:00:00.12399999Z", 123);
	expect_ms("1970-01-01T00:00:00.999999999Z", 999);
	expect_ms("1970-01-01T00:00:00.000000000Z", 0);
	expect_ms("1970-01-01T00:00:00.000000001Z", 0);
	/* truncation, not rounding, also before 1970 */
	expect_ms("1969-12-31T23:59:59.9999Z", -1);
	expect_ms("1969-12-31T23:59:59.0009Z", -1000);
	expect_ms("1970-01-01T00:00:00.5+00:00", 500);
	expect_ms("1970-01-01T00:00:00.123456789-0000", 123);
	/* more than 9 digits, no digits, bad digits */
	expect_refused("1970-01-01T00:00:00.1234567890Z");
	expect_refused("1970-01-01T00:00:00.0000000000Z");
	expect_refused("1970-01-01T00:00:00.123456789012345678901234567890Z");
	expect_refused("1970-01-01T00:00:00.Z");
	expect_refused("1970-01-01T00:00:00.");
	expect_refused("1970-01-01T00:00:00.+01:00");
	expect_refused("1970-01-01T00:00:00,123Z");
	expect_refused("1970-01-01T00:00:00.12a3Z");
	expect_refused("1970-01-01T00:00:00..123Z");
	expect_refused("1970-01-01T00:00:00.-1Z");
	expect_refused("1970-01-01T00:00:00.123");
}

static void
test_offsets(void **state)
{
	(void) state;
	expect_ms("1970-01-01T01:00:00.000+01:00", 0);
	expect_ms("1970-01-01T01:00:00.000+0100", 0);
	expect_ms("1969-12-31T23:00:00.000-01:00", 0);
	expect_ms("1969-12-31T23:00:00.000-0100", 0);
	expect_ms("1970-01-01T05:30:00+05:30", 0);
	expect_ms("1969-12-31T14:15:00-09:45", 0);
	/* crossing day, month, year and leap-day boundaries */
	expect_ms("2024-01-01T00:30:00.000+01:00", INT64_C(1704067200000) - 30 * 60000);
	expect_ms("2023-12-31T23:30:00.000-01:00", INT64_C(1704067200000) + 30 * 60000);
	expect_ms("2024-03-01T00:00:00.000+23:59",
			  INT64_C(1709164800000) + DAY_MS - (23 * 3600000 + 59 * 60000));
	expect_ms("2024-02-28T23:59:59.999-23:59",
			  INT64_C(1709164800000) - 1 + 23 * 3600000 + 59 * 60000);
	expect_ms("2000-02-29T23:00:00-01:00", INT64_C(951868800000));
	expect_ms("1970-01-01T00:00:00+23:59", -(23 * 3600000 + 59 * 60000));
	expect_ms("1970-01-01T00:00:00-23:59", (23 * 3600000 + 59 * 60000));
	expect_ms("1970-01-01T00:00:00+00:00", 0);
	expect_ms("1970-01-01T00:00:00-0000", 0);

	expect_refused("1970-01-01T00:00:00+24:00");
	expect_refused("1970-01-01T00:00:00-24:00");
	expect_refused("1970-01-01T00:00:00+2400");
	expect_refused("1970-01-01T00:00:00+99:00");
	expect_refused("1970-01-01T00:00:00+00:60");
	expect_refused("1970-01-01T00:00:00+0060");
	expect_refused("1970-01-01T00:00:00+01");
	expect_refused("1970-01-01T00:00:00+1");
	expect_refused("1970-01-01T00:00:00+");
	expect_refused("1970-01-01T00:00:00-");
	expect_refused("1970-01-01T00:00:00+1:00");
	expect_refused("1970-01-01T00:00:00+01:0");
	expect_refused("1970-01-01T00:00:00+010");
	expect_refused("1970-01-01T00:00:00+01000");
	expect_refused("1970-01-01T00:00:00+01:000");
	expect_refused("1970-01-01T00:00:00+01:00:00");
	expect_refused("1970-01-01T00:00:00+01-00");
	expect_refused("1970-01-01T00:00:00+01;00");
	expect_refused("1970-01-01T00:00:00+0a:00");
	expect_refused("1970-01-01T00:00:00+01:0a");
	expect_refused("1970-01-01T00:00:00++01:00");
	expect_refused("1970-01-01T00:00:00Z+01:00");
	expect_refused("1970-01-01T00:00:00+01:00Z");
	expect_refused("1970-01-01T00:00:00 +01:00");
	expect_refused("1970-01-01T00:00:00UTC");
	expect_refused("1970-01-01T00:00:00GMT");
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"Z",
		"1970",
		"1970-01-01",
		"1970-01-01T",
		"1970-01-01T00:00",
		"1970-01-01T00:00Z",
		"1970-01-01T00:00:00",
		"1970-01-01T00:00:00.000",
		"1970-01-01t00:00:00.000Z",
		"1970-01-01T00:00:00.000z",
		"1970-01-01 00:00:00.000Z",
		"1970-01-01_00:00:00.000Z",
		" 1970-01-01T00:00:00.000Z",
		"1970-01-01T00:00:00.000Z ",
		"1970-01-01T00:00:00.000Z\n",
		"1970-01-01T00:00:00.000ZZ",
		"1970-01-01T00:00:00.000Zx",
		"+1970-01-01T00:00:00.000Z",
		"-1970-01-01T00:00:00.000Z",
		"+001970-01-01T00:00:00.000Z",
		"-000001-01-01T00:00:00.000Z",
		"10000-01-01T00:00:00.000Z",
		"197-01-01T00:00:00.000Z",
		"1970-1-01T00:00:00.000Z",
		"1970-01-1T00:00:00.000Z",
		"1970-01-01T0:00:00.000Z",
		"1970-01-01T00:0:00.000Z",
		"1970-01-01T00:00:0.000Z",
		"1970/01/01T00:00:00.000Z",
		"19700101T000000.000Z",
		"1970-01-01T000000Z",
		"1970-01-01T00.00.00Z",
		"197a-01-01T00:00:00.000Z",
		"1970-0a-01T00:00:00.000Z",
		"1970-01-01T24:00:00.000Z",
		"1970-01-01T23:60:00.000Z",
		"1970-01-01T23:59:60.000Z",
		"1970-01-01T99:99:99.000Z",
		"1970-01-01T-1:00:00.000Z",
		"1970-01-01T 1:00:00.000Z",
		"1970-01-01T00:00:00:000Z",
		"1970-01-01T00:00:00.000+",
		("\xef\xbc\x91" "970-01-01T00:00:00.000Z"), /* fullwidth 1 */
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
}

static void
test_embedded_nul_and_length(void **state)
{
	static const char good[] = "2024-03-01T12:34:56.789Z";
	char		buf[64];
	int64_t		v = 0;
	size_t		i;

	(void) state;
	/* explicit length: bytes past len are never looked at */
	memcpy(buf, good, sizeof(good));
	memcpy(buf + 24, "garbage", 7);
	assert_int_equal(mana_iso8601_parse(buf, 24, &v), 0);
	assert_true(v == INT64_C(1709296496789));
	/* an embedded NUL is just a bad character */
	memcpy(buf, good, sizeof(good));
	buf[23] = '\0';
	assert_int_equal(mana_iso8601_parse(buf, 24, &v), -1);
	buf[23] = 'Z';
	buf[19] = '\0';
	assert_int_equal(mana_iso8601_parse(buf, 24, &v), -1);
	/* no proper prefix of a valid string is valid (exact-size heap copies) */
	for (i = 0; i < 24; i++)
	{
		char	   *p = malloc(i ? i : 1);

		assert_non_null(p);
		memcpy(p, good, i);
		assert_int_equal(mana_iso8601_parse(p, i, &v), -1);
		free(p);
	}
	{
		static const char off[] = "2024-03-01T12:34:56.123456789+05:45";

		for (i = 0; i < sizeof(off) - 1; i++)
		{
			char	   *p = malloc(i ? i : 1);

			assert_non_null(p);
			memcpy(p, off, i);
			assert_int_equal(mana_iso8601_parse(p, i, &v), -1);
			free(p);
		}
	}
	/* NULL arguments */
	assert_int_equal(mana_iso8601_parse(NULL, 0, &v), -1);
	assert_int_equal(mana_iso8601_parse(good, 24, NULL), -1);
}

static void
test_format_values(void **state)
{
	char		buf[MANA_ISO_BUFLEN];

	(void) state;
	expect_format(0, "1970-01-01T00:00:00.000Z");
	expect_format(1, "1970-01-01T00:00:00.001Z");
	expect_format(-1, "1969-12-31T23:59:59.999Z");
	expect_format(-999, "1969-12-31T23:59:59.001Z");
	expect_format(-1000, "1969-12-31T23:59:59.000Z");
	expect_format(-1001, "1969-12-31T23:59:58.999Z");
	expect_format(-DAY_MS, "1969-12-31T00:00:00.000Z");
	expect_format(-DAY_MS - 1, "1969-12-30T23:59:59.999Z");
	expect_format(-DAY_MS + 1, "1969-12-31T00:00:00.001Z");
	expect_format(INT64_C(-14182940000), "1969-07-20T20:17:40.000Z");
	expect_format(INT64_C(1709296496789), "2024-03-01T12:34:56.789Z");
	expect_format(INT64_C(1709164800000), "2024-02-29T00:00:00.000Z");
	expect_format(INT64_C(951868799999), "2000-02-29T23:59:59.999Z");
	expect_format(INT64_C(-2203891200000), "1900-03-01T00:00:00.000Z");
	expect_format(INT64_C(-2203891200000) - 1, "1900-02-28T23:59:59.999Z");
	expect_format(INT64_C(-62135596800000), "0001-01-01T00:00:00.000Z");
	expect_format(INT64_C(-62135596800000) - 1, "0000-12-31T23:59:59.999Z");
	expect_format(MANA_ISO_MIN_MS, "0000-01-01T00:00:00.000Z");
	expect_format(MANA_ISO_MIN_MS + 59 * DAY_MS, "0000-02-29T00:00:00.000Z");
	expect_format(MANA_ISO_MAX_MS, "9999-12-31T23:59:59.999Z");
	expect_format(INT64_C(2147483647000), "2038-01-19T03:14:07.000Z");

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mana_iso8601_format(MANA_ISO_MIN_MS - 1, buf), -1);
	assert_string_equal(buf, "");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mana_iso8601_format(MANA_ISO_MAX_MS + 1, buf), -1);
	assert_string_equal(buf, "");
	assert_int_equal(mana_iso8601_format(INT64_MIN, buf), -1);
	assert_int_equal(mana_iso8601_format(INT64_MAX, buf), -1);
	assert_int_equal(mana_iso8601_format(0, NULL), -1);
}

/*
 * Every day from 0000-01-01 to 9999-12-31, against an independent
 * day-by-day calendar counter: format, check the date, parse back.
 */
static void
test_every_day_round_trip(void **state)
{
	int			y = 0,
				m = 1,
				d = 1;
	int64_t		day;
	int64_t		first = MANA_ISO_MIN_MS / DAY_MS;
	int64_t		last = MANA_ISO_MAX_MS / DAY_MS;
	char		buf[MANA_ISO_BUFLEN];
	char		expect[48];

	(void) state;
	assert_true(first * DAY_MS == MANA_ISO_MIN_MS);
	for (day = first; day <= last; day++)
	{
		static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		int64_t		ms = day * DAY_MS + (int64_t) ((uint64_t) (day * 7919) % (uint64_t) DAY_MS);
		int64_t		back = 0;
		int			leap = (y % 4 == 0) && (y % 100 != 0 || y % 400 == 0);

		assert_int_equal(mana_iso8601_format(ms, buf), 24);
		snprintf(expect, sizeof(expect), "%04d-%02d-%02d", y, m, d);
		if (memcmp(buf, expect, 10) != 0)
			fail_msg("day %lld formatted as %s, expected %s", (long long) day, buf, expect);
		assert_int_equal(mana_iso8601_parse(buf, 24, &back), 0);
		if (back != ms)
			fail_msg("round trip of %s: %lld != %lld", buf, (long long) back, (long long) ms);

		/* also the first and last millisecond of the day */
		assert_int_equal(mana_iso8601_format(day * DAY_MS, buf), 24);
		assert_int_equal(mana_iso8601_parse(buf, 24, &back), 0);
		assert_true(back == day * DAY_MS);
		assert_int_equal(mana_iso8601_format(day * DAY_MS + DAY_MS - 1, buf), 24);
		assert_memory_equal(buf + 10, "T23:59:59.999Z", 14);
		assert_int_equal(mana_iso8601_parse(buf, 24, &back), 0);
		assert_true(back == day * DAY_MS + DAY_MS - 1);

		/* advance the reference calendar */
		d++;
		if (d > dim[m - 1] + (m == 2 && leap))
		{
			d = 1;
			m++;
			if (m > 12)
			{
				m = 1;
				y++;
			}
		}
	}
	assert_int_equal(y, 10000);
}

/* pseudo-random instants: format(parse(x)) == x and parse(format(ms)) == ms */
static void
test_random_round_trip(void **state)
{
	uint64_t	rng = UINT64_C(0x9E3779B97F4A7C15);
	uint64_t	span = (uint64_t) (MANA_ISO_MAX_MS - MANA_ISO_MIN_MS) + 1;
	int			i;

	(void) state;
	for (i = 0; i < 200000; i++)
	{
		int64_t		ms,
					back = 0;
		char		buf[MANA_ISO_BUFLEN];
		char		buf2[MANA_ISO_BUFLEN];

		rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		ms = MANA_ISO_MIN_MS + (int64_t) ((rng >> 11) % span);
		assert_int_equal(mana_iso8601_format(ms, buf), 24);
		assert_int_equal(mana_iso8601_parse(buf, 24, &back), 0);
		assert_true(back == ms);
		assert_int_equal(mana_iso8601_format(back, buf2), 24);
		assert_string_equal(buf, buf2);
	}
}

/* the same instant written with an offset parses to the same ms */
static void
test_offset_equivalence(void **state)
{
	static const char *const same[] = {
		"2024-03-01T00:15:30.250Z",
		"2024-03-01T01:15:30.250+01:00",
		"2024-03-01T01:15:30.250+0100",
		"2024-02-29T23:15:30.250-01:00",
		"2024-02-29T23:15:30.250-0100",
		"2024-03-01T05:45:30.250+05:30",
		"2024-02-29T14:30:30.250-09:45",
		"2024-03-01T23:59:30.250+23:44",
		"2024-02-29T00:31:30.250-23:44",
		"2024-03-01T00:15:30.250999999Z",
	};
	int64_t		ref = 0;
	size_t		i;
	char		buf[MANA_ISO_BUFLEN];

	(void) state;
	assert_int_equal(parse_exact(same[0], &ref), 0);
	for (i = 1; i < sizeof(same) / sizeof(same[0]); i++)
		expect_ms(same[i], ref);
	assert_int_equal(mana_iso8601_format(ref, buf), 24);
	assert_string_equal(buf, same[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_and_known_values),
		cmocka_unit_test(test_leap_years),
		cmocka_unit_test(test_month_lengths),
		cmocka_unit_test(test_range_bounds),
		cmocka_unit_test(test_fraction),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_embedded_nul_and_length),
		cmocka_unit_test(test_format_values),
		cmocka_unit_test(test_every_day_round_trip),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_offset_equivalence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
