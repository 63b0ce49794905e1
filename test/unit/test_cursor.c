/*
 * test_cursor.c
 *     cmocka tests of cursor.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "cursor.h"
#include "iso8601.h"

#define ISO "2024-03-01T12:34:56.789Z"
#define ISO_MS INT64_C(1709296496789)

/* ------------------------------------------------ a tracking allocator */

#define MAX_ALLOCS 64
static void *allocs[MAX_ALLOCS];
static size_t nallocs;
static size_t alloc_calls;

static void *
track_alloc(size_t size)
{
	void	   *p;

	alloc_calls++;
	assert_true(size > 0);
	assert_true(nallocs < MAX_ALLOCS);
	p = malloc(size);
	assert_non_null(p);
	allocs[nallocs++] = p;
	return p;
}

static void *
null_alloc(size_t size)
{
	(void) size;
	alloc_calls++;
	return NULL;
}

static void
free_all(void)
{
	while (nallocs > 0)
		free(allocs[--nallocs]);
}

static int
reset(void **state)
{
	(void) state;
	free_all();
	alloc_calls = 0;
	return 0;
}

/* copies into an exact-size heap buffer so that ASan sees overreads */
static char *
exact_copy(const char *s, size_t len)
{
	char	   *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static int
snap_parse(const char *s, mana_snapshot *out)
{
	size_t		len = strlen(s);
	char	   *p = exact_copy(s, len);
	int			rc = mana_snapshot_parse(p, len, out, track_alloc);

	free(p);
	return rc;
}

static int
cursor_decode_len(const char *s, size_t len, mana_cursor *out)
{
	char	   *p = exact_copy(s, len);
	int			rc = mana_cursor_decode(p, len, out, track_alloc);

	free(p);
	return rc;
}

static int
cursor_decode(const char *s, mana_cursor *out)
{
	return cursor_decode_len(s, strlen(s), out);
}

static void
snap_equal(const mana_snapshot *a, const mana_snapshot *b)
{
	assert_true(a->xmin == b->xmin);
	assert_true(a->xmax == b->xmax);
	assert_int_equal(a->nxip, b->nxip);
	if (a->nxip)
		assert_memory_equal(a->xip, b->xip, a->nxip * sizeof(uint64_t));
}

static void
cursor_equal(const mana_cursor *a, const mana_cursor *b)
{
	assert_true(a->ts_ms == b->ts_ms);
	assert_int_equal(a->has_snap, b->has_snap);
	if (a->has_snap)
		snap_equal(&a->snap, &b->snap);
	assert_int_equal(a->has_page, b->has_page);
	if (a->has_page)
	{
		snap_equal(&a->page, &b->page);
		assert_true(a->last_xid == b->last_xid);
		assert_int_equal(a->last_id_len, b->last_id_len);
		assert_memory_equal(a->last_id, b->last_id, a->last_id_len);
		assert_int_equal(b->last_id[b->last_id_len], '\0');
	}
}

/* encode into a malloc'd string of the exact needed size */
static char *
encode_alloc(const mana_cursor *c)
{
	size_t		need = mana_cursor_encode(c, NULL, 0);
	char	   *buf = malloc(need + 1);
	size_t		again;

	assert_non_null(buf);
	again = mana_cursor_encode(c, buf, need + 1);
	assert_int_equal(again, need);
	assert_int_equal(strlen(buf), need);
	return buf;
}

/* ------------------------------------------------------------ snapshots */

static void
test_snapshot_parse_valid(void **state)
{
	mana_snapshot s;

	(void) state;
	assert_int_equal(snap_parse("100:100:", &s), 0);
	assert_true(s.xmin == 100 && s.xmax == 100 && s.nxip == 0);
	assert_null(s.xip);
	assert_int_equal(alloc_calls, 0);	/* no allocation for an empty list */

	assert_int_equal(snap_parse("100:200:", &s), 0);
	assert_true(s.xmin == 100 && s.xmax == 200 && s.nxip == 0 && s.xip == NULL);

	assert_int_equal(snap_parse("0:0:", &s), 0);
	assert_true(s.xmin == 0 && s.xmax == 0 && s.nxip == 0);

	assert_int_equal(snap_parse("100:200:150", &s), 0);
	assert_true(s.nxip == 1 && s.xip[0] == 150);
	assert_int_equal(alloc_calls, 1);

	assert_int_equal(snap_parse("100:200:100,101,150,199", &s), 0);
	assert_int_equal(s.nxip, 4);
	assert_true(s.xip[0] == 100 && s.xip[1] == 101 && s.xip[2] == 150 && s.xip[3] == 199);

	/* 64-bit bounds */
	assert_int_equal(snap_parse("18446744073709551615:18446744073709551615:", &s), 0);
	assert_true(s.xmin == UINT64_MAX && s.xmax == UINT64_MAX);
	assert_int_equal(snap_parse("1:18446744073709551615:18446744073709551614", &s), 0);
	assert_true(s.nxip == 1 && s.xip[0] == UINT64_MAX - 1);
	assert_int_equal(snap_parse("4294967295:4294967297:4294967296", &s), 0);
	assert_true(s.xip[0] == UINT64_C(4294967296));

	/* plain digits of any count: leading zeros are accepted */
	assert_int_equal(snap_parse("007:010:008,0009", &s), 0);
	assert_true(s.xmin == 7 && s.xmax == 10 && s.nxip == 2 && s.xip[0] == 8 && s.xip[1] == 9);
	assert_int_equal(snap_parse("000000000000000000000000018446744073709551615:"
								"18446744073709551615:", &s), 0);
	assert_true(s.xmin == UINT64_MAX);
}

static void
test_snapshot_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		":",
		"::",
		"1",
		"1:",
		"1:2",
		":2:",
		"1::",
		"1:2:,",
		"1:3:,2",
		"1:3:2,",
		"1:4:2,,3",
		"2:1:",					/* xmax < xmin */
		"5:10:4",				/* xip < xmin */
		"5:10:10",				/* xip >= xmax */
		"5:10:11",
		"5:10:7,6",				/* not ascending */
		"5:10:7,7",				/* duplicate */
		"5:5:5",
		"18446744073709551616:18446744073709551616:",	/* overflow */
		"1:18446744073709551616:",
		"1:99999999999999999999:",
		"1:184467440737095516150:",
		"1:18446744073709551615:18446744073709551616",
		"+1:2:",
		"-1:2:",
		"1:+2:",
		"1:3:+2",
		" 1:2:",
		"1:2: ",
		"1 :2:",
		"1:2:\n",
		"1:3:2 ",
		"1:3: 2",
		"1:3:2, 2",
		"1:2:x",
		"1:3:2:",
		"1:2::",
		"1;2;",
		"1,2,",
		"0x1:2:",
		"1:2:0x1",
		"1.0:2:",
		"1e3:2000:",
		"a:b:",
		"1:2:#",
		"1:2:~",
		"\xd9\xa1:2:",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		mana_snapshot s;

		if (snap_parse(bad[i], &s) != -1)
			fail_msg("snapshot \"%s\" accepted", bad[i]);
	}
	/* embedded NUL */
	{
		mana_snapshot s;
		char	   *p = exact_copy("1:3:2\0", 6);

		assert_int_equal(mana_snapshot_parse(p, 6, &s, track_alloc), -1);
		free(p);
	}
}

