/*
 * test_b64url.c
 *     cmocka tests of b64url.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64url.h"

/* decode from an exact-size heap copy (no NUL after it) */
static long
decode_exact(const char *str, size_t len, unsigned char **out)
{
	size_t		declen = MANA_B64URL_DECLEN(len);
	char	   *copy = malloc(len ? len : 1);
	unsigned char *buf = malloc(declen > 0 ? declen : 1);
	long		rc;

	assert_non_null(copy);
	assert_non_null(buf);
	memcpy(copy, str, len);
	rc = mana_b64url_decode(copy, len, buf);
	free(copy);
	*out = buf;
	return rc;
}

static void
expect_decode(const char *enc, const char *dec, size_t dec_len)
{
	unsigned char *buf;
	long		rc = decode_exact(enc, strlen(enc), &buf);

	if (rc != (long) dec_len)
		fail_msg("decode(\"%s\") returned %ld, expected %zu", enc, rc, dec_len);
	if (dec_len)
		assert_memory_equal(buf, dec, dec_len);
	free(buf);
}

static void
expect_refused(const char *enc, size_t len)
{
	unsigned char *buf;
	long		rc = decode_exact(enc, len, &buf);

	free(buf);
	if (rc != -1)
		fail_msg("decode accepted invalid input \"%.*s\" (%ld)", (int) len, enc, rc);
}

static void
expect_encode(const char *dec, size_t dec_len, const char *enc)
{
	char		out[128];

	memset(out, 'x', sizeof(out));
	assert_int_equal(mana_b64url_encode((const unsigned char *) dec, dec_len, out),
					 strlen(enc));
	assert_int_equal(MANA_B64URL_ENCLEN(dec_len), strlen(enc));
	assert_string_equal(out, enc);
}

static void
test_rfc4648_vectors(void **state)
{
	(void) state;
	expect_encode("", 0, "");
	expect_encode("f", 1, "Zg");
	expect_encode("fo", 2, "Zm8");
	expect_encode("foo", 3, "Zm9v");
	expect_encode("foob", 4, "Zm9vYg");
	expect_encode("fooba", 5, "Zm9vYmE");
	expect_encode("foobar", 6, "Zm9vYmFy");

	expect_decode("", "", 0);
	expect_decode("Zg", "f", 1);
	expect_decode("Zm8", "fo", 2);
	expect_decode("Zm9v", "foo", 3);
	expect_decode("Zm9vYg", "foob", 4);
	expect_decode("Zm9vYmE", "fooba", 5);
	expect_decode("Zm9vYmFy", "foobar", 6);
}

static void
test_url_alphabet(void **state)
{
	(void) state;
	/* standard base64 "+/8=" / "//8=" / "+/+/" */
	expect_encode("\xfb\xff", 2, "-_8");
	expect_encode("\xff\xff", 2, "__8");
	expect_encode("\xfb\xef\xbe", 3, "----");
	expect_encode("\xff\xff\xff", 3, "____");
	expect_encode("\0", 1, "AA");
	expect_encode("\0\0\0", 3, "AAAA");
	expect_decode("-_8", "\xfb\xff", 2);
	expect_decode("____", "\xff\xff\xff", 3);
	expect_decode("AAAA", "\0\0\0", 3);
	expect_decode("AA", "\0", 1);
	/* every alphabet character decodes, in order */
	{
		static const char all[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		unsigned char buf[48];
		unsigned char back_in[48];
		char		back[65];
		int			i;

		assert_int_equal(mana_b64url_decode(all, 64, buf), 48);
		for (i = 0; i < 48; i++)
			back_in[i] = buf[i];
		assert_int_equal(mana_b64url_encode(back_in, 48, back), 64);
		assert_string_equal(back, all);
	}
}

static void
test_refuses(void **state)
{
	static const char *const bad[] = {
		"A",					/* single final character */
		"Zm9vY",				/* 4n+1 */
		"Zg==",					/* padding */
		"Zg=",
		"Zm8=",
		"=",
		"====",
		"Zh",					/* non-zero trailing bits (4) */
		"Zm9",					/* non-zero trailing bits (2) */
		"Zm9vYh",
		"Zm9vYmF",
		"AB",
		"AAB",
		"Zm9v+A",				/* standard alphabet */
		"Zm9v/A",
		"Zm9v Zg",				/* whitespace */
		"Zm9v\nZg",
		" Zm9v",
		"Zm9v ",
		"Zm9v\tZg",
		"Zm.v",
		"Zm9v~",
		"Zm9v\x80\x80",
		"\xff\xff",
		"Zm9v%3D",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], strlen(bad[i]));
	/* embedded NUL */
	expect_refused("Zm\0v", 4);
	expect_refused("\0\0", 2);
}

