/*
 * test_notify_payload.c
 *     cmocka tests of notify_payload.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify_payload.h"

static mana_notify_msg
msg(const char *db, const char *app, const char *table, const char *owner,
	const char *client)
{
	mana_notify_msg m;

	m.db = db;
	m.db_len = db ? strlen(db) : 0;
	m.app = app;
	m.app_len = app ? strlen(app) : 0;
	m.table = table;
	m.table_len = table ? strlen(table) : 0;
	m.owner = owner;
	m.owner_len = owner ? strlen(owner) : 0;
	m.client = client;
	m.client_len = client ? strlen(client) : 0;
	return m;
}

static void
expect_encode(const mana_notify_msg *m, const char *want)
{
	char		buf[MANA_NOTIFY_MAX_PAYLOAD];
	int			n;

	memset(buf, 'x', sizeof(buf));
	n = mana_notify_encode(m, buf);
	if (n < 0 || strcmp(buf, want) != 0 || (size_t) n != strlen(want))
		fail_msg("encoded %d \"%s\", expected \"%s\"", n, buf, want);
}

/*
 * Decode from an exact-size heap copy with an exact len + 1 scratch.
 * The caller frees *scratch_out (decoded pointers point into it).
 */
static int
decode_exact(const char *s, size_t len, mana_notify_msg *out, char **scratch_out)
{
	char	   *copy = malloc(len ? len : 1);
	char	   *scratch = malloc(len + 1);
	int			rc;

	assert_non_null(copy);
	assert_non_null(scratch);
	memcpy(copy, s, len);
	rc = mana_notify_decode(copy, len, out, scratch);
	free(copy);
	*scratch_out = scratch;
	if (rc == 0)
	{
		/* every pointer is in scratch and NUL-terminated */
		assert_true(out->db >= scratch && out->db + out->db_len < scratch + len + 1);
		assert_int_equal(out->db[out->db_len], '\0');
		assert_int_equal(out->app[out->app_len], '\0');
		assert_int_equal(out->table[out->table_len], '\0');
		if (out->owner)
			assert_int_equal(out->owner[out->owner_len], '\0');
		if (out->client)
			assert_int_equal(out->client[out->client_len], '\0');
	}
	return rc;
}

static void
expect_refused(const char *s, size_t len)
{
	mana_notify_msg m;
	char	   *scratch;
	int			rc = decode_exact(s, len, &m, &scratch);

	free(scratch);
	if (rc != -1)
		fail_msg("decode accepted \"%.*s\"", (int) len, s);
}

static void
field_equal(const char *a, size_t al, const char *b, size_t bl)
{
	if (a == NULL || b == NULL)
	{
		assert_true(a == NULL && b == NULL);
		return;
	}
	assert_int_equal(al, bl);
	if (al)
		assert_memory_equal(a, b, al);
}

static void
msg_equal(const mana_notify_msg *a, const mana_notify_msg *b)
{
	field_equal(a->db, a->db_len, b->db, b->db_len);
	field_equal(a->app, a->app_len, b->app, b->app_len);
	field_equal(a->table, a->table_len, b->table, b->table_len);
	field_equal(a->owner, a->owner_len, b->owner, b->owner_len);
	field_equal(a->client, a->client_len, b->client, b->client_len);
}

/* encode m, decode the result, compare; returns the payload length */
static int
round_trip(const mana_notify_msg *m, const mana_notify_msg *expect)
{
	char		buf[MANA_NOTIFY_MAX_PAYLOAD];
	mana_notify_msg d;
	char	   *scratch;
	int			n = mana_notify_encode(m, buf);

	assert_true(n > 0);
	assert_true(n < MANA_NOTIFY_MAX_PAYLOAD);
	assert_int_equal(strlen(buf), n);
	assert_int_equal(decode_exact(buf, (size_t) n, &d, &scratch), 0);
	msg_equal(expect ? expect : m, &d);
	free(scratch);
	return n;
}

/* ---------------------------------------------------------------- encode */