static void
test_snapshot_alloc_failure(void **state)
{
	mana_snapshot s;

	(void) state;
	assert_int_equal(mana_snapshot_parse("1:5:2,3", 7, &s, null_alloc), -1);
	assert_int_equal(alloc_calls, 1);
	/* no allocation needed: the allocator is not called */
	assert_int_equal(mana_snapshot_parse("1:5:", 4, &s, null_alloc), 0);
	assert_int_equal(alloc_calls, 1);
	assert_null(s.xip);
}

static void
test_snapshot_format(void **state)
{
	uint64_t	xip[3] = {150, 151, UINT64_C(18446744073709551614)};
	mana_snapshot s = {100, UINT64_MAX, 3, xip};
	mana_snapshot e = {7, 7, 0, NULL};
	const char *want = "100:18446744073709551615:150,151,18446744073709551614";
	char		buf[128];
	size_t		n;

	(void) state;
	n = mana_snapshot_format(&s, buf, sizeof(buf));
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);

	assert_int_equal(mana_snapshot_format(&e, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "7:7:");

	/* snprintf semantics */
	assert_int_equal(mana_snapshot_format(&s, NULL, 0), strlen(want));
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mana_snapshot_format(&s, buf, 0), strlen(want));
	assert_int_equal(buf[0], 'x');
	assert_int_equal(mana_snapshot_format(&s, buf, 1), strlen(want));
	assert_string_equal(buf, "");
	assert_int_equal(mana_snapshot_format(&s, buf, 10), strlen(want));
	assert_string_equal(buf, "100:18446");
	assert_int_equal(mana_snapshot_format(&s, buf, strlen(want)), strlen(want));
	assert_memory_equal(buf, want, strlen(want) - 1);
	assert_int_equal(buf[strlen(want) - 1], '\0');
	assert_int_equal(mana_snapshot_format(&s, buf, strlen(want) + 1), strlen(want));
	assert_string_equal(buf, want);

	/* format -> parse round trip */
	{
		mana_snapshot back;

		assert_int_equal(snap_parse(want, &back), 0);
		snap_equal(&s, &back);
	}
}

