/*
 * test_names.c
 *     cmocka tests of names.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "names.h"

/* runs on an exact-size input copy and an exact-size output buffer */
static void
check_s2c(const char *in, const char *want)
{
	size_t		len = strlen(in);
	char	   *src = malloc(len ? len : 1);
	char	   *out = malloc(len + 1);
	size_t		n;

	assert_non_null(src);
	assert_non_null(out);
	memcpy(src, in, len);
	n = mana_snake_to_camel(src, len, out);
	if (n != strlen(want) || strcmp(out, want) != 0)
		fail_msg("snake_to_camel(\"%s\") = \"%s\", expected \"%s\"", in, out, want);
	free(src);
	free(out);
}

static void
check_c2s(const char *in, const char *want)
{
	size_t		len = strlen(in);
	char	   *src = malloc(len ? len : 1);
	char	   *out = malloc(2 * len + 1);
	size_t		n;

	assert_non_null(src);
	assert_non_null(out);
	memcpy(src, in, len);
	n = mana_camel_to_snake(src, len, out);
	if (n != strlen(want) || strcmp(out, want) != 0)
		fail_msg("camel_to_snake(\"%s\") = \"%s\", expected \"%s\"", in, out, want);
	free(src);
	free(out);
}

static void
test_snake_to_camel(void **state)
{
	(void) state;
	check_s2c("", "");
	check_s2c("id", "id");
	check_s2c("is_completed", "isCompleted");
	check_s2c("created_at", "createdAt");
	check_s2c("a_b_c", "aBC");
	check_s2c("user_id_2", "userId2");
	check_s2c("line_2_text", "line2Text");
	check_s2c("x_1", "x1");
	check_s2c("a_z", "aZ");
	check_s2c("already_camel", "alreadyCamel");
}

static void
test_snake_to_camel_underscores_kept(void **state)
{
	(void) state;
	/* leading */
	check_s2c("_", "_");
	check_s2c("_id", "_id");
	check_s2c("__id", "__id");
	check_s2c("_private_field", "_privateField");
	/* trailing */
	check_s2c("id_", "id_");
	check_s2c("id__", "id__");
	check_s2c("a_b_", "aB_");
	/* doubled */
	check_s2c("a__b", "a__b");
	check_s2c("a___b", "a___b");
	check_s2c("a__b_c", "a__bC");
	check_s2c("___", "___");
	/* '_' before anything but [a-z0-9] */
	check_s2c("a_B", "a_B");
	check_s2c("a_Bc_d", "a_BcD");
	check_s2c("a_-b", "a_-b");
	check_s2c("a_$", "a_$");
	check_s2c("a_\xc3\xa9", "a_\xc3\xa9");
	check_s2c("\xc3\xa9_a", "\xc3\xa9" "A");
	/* other characters untouched */
	check_s2c("Mixed_Case", "Mixed_Case");
	check_s2c("with space_x", "with spaceX");
	check_s2c("9_9", "99");
}

static void
test_camel_to_snake(void **state)
{
	(void) state;
	check_c2s("", "");
	check_c2s("id", "id");
	check_c2s("isCompleted", "is_completed");
	check_c2s("createdAt", "created_at");
	check_c2s("aBC", "a_b_c");
	check_c2s("userID", "user_i_d");
	check_c2s("X", "x");
	check_c2s("Id", "id");
	check_c2s("IdX", "id_x");
	check_c2s("ABC", "a_b_c");	/* worst case: 2 * len - 1 */
	check_c2s("line2Text", "line2_text");
	check_c2s("already_snake", "already_snake");
	check_c2s("_Private", "__private");
	check_c2s("\xc3\x89t\xc3\xa9", "\xc3\x89t\xc3\xa9");	/* non-ASCII untouched */
	check_c2s("a-B", "a-_b");
	check_c2s("@Z[", "@_z[");		/* just outside A..Z */
}

static void
test_all_bytes(void **state)
{
	int			c;

	(void) state;
	/* camel_to_snake changes exactly A..Z */
	for (c = 1; c < 256; c++)
	{
		char		in[2] = {'a', (char) c};
		char		out[5];
		size_t		n = mana_camel_to_snake(in, 2, out);

		if (c >= 'A' && c <= 'Z')
		{
			assert_int_equal(n, 3);
			assert_int_equal(out[1], '_');
			assert_int_equal(out[2], c - 'A' + 'a');
		}
		else
		{
			assert_int_equal(n, 2);
			assert_int_equal((unsigned char) out[1], c);
		}
	}
	/* snake_to_camel consumes '_' exactly before a..z and 0..9 */
	for (c = 1; c < 256; c++)
	{
		char		in[3] = {'a', '_', (char) c};
		char		out[4];
		size_t		n = mana_snake_to_camel(in, 3, out);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		{
			assert_int_equal(n, 2);
			assert_int_equal(out[1], (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c);
		}
		else
		{
			assert_int_equal(n, 3);
			assert_memory_equal(out, in, 3);
		}
		assert_int_equal(out[n], '\0');
	}
}

static void
test_round_trips(void **state)
{
	static const char *const snake[] = {
		"id", "is_completed", "created_at", "a_b_c", "owner_user_id", "x",
	};
	static const char *const camel[] = {
		"id", "isCompleted", "createdAt", "aBC", "ownerUserId", "x",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(snake) / sizeof(snake[0]); i++)
	{
		check_s2c(snake[i], camel[i]);
		check_c2s(camel[i], snake[i]);
	}
}

static void
test_embedded_nul_and_lengths(void **state)
{
	char		out[16];

	(void) state;
	/* only len bytes are read; NUL is an ordinary byte */
	assert_int_equal(mana_snake_to_camel("a_bXYZ", 3, out), 2);
	assert_string_equal(out, "aB");
	assert_int_equal(mana_snake_to_camel("a_", 2, out), 2);	/* '_' last within len */
	assert_string_equal(out, "a_");
	assert_int_equal(mana_snake_to_camel("a\0_b", 4, out), 3);
	assert_memory_equal(out, "a\0B", 4);
	assert_int_equal(mana_camel_to_snake("aBCD", 2, out), 3);
	assert_string_equal(out, "a_b");
	assert_int_equal(mana_camel_to_snake("a\0B", 3, out), 4);
	assert_memory_equal(out, "a\0_b", 5);
	assert_int_equal(mana_snake_to_camel(NULL, 0, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(mana_camel_to_snake(NULL, 0, out), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snake_to_camel),
		cmocka_unit_test(test_snake_to_camel_underscores_kept),
		cmocka_unit_test(test_camel_to_snake),
		cmocka_unit_test(test_all_bytes),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_embedded_nul_and_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