static void
test_encode_basic(void **state)
{
	mana_notify_msg m;

	(void) state;
	m = msg("appdb", "todo", "items", "alice", "c1");
	expect_encode(&m, "{\"v\":1,\"db\":\"appdb\",\"app\":\"todo\",\"table\":\"items\","
				  "\"owner\":\"alice\",\"client\":\"c1\"}");
	m = msg("appdb", "todo", "items", NULL, "c1");
	expect_encode(&m, "{\"v\":1,\"db\":\"appdb\",\"app\":\"todo\",\"table\":\"items\","
				  "\"client\":\"c1\"}");
	m = msg("appdb", "todo", "items", "alice", NULL);
	expect_encode(&m, "{\"v\":1,\"db\":\"appdb\",\"app\":\"todo\",\"table\":\"items\","
				  "\"owner\":\"alice\"}");
	m = msg("appdb", "todo", "items", NULL, NULL);
	expect_encode(&m, "{\"v\":1,\"db\":\"appdb\",\"app\":\"todo\",\"table\":\"items\"}");
	/* empty owner / client are still strings */
	m = msg("d", "a", "t", "", "");
	expect_encode(&m, "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\","
				  "\"owner\":\"\",\"client\":\"\"}");
}

static void
test_encode_escaping(void **state)
{
	mana_notify_msg m;

	(void) state;
	m = msg("d\"q", "a\\b", "t/x", NULL, NULL);
	expect_encode(&m, "{\"v\":1,\"db\":\"d\\\"q\",\"app\":\"a\\\\b\",\"table\":\"t/x\"}");
	m = msg("\b\f\n\r\t", "\x01\x1f", "\x7f" "x", NULL, NULL);
	expect_encode(&m, "{\"v\":1,\"db\":\"\\b\\f\\n\\r\\t\",\"app\":\"\\u0001\\u001f\","
				  "\"table\":\"\\u007fx\"}");
	/* UTF-8 (and any byte >= 0x80) is copied as is */
	m = msg("caf\xc3\xa9", "\xf0\x9f\x98\x80", "\xff\xfe", "\xe2\x82\xac", "\x80");
	expect_encode(&m, "{\"v\":1,\"db\":\"caf\xc3\xa9\",\"app\":\"\xf0\x9f\x98\x80\","
				  "\"table\":\"\xff\xfe\",\"owner\":\"\xe2\x82\xac\",\"client\":\"\x80\"}");
	/* an embedded NUL byte is escaped, not truncated */
	m = msg("d", "a", "t", NULL, NULL);
	m.db = "x\0y";
	m.db_len = 3;
	expect_encode(&m, "{\"v\":1,\"db\":\"x\\u0000y\",\"app\":\"a\",\"table\":\"t\"}");
	/* every control character */
	{
		char		ctl[32];
		char		want[512];
		char	   *w = want;
		int			c;

		for (c = 0; c < 32; c++)
			ctl[c] = (char) c;
		m = msg("d", "a", "t", NULL, NULL);
		m.owner = ctl;
		m.owner_len = 32;
		w += sprintf(w, "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\",\"owner\":\"");
		for (c = 0; c < 32; c++)
		{
			switch (c)
			{
				case '\b':
					w += sprintf(w, "\\b");
					break;
				case '\f':
					w += sprintf(w, "\\f");
					break;
				case '\n':
					w += sprintf(w, "\\n");
					break;
				case '\r':
					w += sprintf(w, "\\r");
					break;
				case '\t':
					w += sprintf(w, "\\t");
					break;
				default:
					w += sprintf(w, "\\u%04x", c);
			}
		}
		sprintf(w, "\"}");
		expect_encode(&m, want);
	}
}