static void
test_snapshot_visible(void **state)
{
	uint64_t	xip[3] = {105, 110, 119};
	mana_snapshot s = {100, 120, 3, xip};
	mana_snapshot empty = {100, 100, 0, NULL};
	uint64_t	x;

	(void) state;
	assert_true(mana_snapshot_visible(&s, 0));
	assert_true(mana_snapshot_visible(&s, 99));
	assert_true(mana_snapshot_visible(&s, 100));
	assert_false(mana_snapshot_visible(&s, 105));
	assert_false(mana_snapshot_visible(&s, 110));
	assert_false(mana_snapshot_visible(&s, 119));
	assert_true(mana_snapshot_visible(&s, 104));
	assert_true(mana_snapshot_visible(&s, 106));
	assert_true(mana_snapshot_visible(&s, 118));
	assert_false(mana_snapshot_visible(&s, 120));
	assert_false(mana_snapshot_visible(&s, 121));
	assert_false(mana_snapshot_visible(&s, UINT64_MAX));
	for (x = 95; x < 125; x++)
	{
		bool		expect = x < 100 || (x < 120 && x != 105 && x != 110 && x != 119);

		assert_int_equal(mana_snapshot_visible(&s, x), expect);
	}
	assert_true(mana_snapshot_visible(&empty, 99));
	assert_false(mana_snapshot_visible(&empty, 100));
	assert_false(mana_snapshot_visible(&empty, 101));
}

/* binary search against a linear scan on a large random snapshot */
static void
test_snapshot_visible_large(void **state)
{
	enum
	{
		N = 5000
	};
	uint64_t   *xip = malloc(N * sizeof(uint64_t));
	mana_snapshot s;
	uint64_t	v = 1000;
	uint32_t	rng = 7;
	uint64_t	x;
	uint32_t	i;

	(void) state;
	assert_non_null(xip);
	for (i = 0; i < N; i++)
	{
		rng = rng * 1103515245u + 12345u;
		v += 1 + (rng >> 16) % 4;
		xip[i] = v;
	}
	s.xmin = 1000;
	s.xmax = v + 3;
	s.nxip = N;
	s.xip = xip;
	for (x = 990; x < s.xmax + 5; x++)
	{
		bool		in = false;
		bool		expect;

		for (i = 0; i < N; i++)
			if (xip[i] == x)
			{
				in = true;
				break;
			}
		expect = x < s.xmin || (x < s.xmax && !in);
		assert_int_equal(mana_snapshot_visible(&s, x), expect);
	}
	free(xip);
}

/* -------------------------------------------------------------- cursors */

static void
test_decode_bare(void **state)
{
	mana_cursor c;

	(void) state;
	assert_int_equal(cursor_decode(ISO, &c), 0);
	assert_true(c.ts_ms == ISO_MS);
	assert_false(c.has_snap);
	assert_false(c.has_page);
	assert_null(c.last_id);
	assert_int_equal(alloc_calls, 0);

	assert_int_equal(cursor_decode("1969-12-31T23:59:59.999Z", &c), 0);
	assert_true(c.ts_ms == -1);
	assert_int_equal(cursor_decode("0000-01-01T00:00:00.000Z", &c), 0);
	assert_true(c.ts_ms == MANA_ISO_MIN_MS);
	assert_int_equal(cursor_decode("9999-12-31T23:59:59.999Z", &c), 0);
	assert_true(c.ts_ms == MANA_ISO_MAX_MS);
	/* anything mana_iso8601_parse takes */
	assert_int_equal(cursor_decode("2024-03-01T13:34:56.789123+01:00", &c), 0);
	assert_true(c.ts_ms == ISO_MS);
}

static void
test_decode_snapshot(void **state)
{
	mana_cursor c;

	(void) state;
	assert_int_equal(cursor_decode(ISO "#100:200:150,160", &c), 0);
	assert_true(c.ts_ms == ISO_MS);
	assert_true(c.has_snap);
	assert_false(c.has_page);
	assert_true(c.snap.xmin == 100 && c.snap.xmax == 200 && c.snap.nxip == 2);
	assert_true(c.snap.xip[0] == 150 && c.snap.xip[1] == 160);
	assert_null(c.last_id);

	assert_int_equal(cursor_decode(ISO "#5:5:", &c), 0);
	assert_true(c.has_snap && c.snap.nxip == 0 && c.snap.xip == NULL);
}

static void
test_decode_paged(void **state)
{
	mana_cursor c;

	(void) state;
	/* "aWQ" = "id" */
	assert_int_equal(cursor_decode(ISO "#t~100:200:150~170~aWQ", &c), 0);
	assert_true(c.ts_ms == ISO_MS);
	assert_false(c.has_snap);
	assert_true(c.has_page);
	assert_true(c.page.xmin == 100 && c.page.xmax == 200 && c.page.nxip == 1 &&
				c.page.xip[0] == 150);
	assert_true(c.last_xid == 170);
	assert_int_equal(c.last_id_len, 2);
	assert_string_equal(c.last_id, "id");

	assert_int_equal(cursor_decode(ISO "#90:95:91~100:200:~18446744073709551615~"
								   "Zm9vYmFy", &c), 0);
	assert_true(c.has_snap);
	assert_true(c.snap.xmin == 90 && c.snap.xmax == 95 && c.snap.nxip == 1 &&
				c.snap.xip[0] == 91);
	assert_true(c.has_page);
	assert_true(c.page.xmin == 100 && c.page.xmax == 200 && c.page.nxip == 0);
	assert_true(c.last_xid == UINT64_MAX);
	assert_int_equal(c.last_id_len, 6);
	assert_string_equal(c.last_id, "foobar");

	/* last id with '~', '#', '/', UTF-8 and 0xff bytes */
	{
		static const unsigned char id[] = {'~', '#', '/', 0xc3, 0xa9, 0xff, 0x01, 'x'};
		char		b64[32];
		char		tok[128];

		mana_b64url_encode(id, sizeof(id), b64);
		snprintf(tok, sizeof(tok), "%s#t~1:1:~0~%s", ISO, b64);
		assert_int_equal(cursor_decode(tok, &c), 0);
		assert_int_equal(c.last_id_len, sizeof(id));
		assert_memory_equal(c.last_id, id, sizeof(id));
		assert_int_equal(c.last_id[sizeof(id)], '\0');
		assert_true(c.last_xid == 0);
	}
}

