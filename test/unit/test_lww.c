/*
 * test_lww.c
 *     cmocka tests of lww.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lww.h"

static mana_lww_result
decide_s(int64_t in_ts, bool has_stored, int64_t st_ts, const char *in, const char *st)
{
	return mana_lww_decide(in_ts, has_stored, st_ts, in, strlen(in), st, strlen(st));
}

static void
test_cmp_ts(void **state)
{
	(void) state;
	assert_true(mana_lww_cmp_ts(2, true, 1) > 0);
	assert_true(mana_lww_cmp_ts(1, true, 2) < 0);
	assert_int_equal(mana_lww_cmp_ts(5, true, 5), 0);
	assert_true(mana_lww_cmp_ts(-1, true, 0) < 0);
	assert_true(mana_lww_cmp_ts(0, true, -1) > 0);
	/* extremes: no subtraction overflow */
	assert_true(mana_lww_cmp_ts(INT64_MAX, true, INT64_MIN) > 0);
	assert_true(mana_lww_cmp_ts(INT64_MIN, true, INT64_MAX) < 0);
	assert_int_equal(mana_lww_cmp_ts(INT64_MIN, true, INT64_MIN), 0);
	assert_int_equal(mana_lww_cmp_ts(INT64_MAX, true, INT64_MAX), 0);
	/* a missing stored timestamp is older than anything */
	assert_true(mana_lww_cmp_ts(INT64_MIN, false, 0) > 0);
	assert_true(mana_lww_cmp_ts(0, false, 0) > 0);
	assert_true(mana_lww_cmp_ts(INT64_MIN, false, INT64_MAX) > 0);
	assert_true(mana_lww_cmp_ts(-62167219200000, false, 253402300799999) > 0);
}

static void
test_newer_older(void **state)
{
	(void) state;
	/* newer incoming wins whatever the values */
	assert_int_equal(decide_s(2000, true, 1000, "\"a\"", "\"z\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1001, true, 1000, "1", "1"), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(0, true, -1, "null", "\"x\""), MANA_LWW_INCOMING);
	/* older incoming loses whatever the values */
	assert_int_equal(decide_s(999, true, 1000, "\"z\"", "\"a\""), MANA_LWW_STORED);
	assert_int_equal(decide_s(999, true, 1000, "1", "1"), MANA_LWW_STORED);
	assert_int_equal(decide_s(-1, true, 0, "\"zzzz\"", ""), MANA_LWW_STORED);
}

static void
test_missing_stored(void **state)
{
	(void) state;
	assert_int_equal(decide_s(1000, false, 0, "\"a\"", "\"z\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, false, 1000, "1", "1"), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(INT64_MIN, false, INT64_MAX, "\"a\"", "\"b\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(-62167219200000, false, 0, "null", "null"), MANA_LWW_INCOMING);
	/* values are not even looked at: NULL pointers are fine */
	assert_int_equal(mana_lww_decide(5, false, 0, NULL, 0, NULL, 0), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_decide(5, true, 4, NULL, 0, NULL, 0), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_decide(3, true, 4, NULL, 0, NULL, 0), MANA_LWW_STORED);
}

static void
test_tie(void **state)
{
	(void) state;
	/* equal timestamps: greater canonical JSON bytes win */
	assert_int_equal(decide_s(1000, true, 1000, "\"b\"", "\"a\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "\"a\"", "\"b\""), MANA_LWW_STORED);
	assert_int_equal(decide_s(1000, true, 1000, "2", "10"), MANA_LWW_INCOMING);	/* bytes, not numbers */
	assert_int_equal(decide_s(1000, true, 1000, "10", "2"), MANA_LWW_STORED);
	assert_int_equal(decide_s(1000, true, 1000, "true", "false"), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "null", "true"), MANA_LWW_STORED);
	/* prefix: the longer wins */
	assert_int_equal(decide_s(1000, true, 1000, "\"ab\"", "\"ab"), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "12", "123"), MANA_LWW_STORED);
	assert_int_equal(decide_s(1000, true, 1000, "123", "12"), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "x", ""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "", "x"), MANA_LWW_STORED);
	/* memcmp order is unsigned: UTF-8 lead bytes sort above ASCII */
	assert_int_equal(decide_s(1000, true, 1000, "\"\xc3\xa9\"", "\"z\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(1000, true, 1000, "\"z\"", "\"\xc3\xa9\""), MANA_LWW_STORED);
	assert_int_equal(decide_s(1000, true, 1000, "\"\xff\"", "\"\x7f\""), MANA_LWW_INCOMING);
	/* the difference in the last byte only */
	assert_int_equal(decide_s(1000, true, 1000, "{\"a\":1,\"b\":3}", "{\"a\":1,\"b\":2}"),
					 MANA_LWW_INCOMING);
}

