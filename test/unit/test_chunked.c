/*
 * test_chunked.c
 *     cmocka tests of chunked.c (the chunked transfer coding decoder)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chunked.h"

/* decode s fed in pieces of `step` bytes (0: all at once) from exact heap copies */
static mana_chunked_status
decode(const char *s, size_t len, size_t step, char *out, size_t *outlen,
	   size_t *used)
{
	mana_chunked d;
	mana_chunked_status st = MANA_CHUNKED_MORE;
	size_t		i = 0;

	mana_chunked_init(&d);
	*outlen = 0;
	*used = 0;
	while (i < len)
	{
		size_t		n = (step == 0 || len - i < step) ? len - i : step;
		char	   *piece = malloc(n);
		size_t		consumed,
					produced;

		assert_non_null(piece);
		memcpy(piece, s + i, n);
		st = mana_chunked_feed(&d, piece, n, out + *outlen, &consumed, &produced);
		free(piece);
		assert_true(produced <= consumed);
		*outlen += produced;
		*used += consumed;
		if (st != MANA_CHUNKED_MORE)
		{
			if (st == MANA_CHUNKED_ERROR)
				assert_non_null(d.error);
			return st;
		}
		assert_int_equal(consumed, n);
		i += n;
	}
	return st;
}

/* s decodes to body and is used up entirely */
static void
expect_body(const char *s, const char *body)
{
	size_t		len = strlen(s);
	size_t		steps[] = {0, 1, 2, 3, 7};
	size_t		k;

	for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
	{
		char	   *out = malloc(len + 1);
		size_t		outlen,
					used;
		mana_chunked_status st = decode(s, len, steps[k], out, &outlen, &used);

		if (st != MANA_CHUNKED_DONE)
			fail_msg("\"%s\" (step %zu): status %d, expected DONE", s, steps[k], st);
		assert_int_equal(outlen, strlen(body));
		assert_memory_equal(out, body, outlen);
		assert_int_equal(used, len);
		free(out);
	}
}

static void
expect_error(const char *s, size_t len)
{
	size_t		steps[] = {0, 1, 4};
	size_t		k;

	for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
	{
		char	   *out = malloc(len + 1);
		size_t		outlen,
					used;
		mana_chunked_status st = decode(s, len, steps[k], out, &outlen, &used);

		if (st != MANA_CHUNKED_ERROR)
			fail_msg("input %zu bytes (step %zu): status %d, expected ERROR", len, steps[k], st);
		free(out);
	}
}

static void
test_simple(void **state)
{
	(void) state;
	expect_body("5\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("0\r\n\r\n", "");
	expect_body("000\r\n\r\n", "");
	expect_body("3\r\n{\"a\r\n2\r\n\":\r\n1\r\n1\r\n0\r\n\r\n", "{\"a\":1");
	/* hex digits of both cases, leading zeros */
	expect_body("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	expect_body("0A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
}

static void
test_extensions_and_trailers(void **state)
{
	(void) state;
	expect_body("5;name=value\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5 ; name=\"q;x\"\r\nhello\r\n0;last\r\n\r\n", "hello");
	expect_body("2\r\nhi\r\n0\r\nX-Trailer: yes\r\nOther:\t1\r\n\r\n", "hi");
}

static void
test_stops_at_message_end(void **state)
{
	const char *s = "2\r\nhi\r\n0\r\n\r\nPOST /next HTTP/1.1\r\n";
	mana_chunked d;
	char		out[64];
	size_t		consumed,
				produced;

	(void) state;
	mana_chunked_init(&d);
	assert_int_equal(mana_chunked_feed(&d, s, strlen(s), out, &consumed, &produced),
					 MANA_CHUNKED_DONE);
	assert_int_equal(consumed, 12);
	assert_int_equal(produced, 2);
	/* once done, nothing more is taken */
	assert_int_equal(mana_chunked_feed(&d, s, strlen(s), out, &consumed, &produced),
					 MANA_CHUNKED_DONE);
	assert_int_equal(consumed, 0);
	assert_int_equal(produced, 0);
}

static void
test_incomplete(void **state)
{
	const char *parts[] = {"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello",
	"5\r\nhello\r\n", "5\r\nhello\r\n0\r\n", "5\r\nhello\r\n0\r\n\r",
	"5\r\nhello\r\n0\r\nX: 1\r\n"};
	size_t		k;

	(void) state;
	for (k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
	{
		char		out[64];
		size_t		outlen,
					used;

		if (decode(parts[k], strlen(parts[k]), 0, out, &outlen, &used) != MANA_CHUNKED_MORE)
			fail_msg("\"%s\" should want more", parts[k]);
	}
}

static void
test_refused(void **state)
{
	const char *bad[] = {
		"5\nhello\r\n0\r\n\r\n",	/* bare LF after the size */
		"5\r\nhello\n0\r\n\r\n",	/* bare LF after the data */
		"5\r\nhelloX\r\n0\r\n\r\n",	/* data longer than its size */
		"\r\n",					/* no size */
		" 5\r\nhello\r\n",		/* whitespace before the size */
		"-5\r\n",
		"+5\r\n",
		"0x5\r\n",
		"5x\r\n",
		"1234567890abcdef\r\n", /* 16 hex digits */
		"0\r\n X: folded\r\n\r\n",	/* obs-fold in a trailer */
		"0\r\nX: 1\n\r\n",		/* bare LF in a trailer */
		"0\r\n\rX",				/* final CRLF broken */
		"5;a\x01\r\nhello\r\n",	/* control character in an extension */
		"5\r\r\nhello\r\n",
	};
	size_t		k;

	(void) state;
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		expect_error(bad[k], strlen(bad[k]));
	/* a NUL in an extension and in a trailer */
	expect_error("5;a\0b\r\nhello\r\n", 14);
	expect_error("0\r\nX:\0\r\n\r\n", 10);
}

static void
test_bounds(void **state)
{
	size_t		n = MANA_CHUNKED_MAX_LINE + 64;
	char	   *s = malloc(n + 64);
	size_t		i;

	(void) state;
	assert_non_null(s);
	/* an endless extension line */
	s[0] = '1';
	s[1] = ';';
	for (i = 2; i < n; i++)
		s[i] = 'x';
	expect_error(s, n);
	/* an endless trailer field */
	memcpy(s, "0\r\n", 3);
	for (i = 3; i < n; i++)
		s[i] = 'x';
	expect_error(s, n);
	free(s);

	/* many short trailer lines that add up past the section's bound */
	n = 3 + (MANA_CHUNKED_MAX_TRAILER / 6 + 2) * 6;
	s = malloc(n);
	assert_non_null(s);
	memcpy(s, "0\r\n", 3);
	for (i = 3; i + 6 <= n; i += 6)
		memcpy(s + i, "X: 1\r\n", 6);
	expect_error(s, n);
	free(s);

	/* 15 hex digits are accepted (the caller bounds the body) */
	{
		mana_chunked d;
		char		out[32];
		size_t		consumed,
					produced;
		const char *big = "fffffffffffffff\r\nabc";

		mana_chunked_init(&d);
		assert_int_equal(mana_chunked_feed(&d, big, strlen(big), out, &consumed, &produced),
						 MANA_CHUNKED_MORE);
		assert_int_equal(produced, 3);
		assert_true(d.remain == 0xfffffffffffffffULL - 3);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_extensions_and_trailers),
		cmocka_unit_test(test_stops_at_message_end),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