static void
test_decode_last_id_bounds(void **state)
{
	unsigned char id[MANA_CURSOR_MAX_ID + 1];
	char		b64[MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID + 1) + 1];
	char		tok[64 + MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID + 1)];
	mana_cursor c;
	size_t		n;

	(void) state;
	memset(id, 'a', sizeof(id));

	/* 1 byte, 256 bytes and MANA_CURSOR_MAX_ID bytes are fine */
	mana_b64url_encode(id, 1, b64);
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), 0);
	assert_int_equal(c.last_id_len, 1);

	mana_b64url_encode(id, 256, b64);
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), 0);
	assert_int_equal(c.last_id_len, 256);

	mana_b64url_encode(id, MANA_CURSOR_MAX_ID, b64);
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), 0);
	assert_int_equal(c.last_id_len, MANA_CURSOR_MAX_ID);
	assert_int_equal(strlen(c.last_id), MANA_CURSOR_MAX_ID);

	/* MANA_CURSOR_MAX_ID + 1 bytes: refused */
	n = mana_b64url_encode(id, MANA_CURSOR_MAX_ID + 1, b64);
	assert_int_equal(n, MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID + 1));
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), -1);

	/* a NUL anywhere in the id: refused */
	id[0] = 0;
	mana_b64url_encode(id, 3, b64);
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), -1);
	id[0] = 'a';
	id[MANA_CURSOR_MAX_ID - 1] = 0;
	mana_b64url_encode(id, MANA_CURSOR_MAX_ID, b64);
	snprintf(tok, sizeof(tok), "%s#t~1:1:~5~%s", ISO, b64);
	assert_int_equal(cursor_decode(tok, &c), -1);
}

static void
test_decode_invalid(void **state)
{
	static const char *const bad[] = {
		/* not an ISO prefix */
		"",
		"#",
		"#1:2:",
		"2024-03-01T12:34:56.789",
		"2024-03-01T12:34:56.789z",
		"2024-03-01t12:34:56.789Z",
		"2024-03-01 12:34:56.789Z",
		"2024-03-01T12:34:56.789Z ",
		" 2024-03-01T12:34:56.789Z",
		"2024-03-01T12:34:56.789Z\n",
		"2024-02-30T12:34:56.789Z",
		"2024-03-01T12:34:56.789Z~t~1:2:~5~aWQ",
		"2024-03-01T12:34:56.789Z:1:2:",
		"2024-03-01T12:34:56.789 #1:2:",
		"1709296496789",
		"1709296496789#1:2:",
		/* ISO#SNAP shapes */
		ISO "#",
		ISO "##",
		ISO "##1:2:",
		ISO "#1:2:#",
		ISO "#1:2:#1:2:",
		ISO "#1:2",
		ISO "#1:2:,",
		ISO "#1:3:2,",
		ISO "#1:3:,2",
		ISO "#1:3:2,,",
		ISO "#2:1:",
		ISO "#1:2:3",
		ISO "#1:5:3,2",
		ISO "#1:5:3,3",
		ISO "# 1:2:",
		ISO "#1:2: ",
		ISO "#+1:2:",
		ISO "#-1:2:",
		ISO "#18446744073709551616:18446744073709551616:",
		ISO "#t",
		ISO "#T",
		ISO "#t~",
		ISO "#x",
		/* paged shapes */
		ISO "#t~1:2:",
		ISO "#t~1:2:~",
		ISO "#t~1:2:~5",
		ISO "#t~1:2:~5~",
		ISO "#t~1:2:~~aWQ",
		ISO "#t~~5~aWQ",
		ISO "#~1:2:~5~aWQ",
		ISO "#~~~",
		ISO "#t~~~",
		ISO "#T~1:2:~5~aWQ",
		ISO "#tt~1:2:~5~aWQ",
		ISO "#t ~1:2:~5~aWQ",
		ISO "#1:2~1:2:~5~aWQ",
		ISO "#3:1:~1:2:~5~aWQ",
		ISO "#1:3:5~1:2:~5~aWQ",
		ISO "#t~2:1:~5~aWQ",
		ISO "#t~1:3:3~5~aWQ",
		ISO "#t~1:3:2,~5~aWQ",
		ISO "#t~t~5~aWQ",
		ISO "#t~1:2:~5~aWQ~",
		ISO "#t~1:2:~5~aWQ~x",
		ISO "#t~1:2:~5~aWQ~1:2:~5~aWQ",
		ISO "#t~1:2:~5~a~WQ",
		ISO "#t~1:2:~5~aWQ=",
		ISO "#t~1:2:~5~aWQ==",
		ISO "#t~1:2:~5~aWR",			/* non-zero trailing bits */
		ISO "#t~1:2:~5~a",				/* single final b64 char */
		ISO "#t~1:2:~5~aW Q",
		ISO "#t~1:2:~5~aWQ ",
		ISO "#t~1:2:~5~+/8",
		ISO "#t~1:2:~5~AA",				/* id "\0" */
		ISO "#t~1:2:~5~AAAA",			/* id "\0\0\0" */
		ISO "#t~1:2:~5~aWQA",			/* id "id\0" */
		ISO "#t~1:2:~-5~aWQ",
		ISO "#t~1:2:~+5~aWQ",
		ISO "#t~1:2:~ 5~aWQ",
		ISO "#t~1:2:~5 ~aWQ",
		ISO "#t~1:2:~0x5~aWQ",
		ISO "#t~1:2:~5.0~aWQ",
		ISO "#t~1:2:~18446744073709551616~aWQ",
		ISO "#t~1:2:~99999999999999999999~aWQ",
		ISO "#t~1:2:~5#aWQ",
		ISO "#t#1:2:~5~aWQ",
		ISO "#t~1:2:#~5~aWQ",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		mana_cursor c;

		if (cursor_decode(bad[i], &c) != -1)
			fail_msg("cursor \"%s\" accepted", bad[i]);
		free_all();
	}
	/* an embedded NUL in every part */
	{
		static const char good[] = ISO "#1:3:2~1:3:2~5~aWQ";
		size_t		len = sizeof(good) - 1;
		mana_cursor c;

		assert_int_equal(cursor_decode_len(good, len, &c), 0);
		free_all();
		for (i = 0; i < len; i++)
		{
			char		t[sizeof(good)];

			memcpy(t, good, sizeof(good));
			t[i] = '\0';
			assert_int_equal(cursor_decode_len(t, len, &c), -1);
			free_all();
		}
	}
	/* NULL arguments */
	{
		mana_cursor c;

		assert_int_equal(mana_cursor_decode(NULL, 5, &c, track_alloc), -1);
		assert_int_equal(mana_cursor_decode(ISO, strlen(ISO), NULL, track_alloc), -1);
	}
}