static void
test_same(void **state)
{
	(void) state;
	assert_int_equal(decide_s(1000, true, 1000, "\"a\"", "\"a\""), MANA_LWW_SAME);
	assert_int_equal(decide_s(1000, true, 1000, "null", "null"), MANA_LWW_SAME);
	assert_int_equal(decide_s(1000, true, 1000, "", ""), MANA_LWW_SAME);
	assert_int_equal(mana_lww_decide(7, true, 7, NULL, 0, NULL, 0), MANA_LWW_SAME);
	assert_int_equal(mana_lww_decide(7, true, 7, NULL, 0, "", 0), MANA_LWW_SAME);
	/* embedded NUL bytes are compared too */
	assert_int_equal(mana_lww_decide(7, true, 7, "a\0b", 3, "a\0b", 3), MANA_LWW_SAME);
	assert_int_equal(mana_lww_decide(7, true, 7, "a\0c", 3, "a\0b", 3), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_decide(7, true, 7, "a\0", 2, "a", 1), MANA_LWW_INCOMING);
	/* same value, different timestamps: not SAME */
	assert_int_equal(decide_s(1001, true, 1000, "\"a\"", "\"a\""), MANA_LWW_INCOMING);
	assert_int_equal(decide_s(999, true, 1000, "\"a\"", "\"a\""), MANA_LWW_STORED);
}

static void
test_tiebreak_direct(void **state)
{
	(void) state;
	assert_int_equal(mana_lww_tiebreak("b", 1, "a", 1), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_tiebreak("a", 1, "b", 1), MANA_LWW_STORED);
	assert_int_equal(mana_lww_tiebreak("a", 1, "a", 1), MANA_LWW_SAME);
	assert_int_equal(mana_lww_tiebreak("ab", 2, "a", 1), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_tiebreak("a", 1, "ab", 2), MANA_LWW_STORED);
	assert_int_equal(mana_lww_tiebreak(NULL, 0, "a", 1), MANA_LWW_STORED);
	assert_int_equal(mana_lww_tiebreak("a", 1, NULL, 0), MANA_LWW_INCOMING);
	assert_int_equal(mana_lww_tiebreak(NULL, 0, NULL, 0), MANA_LWW_SAME);
	/* lengths are honoured: bytes past len are not compared */
	assert_int_equal(mana_lww_tiebreak("abX", 2, "abY", 2), MANA_LWW_SAME);
	assert_int_equal(mana_lww_tiebreak("abZ", 2, "abY", 3), MANA_LWW_STORED);
}

/*
 * Convergence: two replicas that see writes A and B in opposite orders end
 * with the same value.  decide(a over b) and decide(b over a) must pick the
 * same winner, and exactly one of them (or SAME for identical writes).
 */
typedef struct w
{
	bool		has_ts;
	int64_t		ts;
	const char *val;
} w;

static const w *
winner(const w *incoming, const w *stored)
{
	mana_lww_result r = mana_lww_decide(incoming->ts, stored->has_ts, stored->ts,
										incoming->val, strlen(incoming->val),
										stored->val, strlen(stored->val));

	return r == MANA_LWW_INCOMING ? incoming : stored;
}