static void
test_encode_limits(void **state)
{
	char		big[MANA_NOTIFY_MAX_NAME + 2];
	char		buf[MANA_NOTIFY_MAX_PAYLOAD];
	mana_notify_msg m;

	(void) state;
	memset(big, 'n', sizeof(big));

	/* db, app, table: NULL, empty, 257 bytes refused; 256 fine */
	m = msg(NULL, "a", "t", NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", NULL, "t", NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", "a", NULL, NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("", "a", "t", NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", "", "t", NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", "a", "", NULL, NULL);
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", "a", "t", NULL, NULL);
	m.db = big;
	m.db_len = MANA_NOTIFY_MAX_NAME + 1;
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m.db_len = MANA_NOTIFY_MAX_NAME;
	assert_true(mana_notify_encode(&m, buf) > 0);
	m = msg("d", "a", "t", NULL, NULL);
	m.app = big;
	m.app_len = MANA_NOTIFY_MAX_NAME + 1;
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	m = msg("d", "a", "t", NULL, NULL);
	m.table = big;
	m.table_len = MANA_NOTIFY_MAX_NAME + 1;
	assert_int_equal(mana_notify_encode(&m, buf), -1);
	assert_int_equal(mana_notify_encode(NULL, buf), -1);

	/* owner over 256 and client over 128 are omitted */
	m = msg("d", "a", "t", NULL, NULL);
	m.owner = big;
	m.owner_len = MANA_NOTIFY_MAX_OWNER + 1;
	m.client = big;
	m.client_len = MANA_NOTIFY_MAX_CLIENT + 1;
	expect_encode(&m, "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}");
	m.owner_len = MANA_NOTIFY_MAX_OWNER;
	m.client_len = MANA_NOTIFY_MAX_CLIENT;
	assert_int_equal(mana_notify_encode(&m, buf),
					 (int) strlen("{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\","
								  "\"owner\":\"\",\"client\":\"\"}")
					 + MANA_NOTIFY_MAX_OWNER + MANA_NOTIFY_MAX_CLIENT);
	assert_non_null(strstr(buf, "\"owner\":\"nnn"));
	assert_non_null(strstr(buf, "\"client\":\"nnn"));
	/* a NULL pointer with a length is still "absent" */
	m = msg("d", "a", "t", NULL, NULL);
	m.owner_len = 5;
	m.client_len = 5;
	expect_encode(&m, "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}");
}

/* every field at its maximum, every byte a 6x control escape */
static void
test_encode_worst_case_size(void **state)
{
	char	   *ctl = malloc(MANA_NOTIFY_MAX_NAME);
	char	   *buf = malloc(MANA_NOTIFY_MAX_PAYLOAD);
	mana_notify_msg m;
	int			n;
	int			expect;

	(void) state;
	assert_non_null(ctl);
	assert_non_null(buf);
	memset(ctl, 0x01, MANA_NOTIFY_MAX_NAME);
	m.db = m.app = m.table = m.owner = m.client = ctl;
	m.db_len = m.app_len = m.table_len = MANA_NOTIFY_MAX_NAME;
	m.owner_len = MANA_NOTIFY_MAX_OWNER;
	m.client_len = MANA_NOTIFY_MAX_CLIENT;
	/* the heap buffer is exactly MANA_NOTIFY_MAX_PAYLOAD: ASan checks it */
	n = mana_notify_encode(&m, buf);
	expect = (int) strlen("{\"v\":1,\"db\":\"\",\"app\":\"\",\"table\":\"\","
						  "\"owner\":\"\",\"client\":\"\"}")
		+ 6 * (3 * MANA_NOTIFY_MAX_NAME + MANA_NOTIFY_MAX_OWNER + MANA_NOTIFY_MAX_CLIENT);
	assert_int_equal(n, expect);
	assert_true(n + 1 <= MANA_NOTIFY_MAX_PAYLOAD);
	assert_true(n < 8000);
	assert_int_equal(strlen(buf), n);
	round_trip(&m, NULL);
	free(buf);
	free(ctl);
}

/* ---------------------------------------------------------------- decode */

static void
test_decode_basic(void **state)
{
	static const char p[] = "{\"v\":1,\"db\":\"appdb\",\"app\":\"todo\",\"table\":\"items\","
		"\"owner\":\"alice\",\"client\":\"c1\"}";
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	assert_int_equal(decode_exact(p, sizeof(p) - 1, &m, &scratch), 0);
	assert_string_equal(m.db, "appdb");
	assert_int_equal(m.db_len, 5);
	assert_string_equal(m.app, "todo");
	assert_string_equal(m.table, "items");
	assert_string_equal(m.owner, "alice");
	assert_int_equal(m.owner_len, 5);
	assert_string_equal(m.client, "c1");
	free(scratch);
}

static void
test_decode_optional_absent(void **state)
{
	static const char p[] = "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}";
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	memset(&m, 0x55, sizeof(m));
	assert_int_equal(decode_exact(p, sizeof(p) - 1, &m, &scratch), 0);
	assert_null(m.owner);
	assert_int_equal(m.owner_len, 0);
	assert_null(m.client);
	assert_int_equal(m.client_len, 0);
	free(scratch);
}

static void
test_decode_any_order_whitespace_unknown(void **state)
{
	static const char p[] =
		" \t\r\n{ \"client\" : \"c\" ,\n\"x-extra\":\"ignored \\\" \\u00e9\", \"table\":\"t\","
		"\"n1\":-12.5e+3,\"n2\":0,\"n3\":1E-2,\"n4\":-0.0,\"app\"\t:\t\"a\",\"\":\"\","
		"\"owner\":\"o\",\"db\":\"d\",\"v\" : 1 ,\"x-extra\":7} \n\t\r";
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	assert_int_equal(decode_exact(p, sizeof(p) - 1, &m, &scratch), 0);
	assert_string_equal(m.db, "d");
	assert_string_equal(m.app, "a");
	assert_string_equal(m.table, "t");
	assert_string_equal(m.owner, "o");
	assert_string_equal(m.client, "c");
	free(scratch);
}

static void
test_decode_unescape(void **state)
{
	static const char p[] =
		"{\"v\":1,\"db\":\"q\\\"b\\\\s\\/n\\n\\r\\t\\b\\f\","
		"\"app\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uDBFF\\uDFFF\","
		"\"table\":\"caf\xc3\xa9\\u0001\\u001F\\u007f\","
		"\"owner\":\"\\uD800\\uDC00\",\"client\":\"\"}";
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	assert_int_equal(decode_exact(p, sizeof(p) - 1, &m, &scratch), 0);
	assert_string_equal(m.db, "q\"b\\s/n\n\r\t\b\f");
	assert_string_equal(m.app, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	assert_string_equal(m.table, "caf\xc3\xa9\x01\x1f\x7f");
	assert_string_equal(m.owner, "\xf0\x90\x80\x80");
	assert_non_null(m.client);
	assert_int_equal(m.client_len, 0);
	assert_string_equal(m.client, "");
	free(scratch);
}

/* escaped keys are the same keys */
static void
test_decode_escaped_keys(void **state)
{
	static const char p[] =
		"{\"\\u0076\":1,\"d\\u0062\":\"d\",\"\\u0061pp\":\"a\",\"tabl\\u0065\":\"t\"}";
	static const char dup[] =
		"{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\",\"d\\u0062\":\"e\"}";
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	assert_int_equal(decode_exact(p, sizeof(p) - 1, &m, &scratch), 0);
	assert_string_equal(m.db, "d");
	assert_string_equal(m.app, "a");
	assert_string_equal(m.table, "t");
	free(scratch);
	expect_refused(dup, sizeof(dup) - 1);
}

#define HDR "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\""

static void
test_decode_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"{}",
		"[]",
		"null",
		"\"x\"",
		"1",
		HDR,
		HDR ",",
		HDR ",}",
		HDR "}}",
		HDR "},",
		HDR "} x",
		HDR "}{}",
		HDR "}\v",
		HDR "}\f",
		HDR "}\xc2\xa0",
		"\v" HDR "}",
		HDR ";}",
		HDR " \"owner\":\"o\"}",
		/* required keys */
		"{\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"d\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"d\",\"app\":\"a\"}",
		/* v must be the number 1 */
		"{\"v\":2,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":0,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":\"1\",\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1.0,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1e0,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":01,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":-1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":+1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":11,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":true,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":null,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\"1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{v:1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{'v':1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		/* duplicate known keys */
		HDR ",\"v\":1}",
		HDR ",\"db\":\"d\"}",
		HDR ",\"app\":\"a\"}",
		HDR ",\"table\":\"t\"}",
		HDR ",\"owner\":\"o\",\"owner\":\"o\"}",
		HDR ",\"client\":\"c\",\"client\":\"c\"}",
		/* wrong value types for known keys */
		"{\"v\":1,\"db\":1,\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":null,\"app\":\"a\",\"table\":\"t\"}",
		HDR ",\"owner\":null}",
		HDR ",\"client\":null}",
		HDR ",\"owner\":5}",
		HDR ",\"client\":[]}",
		/* unknown keys with non-string/number values */
		HDR ",\"x\":null}",
		HDR ",\"x\":true}",
		HDR ",\"x\":false}",
		HDR ",\"x\":{}}",
		HDR ",\"x\":[]}",
		HDR ",\"x\":[1]}",
		HDR ",\"x\":{\"a\":1}}",
		HDR ",\"x\":}",
		HDR ",\"x\"}",
		HDR ",\"x\":1 2}",
		/* bad numbers */
		HDR ",\"x\":01}",
		HDR ",\"x\":-}",
		HDR ",\"x\":1.}",
		HDR ",\"x\":.5}",
		HDR ",\"x\":1e}",
		HDR ",\"x\":1e+}",
		HDR ",\"x\":+1}",
		HDR ",\"x\":0x10}",
		HDR ",\"x\":NaN}",
		HDR ",\"x\":Infinity}",
		HDR ",\"x\":--1}",
		/* bad strings */
		HDR ",\"x\":\"unterminated}",
		HDR ",\"x\":\"bad \\x escape\"}",
		HDR ",\"x\":\"bad \\' escape\"}",
		HDR ",\"x\":\"trailing backslash\\",
		HDR ",\"x\":\"\\u12\"}",
		HDR ",\"x\":\"\\u12G4\"}",
		HDR ",\"x\":\"\\U0041\"}",
		HDR ",\"x\":\"\\u0000\"}",
		HDR ",\"x\":\"\\ud800\"}",
		HDR ",\"x\":\"\\ud800x\"}",
		HDR ",\"x\":\"\\ud800\\u0041\"}",
		HDR ",\"x\":\"\\ud800\\ud800\"}",
		HDR ",\"x\":\"\\udc00\"}",
		HDR ",\"x\":\"\\udfff\\ud800\"}",
		HDR ",\"x\":\"\\ud800\\n\"}",
		HDR ",\"x\":\"\\ud800\\",
		HDR ",\"x\":\"\\ud800\\u",
		HDR ",\"x\":\"\\ud800\\udc0",
		HDR ",\"x\":\"raw\ttab\"}",
		HDR ",\"x\":\"raw\nnewline\"}",
		HDR ",\"x\":\"raw\x1f\"}",
		HDR ",\"x\\\":\"k\"}",
		"{\"v\":1,\"db\":\"\\u0000\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"a\\ud83d\",\"app\":\"a\",\"table\":\"t\"}",
		/* empty required strings */
		"{\"v\":1,\"db\":\"\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"d\",\"app\":\"\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"\"}",
		/* missing separators */
		"{\"v\":1 \"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{,\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\"::1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], strlen(bad[i]));
	/* a raw NUL inside a string or after the object */
	{
		static const char p1[] = "{\"v\":1,\"db\":\"d\0\",\"app\":\"a\",\"table\":\"t\"}";
		static const char p2[] = HDR "}\0";
		static const char p3[] = HDR "}";

		expect_refused(p1, sizeof(p1) - 1);
		expect_refused(p2, sizeof(p2) - 1);
		/* the same bytes without the NUL are fine */
		{
			mana_notify_msg m;
			char	   *scratch;

			assert_int_equal(decode_exact(p3, sizeof(p3) - 1, &m, &scratch), 0);
			free(scratch);
		}
	}
	/* NULL arguments */
	{
		mana_notify_msg m;
		char		scratch[64];

		assert_int_equal(mana_notify_decode(NULL, 0, &m, scratch), -1);
		assert_int_equal(mana_notify_decode(HDR "}", strlen(HDR "}"), NULL, scratch), -1);
		assert_int_equal(mana_notify_decode(HDR "}", strlen(HDR "}"), &m, NULL), -1);
	}
}

static void
test_decode_valid_numbers_skipped(void **state)
{
	static const char *const good[] = {
		HDR ",\"x\":0}",
		HDR ",\"x\":-0}",
		HDR ",\"x\":123}",
		HDR ",\"x\":-123.456}",
		HDR ",\"x\":1e5}",
		HDR ",\"x\":1E+5}",
		HDR ",\"x\":1e-5}",
		HDR ",\"x\":0.0e0}",
		HDR ",\"x\":99999999999999999999999999999999999999}",
		HDR ",\"x\":\"\"}",
		HDR ",\"x\":\"\\ud83d\\ude00\"}",
		HDR ",\"\":0}",
		HDR ",\"v2\":2}",
		HDR ",\"V\":2}",
		HDR ",\"x\":1,\"x\":2,\"x\":\"3\"}",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		mana_notify_msg m;
		char	   *scratch;

		if (decode_exact(good[i], strlen(good[i]), &m, &scratch) != 0)
			fail_msg("refused valid payload %s", good[i]);
		assert_string_equal(m.db, "d");
		free(scratch);
	}
}

static void
test_decode_length_limits(void **state)
{
	char		p[2048];
	char		name[300];
	mana_notify_msg m;
	char	   *scratch;

	(void) state;
	memset(name, 'n', sizeof(name));

	/* 256-byte names are fine, 257 are refused */
	snprintf(p, sizeof(p), "{\"v\":1,\"db\":\"%.256s\",\"app\":\"%.256s\",\"table\":\"%.256s\","
			 "\"owner\":\"%.256s\",\"client\":\"%.128s\"}", name, name, name, name, name);
	assert_int_equal(decode_exact(p, strlen(p), &m, &scratch), 0);
	assert_int_equal(m.db_len, 256);
	assert_int_equal(m.owner_len, 256);
	assert_int_equal(m.client_len, 128);
	free(scratch);

	snprintf(p, sizeof(p), "{\"v\":1,\"db\":\"%.257s\",\"app\":\"a\",\"table\":\"t\"}", name);
	expect_refused(p, strlen(p));
	snprintf(p, sizeof(p), "{\"v\":1,\"db\":\"d\",\"app\":\"%.257s\",\"table\":\"t\"}", name);
	expect_refused(p, strlen(p));
	snprintf(p, sizeof(p), "{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"%.257s\"}", name);
	expect_refused(p, strlen(p));
	snprintf(p, sizeof(p), HDR ",\"owner\":\"%.257s\"}", name);
	expect_refused(p, strlen(p));
	snprintf(p, sizeof(p), HDR ",\"client\":\"%.129s\"}", name);
	expect_refused(p, strlen(p));
	/* the limit is on the unescaped bytes: 128 x "\u00e9" = 256 bytes */
	{
		char	   *w = p;
		int			i;

		w += sprintf(w, HDR ",\"owner\":\"");
		for (i = 0; i < 128; i++)
			w += sprintf(w, "\\u00e9");
		sprintf(w, "\"}");
		assert_int_equal(decode_exact(p, strlen(p), &m, &scratch), 0);
		assert_int_equal(m.owner_len, 256);
		free(scratch);
	}
}

/* ------------------------------------------------------------ round trips */

static void
test_round_trips(void **state)
{
	mana_notify_msg m;
	mana_notify_msg e;
	char		all[255];
	char		big[MANA_NOTIFY_MAX_OWNER + 1];
	int			i;

	(void) state;
	m = msg("appdb", "todo", "items", "alice", "c1");
	round_trip(&m, NULL);
	m = msg("d", "a", "t", NULL, NULL);
	round_trip(&m, NULL);
	m = msg("d\"", "a\\", "t/", "\n\r\t\b\f", "\x01\x7f");
	round_trip(&m, NULL);
	m = msg("caf\xc3\xa9", "\xf0\x9f\x98\x80", "\xe2\x82\xac", "\xd7\xa9", "");
	round_trip(&m, NULL);
	/* every byte 1..255 */
	for (i = 0; i < 255; i++)
		all[i] = (char) (i + 1);
	m = msg("d", "a", "t", NULL, NULL);
	m.db = m.app = m.table = m.owner = m.client = all;
	m.db_len = m.app_len = m.table_len = m.owner_len = 255;
	m.client_len = 128;
	round_trip(&m, NULL);
	/* over-long owner/client are omitted: they decode as absent */
	memset(big, 'o', sizeof(big));
	m = msg("d", "a", "t", NULL, NULL);
	m.owner = big;
	m.owner_len = sizeof(big);
	m.client = big;
	m.client_len = MANA_NOTIFY_MAX_CLIENT + 1;
	e = msg("d", "a", "t", NULL, NULL);
	round_trip(&m, &e);
}

/* every prefix of a valid payload is refused; no overread */
static void
test_prefixes(void **state)
{
	char		buf[MANA_NOTIFY_MAX_PAYLOAD];
	mana_notify_msg m = msg("d\"b", "\xc3\xa9pp", "t\\\n", "own", "cli");
	int			n = mana_notify_encode(&m, buf);
	int			i;

	(void) state;
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		expect_refused(buf, (size_t) i);
	{
		static const char p[] = " {\"v\" : 1 , \"db\":\"\\ud83d\\ude00\",\"app\":\"a\","
			"\"table\":\"t\",\"x\":-1.5e3 } ";

		for (i = 0; i < (int) sizeof(p) - 2; i++)
			expect_refused(p, (size_t) i);
		{
			mana_notify_msg d;
			char	   *scratch;

			assert_int_equal(decode_exact(p, sizeof(p) - 2, &d, &scratch), 0);
			free(scratch);
			assert_int_equal(decode_exact(p, sizeof(p) - 1, &d, &scratch), 0);
			free(scratch);
		}
	}
}

/* scratch of len + 1 suffices in the worst cases (ASan-checked) */
static void
test_scratch_bound(void **state)
{
	static const char *const tight[] = {
		"{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\"}",
		"{\"v\":1,\"db\":\"\\ud83d\\ude00\",\"app\":\"\\u20ac\",\"table\":\"\\u00e9\"}",
		"{\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\",\"owner\":\"\",\"client\":\"\"}",
		"{\"\":\"\",\"v\":1,\"db\":\"d\",\"app\":\"a\",\"table\":\"t\",\"\":\"\"}",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(tight) / sizeof(tight[0]); i++)
	{
		mana_notify_msg m;
		char	   *scratch;

		assert_int_equal(decode_exact(tight[i], strlen(tight[i]), &m, &scratch), 0);
		free(scratch);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_basic),
		cmocka_unit_test(test_encode_escaping),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_encode_worst_case_size),
		cmocka_unit_test(test_decode_basic),
		cmocka_unit_test(test_decode_optional_absent),
		cmocka_unit_test(test_decode_any_order_whitespace_unknown),
		cmocka_unit_test(test_decode_unescape),
		cmocka_unit_test(test_decode_escaped_keys),
		cmocka_unit_test(test_decode_invalid),
		cmocka_unit_test(test_decode_valid_numbers_skipped),
		cmocka_unit_test(test_decode_length_limits),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_scratch_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