static void
test_decode_overflow_and_leading_zeros(void **state)
{
	mana_cursor c;

	(void) state;
	assert_int_equal(cursor_decode(ISO "#t~1:2:~18446744073709551615~aWQ", &c), 0);
	assert_true(c.last_xid == UINT64_MAX);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~0000000000000000000000000000018446744073709551615~aWQ", &c), 0);
	assert_true(c.last_xid == UINT64_MAX);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~18446744073709551616~aWQ", &c), -1);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~18446744073709551620~aWQ", &c), -1);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~36893488147419103232~aWQ", &c), -1);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~0~aWQ", &c), 0);
	assert_true(c.last_xid == 0);
	assert_int_equal(cursor_decode(ISO "#t~1:2:~00~aWQ", &c), 0);
	assert_true(c.last_xid == 0);
	assert_int_equal(cursor_decode(ISO "#0100:0200:0150", &c), 0);
	assert_true(c.snap.xmin == 100 && c.snap.xmax == 200 && c.snap.xip[0] == 150);
}

static void
test_decode_alloc_failure(void **state)
{
	mana_cursor c;
	static const char *const toks[] = {
		ISO "#1:3:2",
		ISO "#t~1:3:2~5~aWQ",
		ISO "#t~1:3:~5~aWQ",	/* only the id needs memory */
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		assert_int_equal(mana_cursor_decode(toks[i], strlen(toks[i]), &c, null_alloc), -1);
	/* nothing to allocate: fine even with a failing allocator */
	assert_int_equal(mana_cursor_decode(ISO "#1:3:", strlen(ISO "#1:3:"), &c, null_alloc), 0);
	assert_int_equal(mana_cursor_decode(ISO, strlen(ISO), &c, null_alloc), 0);
}

static void
test_decode_max_len(void **state)
{
	/* a token just over MANA_CURSOR_MAX_LEN is refused before parsing */
	size_t		len = MANA_CURSOR_MAX_LEN + 1;
	char	   *tok = malloc(len);
	mana_cursor c;

	(void) state;
	assert_non_null(tok);
	memcpy(tok, ISO "#1:2:", strlen(ISO "#1:2:"));
	memset(tok + strlen(ISO "#1:2:"), '0', len - strlen(ISO "#1:2:"));
	tok[len - 1] = '1';
	assert_int_equal(mana_cursor_decode(tok, len, &c, track_alloc), -1);
	/* one byte shorter: "1:2:000...01" is a valid snapshot */
	memmove(tok + strlen(ISO "#1:2:"), tok + strlen(ISO "#1:2:") + 1,
			len - 1 - strlen(ISO "#1:2:"));
	assert_int_equal(mana_cursor_decode(tok, len - 1, &c, track_alloc), 0);
	assert_true(c.snap.nxip == 1 && c.snap.xip[0] == 1);
	free(tok);
}

static void
test_encode_shapes(void **state)
{
	uint64_t	sx[2] = {150, 160};
	uint64_t	px[1] = {205};
	mana_cursor c;
	char		buf[256];

	(void) state;
	memset(&c, 0, sizeof(c));
	c.ts_ms = ISO_MS;
	assert_int_equal(mana_cursor_encode(&c, buf, sizeof(buf)), 24);
	assert_string_equal(buf, ISO);

	c.has_snap = true;
	c.snap.xmin = 100;
	c.snap.xmax = 200;
	c.snap.nxip = 2;
	c.snap.xip = sx;
	assert_int_equal(mana_cursor_encode(&c, buf, sizeof(buf)), strlen(ISO "#100:200:150,160"));
	assert_string_equal(buf, ISO "#100:200:150,160");

	c.has_page = true;
	c.page.xmin = 200;
	c.page.xmax = 210;
	c.page.nxip = 1;
	c.page.xip = px;
	c.last_xid = 199;
	c.last_id = (char *) "foobar";
	c.last_id_len = 6;
	mana_cursor_encode(&c, buf, sizeof(buf));
	assert_string_equal(buf, ISO "#100:200:150,160~200:210:205~199~Zm9vYmFy");

	c.has_snap = false;			/* timestamp base */
	mana_cursor_encode(&c, buf, sizeof(buf));
	assert_string_equal(buf, ISO "#t~200:210:205~199~Zm9vYmFy");

	c.ts_ms = -1;
	mana_cursor_encode(&c, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z#t~200:210:205~199~Zm9vYmFy");
}

static void
test_encode_snprintf_semantics(void **state)
{
	mana_cursor c;
	const char *want = ISO "#t~1:1:~7~aWQ";
	size_t		wl = strlen(want);
	char		buf[64];
	size_t		n;

	(void) state;
	memset(&c, 0, sizeof(c));
	c.ts_ms = ISO_MS;
	c.has_page = true;
	c.page.xmin = c.page.xmax = 1;
	c.last_xid = 7;
	c.last_id = (char *) "id";
	c.last_id_len = 2;

	assert_int_equal(mana_cursor_encode(&c, NULL, 0), wl);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mana_cursor_encode(&c, buf, 0), wl);
	assert_int_equal(buf[0], 'x');
	for (n = 1; n <= wl + 1; n++)
	{
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(mana_cursor_encode(&c, buf, n), wl);
		assert_int_equal(strlen(buf), n - 1 < wl ? n - 1 : wl);
		assert_memory_equal(buf, want, strlen(buf));
		assert_int_equal(buf[n], 'x');	/* nothing written past buflen */
	}
}

static void
test_encode_refuses_invalid(void **state)
{
	uint64_t	bad_xip[2] = {5, 4};
	uint64_t	out_xip[1] = {10};
	mana_cursor c;
	mana_cursor base;
	char		buf[128];

	(void) state;
	memset(&base, 0, sizeof(base));
	base.ts_ms = ISO_MS;
	base.has_page = true;
	base.page.xmin = 1;
	base.page.xmax = 10;
	base.last_xid = 3;
	base.last_id = (char *) "id";
	base.last_id_len = 2;
	assert_int_equal(mana_cursor_encode(&base, buf, sizeof(buf)), strlen(ISO "#t~1:10:~3~aWQ"));

#define EXPECT_ZERO() do { \
		memset(buf, 'x', sizeof(buf)); \
		assert_int_equal(mana_cursor_encode(&c, buf, sizeof(buf)), 0); \
		assert_string_equal(buf, ""); \
	} while (0)

	c = base;
	c.ts_ms = MANA_ISO_MAX_MS + 1;
	EXPECT_ZERO();
	c = base;
	c.ts_ms = MANA_ISO_MIN_MS - 1;
	EXPECT_ZERO();
	c = base;
	c.ts_ms = INT64_MIN;
	EXPECT_ZERO();
	c = base;
	c.last_id = NULL;
	EXPECT_ZERO();
	c = base;
	c.last_id_len = 0;
	EXPECT_ZERO();
	c = base;
	c.last_id = (char *) "i\0d";
	c.last_id_len = 3;
	EXPECT_ZERO();
	{
		char		big[MANA_CURSOR_MAX_ID + 1];

		memset(big, 'a', sizeof(big));
		c = base;
		c.last_id = big;
		c.last_id_len = sizeof(big);
		EXPECT_ZERO();
		c.last_id_len = MANA_CURSOR_MAX_ID;
		assert_true(mana_cursor_encode(&c, buf, sizeof(buf)) > 0);
	}
	c = base;
	c.page.xmin = 11;			/* xmin > xmax */
	EXPECT_ZERO();
	c = base;
	c.page.nxip = 2;
	c.page.xip = bad_xip;		/* descending */
	EXPECT_ZERO();
	c = base;
	c.page.nxip = 1;
	c.page.xip = out_xip;		/* xip == xmax */
	EXPECT_ZERO();
	c = base;
	c.page.nxip = 1;
	c.page.xip = NULL;
	EXPECT_ZERO();
	c = base;
	c.has_snap = true;
	c.snap.xmin = 5;
	c.snap.xmax = 4;
	EXPECT_ZERO();
	c = base;
	c.has_page = false;
	c.has_snap = true;
	c.snap.xmin = 1;
	c.snap.xmax = 9;
	c.snap.nxip = 2;
	c.snap.xip = bad_xip;
	EXPECT_ZERO();
	assert_int_equal(mana_cursor_encode(NULL, buf, sizeof(buf)), 0);
#undef EXPECT_ZERO
}