static void
test_symmetry(void **state)
{
	static const char *const vals[] = {
		"", "null", "true", "false", "0", "1", "10", "2", "-1", "\"\"", "\"a\"",
		"\"ab\"", "\"b\"", "\"\xc3\xa9\"", "[1,2]", "[1,2,3]", "{\"a\":1}",
		"{\"a\":1,\"b\":2}", "\"\\u0000\"",
	};
	static const int64_t tss[] = {INT64_MIN, -1, 0, 1, 1000, INT64_MAX};
	size_t		nv = sizeof(vals) / sizeof(vals[0]);
	size_t		nt = sizeof(tss) / sizeof(tss[0]);
	size_t		i,
				j,
				k,
				l;

	(void) state;
	for (i = 0; i < nv; i++)
		for (j = 0; j < nt; j++)
			for (k = 0; k < nv; k++)
				for (l = 0; l < nt; l++)
				{
					w			a = {true, tss[j], vals[i]};
					w			b = {true, tss[l], vals[k]};
					mana_lww_result ab = mana_lww_decide(a.ts, true, b.ts, a.val, strlen(a.val),
														 b.val, strlen(b.val));
					mana_lww_result ba = mana_lww_decide(b.ts, true, a.ts, b.val, strlen(b.val),
														 a.val, strlen(a.val));

					if (i == k && j == l)
					{
						assert_int_equal(ab, MANA_LWW_SAME);
						assert_int_equal(ba, MANA_LWW_SAME);
						continue;
					}
					/* a distinct pair: exactly one side wins */
					assert_int_not_equal(ab, MANA_LWW_SAME);
					assert_int_not_equal(ba, MANA_LWW_SAME);
					assert_int_not_equal(ab, ba);
					assert_ptr_equal(winner(&a, &b), winner(&b, &a));
				}
}

/*
 * Three writes applied in all six orders to a field that starts without a
 * timestamp: every order converges to the same final value and timestamp.
 */
static void
test_convergence_all_orders(void **state)
{
	static const w writes[][3] = {
		{{true, 10, "\"a\""}, {true, 20, "\"b\""}, {true, 15, "\"c\""}},
		{{true, 10, "\"a\""}, {true, 10, "\"b\""}, {true, 10, "\"c\""}},
		{{true, 10, "\"b\""}, {true, 10, "\"b\""}, {true, 5, "\"z\""}},
		{{true, 7, "1"}, {true, 7, "10"}, {true, 7, "2"}},
	};
	static const int perms[6][3] = {
		{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}
	};
	size_t		s;
	int			p;

	(void) state;
	for (s = 0; s < sizeof(writes) / sizeof(writes[0]); s++)
	{
		const char *final_val = NULL;
		int64_t		final_ts = 0;

		for (p = 0; p < 6; p++)
		{
			w			field = {false, 0, "\"pre-sync\""};
			int			k;

			for (k = 0; k < 3; k++)
			{
				const w    *in = &writes[s][perms[p][k]];
				mana_lww_result r = mana_lww_decide(in->ts, field.has_ts, field.ts,
													in->val, strlen(in->val),
													field.val, strlen(field.val));

				if (r == MANA_LWW_INCOMING)
					field = *in;
			}
			assert_true(field.has_ts);
			if (p == 0)
			{
				final_val = field.val;
				final_ts = field.ts;
			}
			else
			{
				assert_string_equal(field.val, final_val);
				assert_true(field.ts == final_ts);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmp_ts),
		cmocka_unit_test(test_newer_older),
		cmocka_unit_test(test_missing_stored),
		cmocka_unit_test(test_tie),
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_tiebreak_direct),
		cmocka_unit_test(test_symmetry),
		cmocka_unit_test(test_convergence_all_orders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