static void
test_round_trip_all_lengths(void **state)
{
	uint32_t	rng = 12345;
	size_t		len;

	(void) state;
	for (len = 0; len <= 600; len++)
	{
		unsigned char *in = malloc(len ? len : 1);
		char	   *enc = malloc(MANA_B64URL_ENCLEN(len) + 1);
		unsigned char *dec;
		size_t		n;
		long		m;
		size_t		i;

		assert_non_null(in);
		assert_non_null(enc);
		for (i = 0; i < len; i++)
		{
			rng = rng * 1103515245u + 12345u;
			in[i] = (unsigned char) (rng >> 16);
		}
		n = mana_b64url_encode(in, len, enc);
		assert_int_equal(n, MANA_B64URL_ENCLEN(len));
		assert_int_equal(enc[n], '\0');
		assert_true(MANA_B64URL_DECLEN(n) >= len);
		m = decode_exact(enc, n, &dec);
		assert_int_equal(m, (long) len);
		if (len)
			assert_memory_equal(dec, in, len);
		free(dec);
		free(enc);
		free(in);
	}
}

/* every 2- and 3-character final group: exactly the canonical ones decode */
static void
test_trailing_bits_exhaustive(void **state)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int			a,
				b,
				c;
	int			ok2 = 0,
				ok3 = 0;

	(void) state;
	for (a = 0; a < 64; a++)
		for (b = 0; b < 64; b++)
		{
			char		s[2];
			unsigned char out[3];
			long		rc;

			s[0] = alpha[a];
			s[1] = alpha[b];
			rc = mana_b64url_decode(s, 2, out);
			if (rc == 1)
			{
				char		re[4];

				ok2++;
				mana_b64url_encode(out, 1, re);
				assert_memory_equal(re, s, 2);
			}
			else
				assert_int_equal(rc, -1);
			for (c = 0; c < 64; c += 1)
			{
				char		t[3];

				t[0] = alpha[a];
				t[1] = alpha[b];
				t[2] = alpha[c];
				rc = mana_b64url_decode(t, 3, out);
				if (rc == 2)
				{
					char		re[5];

					ok3++;
					mana_b64url_encode(out, 2, re);
					assert_memory_equal(re, t, 3);
				}
				else
					assert_int_equal(rc, -1);
			}
		}
	assert_int_equal(ok2, 256);
	assert_int_equal(ok3, 65536);
}

/* every byte value outside the alphabet is refused in every position */
static void
test_every_bad_byte(void **state)
{
	int			ch;

	(void) state;
	for (ch = 0; ch < 256; ch++)
	{
		int			pos;
		int			in_alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			(ch >= '0' && ch <= '9') || ch == '-' || ch == '_';

		if (in_alpha)
			continue;
		for (pos = 0; pos < 4; pos++)
		{
			char		s[4] = {'A', 'A', 'A', 'A'};
			unsigned char out[3];

			s[pos] = (char) ch;
			assert_int_equal(mana_b64url_decode(s, 4, out), -1);
			assert_int_equal(mana_b64url_decode(s, 3, out), pos < 3 ? -1 : 2);
		}
	}
}

static void
test_macros(void **state)
{
	(void) state;
	assert_int_equal(MANA_B64URL_ENCLEN(0), 0);
	assert_int_equal(MANA_B64URL_ENCLEN(1), 2);
	assert_int_equal(MANA_B64URL_ENCLEN(2), 3);
	assert_int_equal(MANA_B64URL_ENCLEN(3), 4);
	assert_int_equal(MANA_B64URL_ENCLEN(256), 342);
	assert_int_equal(MANA_B64URL_DECLEN(0), 0);
	assert_int_equal(MANA_B64URL_DECLEN(2), 3);
	assert_int_equal(MANA_B64URL_DECLEN(342), 258);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_round_trip_all_lengths),
		cmocka_unit_test(test_trailing_bits_exhaustive),
		cmocka_unit_test(test_every_bad_byte),
		cmocka_unit_test(test_macros),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