/* random structures: decode(encode(c)) == c and encode is canonical */
static void
test_round_trip_random(void **state)
{
	uint64_t	rng = 42;
	int			iter;

	(void) state;
	for (iter = 0; iter < 3000; iter++)
	{
		uint64_t	sx[8];
		uint64_t	px[8];
		char		id[MANA_CURSOR_MAX_ID];
		mana_cursor c;
		mana_cursor d;
		char	   *tok;
		char	   *tok2;
		uint32_t	i;

#define NEXT() (rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407), rng >> 17)
		memset(&c, 0, sizeof(c));
		c.ts_ms = MANA_ISO_MIN_MS +
			(int64_t) (NEXT() % (uint64_t) (MANA_ISO_MAX_MS - MANA_ISO_MIN_MS + 1));
		if (iter % 10 == 0)
			c.ts_ms = (iter % 20 == 0) ? MANA_ISO_MIN_MS : MANA_ISO_MAX_MS;
		c.has_snap = NEXT() % 2;
		c.has_page = NEXT() % 2;
		if (c.has_snap)
		{
			c.snap.xmin = (iter % 7 == 0) ? UINT64_MAX - 20 : NEXT() % 100000;
			c.snap.xmax = c.snap.xmin + NEXT() % 12;
			c.snap.nxip = 0;
			for (i = 0; c.snap.xmin + i < c.snap.xmax && c.snap.nxip < 8; i++)
				if (NEXT() % 2)
					sx[c.snap.nxip++] = c.snap.xmin + i;
			c.snap.xip = c.snap.nxip ? sx : NULL;
		}
		if (c.has_page)
		{
			size_t		idlen = 1 + NEXT() % MANA_CURSOR_MAX_ID;

			c.page.xmin = NEXT() % 100000;
			c.page.xmax = c.page.xmin + NEXT() % 12;
			c.page.nxip = 0;
			for (i = 0; c.page.xmin + i < c.page.xmax && c.page.nxip < 8; i++)
				if (NEXT() % 2)
					px[c.page.nxip++] = c.page.xmin + i;
			c.page.xip = c.page.nxip ? px : NULL;
			c.last_xid = (iter % 5 == 0) ? UINT64_MAX : NEXT();
			for (i = 0; i < idlen; i++)
				id[i] = (char) (1 + NEXT() % 255);
			c.last_id = id;
			c.last_id_len = idlen;
		}
#undef NEXT
		tok = encode_alloc(&c);
		assert_true(strlen(tok) >= 24);
		if (cursor_decode(tok, &d) != 0)
			fail_msg("encoded cursor \"%s\" does not decode", tok);
		cursor_equal(&c, &d);
		tok2 = encode_alloc(&d);
		assert_string_equal(tok, tok2);
		free(tok);
		free(tok2);
		free_all();
	}
}

/*
 * Every prefix of a canonical token either is refused or decodes to a
 * cursor that encodes back to exactly that prefix.
 */
static void
test_prefixes(void **state)
{
	static const char *const toks[] = {
		ISO "#90:95:91,93~100:200:150,160~18446744073709551615~Zm9vYmFy",
		ISO "#t~100:200:~170~aWQ",
		ISO "#100:200:150,160",
	};
	size_t		t;

	(void) state;
	for (t = 0; t < sizeof(toks) / sizeof(toks[0]); t++)
	{
		size_t		len = strlen(toks[t]);
		size_t		n;
		mana_cursor c;

		assert_int_equal(cursor_decode(toks[t], &c), 0);
		free_all();
		for (n = 0; n <= len; n++)
		{
			if (cursor_decode_len(toks[t], n, &c) == 0)
			{
				char	   *re = encode_alloc(&c);

				assert_int_equal(strlen(re), n);
				assert_memory_equal(re, toks[t], n);
				free(re);
			}
			free_all();
		}
	}
}

/* a snapshot of 60000 running xids: within MANA_CURSOR_MAX_LEN */
static void
test_big_snapshot(void **state)
{
	enum
	{
		N = 60000
	};
	uint64_t   *xip = malloc(N * sizeof(uint64_t));
	mana_cursor c;
	mana_cursor d;
	char	   *tok;
	uint32_t	i;

	(void) state;
	assert_non_null(xip);
	for (i = 0; i < N; i++)
		xip[i] = UINT64_C(1000000000000) + 2 * i;
	memset(&c, 0, sizeof(c));
	c.ts_ms = ISO_MS;
	c.has_snap = true;
	c.snap.xmin = xip[0];
	c.snap.xmax = xip[N - 1] + 1;
	c.snap.nxip = N;
	c.snap.xip = xip;
	tok = encode_alloc(&c);
	assert_true(strlen(tok) <= MANA_CURSOR_MAX_LEN);
	assert_int_equal(cursor_decode(tok, &d), 0);
	cursor_equal(&c, &d);
	free(tok);
	free_all();

	/* two such snapshots exceed the limit: encode refuses (returns 0) */
	c.has_page = true;
	c.page = c.snap;
	c.last_xid = 1;
	c.last_id = (char *) "x";
	c.last_id_len = 1;
	assert_int_equal(mana_cursor_encode(&c, NULL, 0), 0);
	free(xip);
}


/* ------------------------------------------------ mana_snapshot_include */

static void
test_include_own_xid(void **state)
{
	uint64_t	xip[3] = {105, 107, 109};
	mana_snapshot s = {100, 110, 3, xip};
	mana_snapshot before;

	(void) state;
	/* already visible: nothing changes */
	assert_int_equal(mana_snapshot_include(&s, 99, 10, track_alloc), 0);
	assert_int_equal(s.nxip, 3);
	assert_int_equal(s.xmax, 110);

	/* in xip: dropped, nothing else becomes visible */
	assert_int_equal(mana_snapshot_include(&s, 107, 10, track_alloc), 0);
	assert_int_equal(s.nxip, 2);
	assert_true(mana_snapshot_visible(&s, 107));
	assert_false(mana_snapshot_visible(&s, 105));
	assert_false(mana_snapshot_visible(&s, 109));

	/* past xmax: xmax moves, the xids in between stay invisible */
	assert_int_equal(mana_snapshot_include(&s, 113, 10, track_alloc), 0);
	assert_int_equal(s.xmax, 114);
	assert_true(mana_snapshot_visible(&s, 113));
	assert_false(mana_snapshot_visible(&s, 110));
	assert_false(mana_snapshot_visible(&s, 111));
	assert_false(mana_snapshot_visible(&s, 112));
	assert_false(mana_snapshot_visible(&s, 114));
	assert_false(mana_snapshot_visible(&s, 105));
	assert_true(mana_snapshot_visible(&s, 106));

	/* still a valid, ascending snapshot that round-trips */
	{
		char		buf[128];
		mana_snapshot back;

		mana_snapshot_format(&s, buf, sizeof(buf));
		assert_string_equal(buf, "100:114:105,109,110,111,112");
		assert_int_equal(mana_snapshot_parse(buf, strlen(buf), &back, track_alloc), 0);
	}

	/* exactly at xmax: no xid added */
	{
		mana_snapshot e = {50, 50, 0, NULL};

		assert_int_equal(mana_snapshot_include(&e, 50, 0, track_alloc), 0);
		assert_int_equal(e.xmax, 51);
		assert_int_equal(e.nxip, 0);
		assert_true(mana_snapshot_visible(&e, 50));
	}

	/* too many to add, or overflow: refused, untouched */
	before = s;
	assert_int_equal(mana_snapshot_include(&s, 1000, 10, track_alloc), -1);
	assert_int_equal(s.xmax, before.xmax);
	assert_int_equal(s.nxip, before.nxip);
	assert_int_equal(mana_snapshot_include(&s, UINT64_MAX, UINT32_MAX, track_alloc), -1);
	/* allocation failure is refused too */
	assert_int_equal(mana_snapshot_include(&s, 120, 10, null_alloc), -1);
	assert_int_equal(s.xmax, before.xmax);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_parse_valid, reset, reset),
		cmocka_unit_test_setup_teardown(test_snapshot_parse_invalid, reset, reset),
		cmocka_unit_test_setup_teardown(test_snapshot_alloc_failure, reset, reset),
		cmocka_unit_test_setup_teardown(test_snapshot_format, reset, reset),
		cmocka_unit_test_setup_teardown(test_snapshot_visible, reset, reset),
		cmocka_unit_test_setup_teardown(test_snapshot_visible_large, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_bare, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_snapshot, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_paged, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_last_id_bounds, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_invalid, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_overflow_and_leading_zeros, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_alloc_failure, reset, reset),
		cmocka_unit_test_setup_teardown(test_decode_max_len, reset, reset),
		cmocka_unit_test_setup_teardown(test_encode_shapes, reset, reset),
		cmocka_unit_test_setup_teardown(test_encode_snprintf_semantics, reset, reset),
		cmocka_unit_test_setup_teardown(test_encode_refuses_invalid, reset, reset),
		cmocka_unit_test_setup_teardown(test_round_trip_random, reset, reset),
		cmocka_unit_test_setup_teardown(test_prefixes, reset, reset),
		cmocka_unit_test_setup_teardown(test_big_snapshot, reset, reset),
		cmocka_unit_test_setup_teardown(test_include_own_xid, reset, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
