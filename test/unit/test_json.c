/*
 * test_json.c
 *     cmocka tests of json.c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ARENA_SIZE (64 * 1024)

/* a parse of an exact-size heap copy (no NUL after it), so ASan sees overreads */
typedef struct parsed
{
	char	   *copy;
	char	   *mem;
	mana_arena arena;
	mana_json  *root;
	const char *err;
} parsed;

static void
parse_len(parsed *p, const char *s, size_t len, size_t arena_size)
{
	p->copy = malloc(len ? len : 1);
	p->mem = malloc(arena_size ? arena_size : 1);
	assert_non_null(p->copy);
	assert_non_null(p->mem);
	memcpy(p->copy, s, len);
	p->arena.buf = p->mem;
	p->arena.size = arena_size;
	p->arena.used = 0;
	p->err = NULL;
	p->root = mana_json_parse(p->copy, len, &p->arena, &p->err);
}

static void
parse_str(parsed *p, const char *s)
{
	parse_len(p, s, strlen(s), ARENA_SIZE);
}

static void
parsed_free(parsed *p)
{
	free(p->copy);
	free(p->mem);
}

static void
expect_ok_len(const char *s, size_t len)
{
	parsed		p;

	parse_len(&p, s, len, ARENA_SIZE);
	if (p.root == NULL)
		fail_msg("refused valid JSON \"%.*s\": %s", (int) len, s, p.err ? p.err : "?");
	parsed_free(&p);
}

static void
expect_ok(const char *s)
{
	expect_ok_len(s, strlen(s));
}

static void
expect_refused_len(const char *s, size_t len)
{
	parsed		p;

	parse_len(&p, s, len, ARENA_SIZE);
	if (p.root != NULL)
		fail_msg("accepted invalid JSON \"%.*s\"", (int) len, s);
	if (p.err == NULL || p.err[0] == '\0')
		fail_msg("no error message for \"%.*s\"", (int) len, s);
	parsed_free(&p);
}

static void
expect_refused(const char *s)
{
	expect_refused_len(s, strlen(s));
}

/* ---------------------------------------------------------------- tests */

static void
test_scalars(void **state)
{
	parsed		p;

	(void) state;
	parse_str(&p, "null");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_NULL);
	parsed_free(&p);

	parse_str(&p, " true ");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_TRUE);
	parsed_free(&p);

	parse_str(&p, "\t\r\nfalse\n");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_FALSE);
	parsed_free(&p);

	parse_str(&p, "\"hi\"");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_STRING);
	assert_string_equal(p.root->str, "hi");
	assert_int_equal(p.root->len, 2);
	parsed_free(&p);

	parse_str(&p, "\"\"");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_STRING);
	assert_string_equal(p.root->str, "");
	assert_int_equal(p.root->len, 0);
	parsed_free(&p);
}

static void
test_numbers(void **state)
{
	static const struct
	{
		const char *text;
		double		value;
	}			ok[] = {
		{"0", 0.0}, {"-0", 0.0}, {"1", 1.0}, {"-1", -1.0}, {"123456789", 123456789.0},
		{"0.5", 0.5}, {"-0.25", -0.25}, {"1e3", 1000.0}, {"1E3", 1000.0},
		{"1e+3", 1000.0}, {"1e-3", 0.001}, {"2.5E-1", 0.25}, {"0e0", 0.0},
		{"1e-400", 0.0},		/* underflow to zero is accepted */
		{"1.7976931348623157e308", 1.7976931348623157e308},
	};
	static const char *const bad[] = {
		"01", "-01", "00", "+1", ".5", "5.", "-", "-.5", "1e", "1e+", "1E-",
		"0x10", "1.e3", "NaN", "nan", "Infinity", "-Infinity", "inf", "1e400",
		"-1e400", "1.5.2", "1 2", "--1", "1-", "0.", "١",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
	{
		parsed		p;

		parse_str(&p, ok[i].text);
		if (p.root == NULL)
			fail_msg("refused number %s: %s", ok[i].text, p.err);
		assert_int_equal(p.root->type, MANA_JSON_NUMBER);
		assert_string_equal(p.root->str, ok[i].text);
		assert_int_equal(p.root->len, strlen(ok[i].text));
		assert_true(p.root->num == ok[i].value);
		parsed_free(&p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
	/* numbers inside containers end at the delimiter */
	expect_ok("[0,-0,1.5e3,-2]");
	expect_ok("{\"a\":0}");
	expect_refused("[01]");
	expect_refused("[1.]");
	/* a long run of digits is fine */
	{
		char		big[600];

		memset(big, '9', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		expect_refused(big);	/* 1e599: out of double range */
		memset(big, '9', 300);
		big[300] = '\0';
		expect_ok(big);
	}
}

static void
test_containers(void **state)
{
	parsed		p;
	const mana_json *v;
	const mana_json *arr;
	size_t		len;

	(void) state;
	parse_str(&p, " { \"a\" : 1 , \"b\" : [ true , false , null , \"x\" , { } , [ ] ] ,"
			  "\"c\":{\"d\":\"e\"} } ");
	assert_non_null(p.root);
	assert_int_equal(p.root->type, MANA_JSON_OBJECT);
	assert_int_equal(p.root->count, 3);
	assert_string_equal(p.root->keys[0], "a");
	assert_string_equal(p.root->keys[1], "b");
	assert_string_equal(p.root->keys[2], "c");
	assert_int_equal(p.root->keylens[2], 1);

	v = mana_json_get(p.root, "a");
	assert_non_null(v);
	assert_int_equal(v->type, MANA_JSON_NUMBER);
	assert_true(v->num == 1.0);

	arr = mana_json_get(p.root, "b");
	assert_non_null(arr);
	assert_int_equal(arr->type, MANA_JSON_ARRAY);
	assert_int_equal(arr->count, 6);
	assert_int_equal(arr->items[0]->type, MANA_JSON_TRUE);
	assert_int_equal(arr->items[1]->type, MANA_JSON_FALSE);
	assert_int_equal(arr->items[2]->type, MANA_JSON_NULL);
	assert_int_equal(arr->items[3]->type, MANA_JSON_STRING);
	assert_int_equal(arr->items[4]->type, MANA_JSON_OBJECT);
	assert_int_equal(arr->items[4]->count, 0);
	assert_int_equal(arr->items[5]->type, MANA_JSON_ARRAY);
	assert_int_equal(arr->items[5]->count, 0);

	assert_string_equal(mana_json_get_string(mana_json_get(p.root, "c"), "d", &len), "e");
	assert_int_equal(len, 1);
	assert_non_null(mana_json_get_string(mana_json_get(p.root, "c"), "d", NULL));

	/* wrong types and missing keys */
	assert_null(mana_json_get(p.root, "z"));
	assert_null(mana_json_get(p.root, ""));
	assert_null(mana_json_get(p.root, "ab"));
	assert_null(mana_json_get(arr, "a"));
	assert_null(mana_json_get(NULL, "a"));
	assert_null(mana_json_get(p.root, NULL));
	assert_null(mana_json_get_string(p.root, "a", &len));
	assert_null(mana_json_get_string(p.root, "b", &len));
	assert_null(mana_json_get_string(p.root, "nope", &len));
	assert_null(mana_json_get_string(arr->items[3], "x", &len));
	parsed_free(&p);

	/* keys may be empty and may contain escapes */
	parse_str(&p, "{\"\":1,\"a\\nb\":2,\"\\u00e9\":3}");
	assert_non_null(p.root);
	assert_non_null(mana_json_get(p.root, ""));
	assert_non_null(mana_json_get(p.root, "a\nb"));
	assert_non_null(mana_json_get(p.root, "\xc3\xa9"));
	assert_int_equal(p.root->keylens[2], 2);
	parsed_free(&p);
}

static void
test_syntax_refused(void **state)
{
	static const char *const bad[] = {
		"", " ", "\n\t ", "{", "}", "[", "]", "[1", "[1,", "{\"a\"", "{\"a\":",
		"{\"a\":1", "{\"a\":1,", "[1,]", "[,1]", "[1,,2]", "{\"a\":1,}", "{,}",
		"{\"a\" 1}", "{\"a\":1 \"b\":2}", "[1 2]", "{a:1}", "{'a':1}", "['a']",
		"{1:2}", "{null:1}", "[1]]", "[1]x", "{} {}", "nul", "nulll", "tru",
		"True", "FALSE", "undefined", "/* c */ 1", "1 // c", "[1/*c*/]", "# x",
		"\"abc", "\"abc\\\"", "\"\\", "\xef\xbb\xbf{}", "[\x0b]", "[\x0c]",
		"\x00", "[\"a\"\"b\"]", "{\"a\"::1}", "{\"a\":}",
		"[-]", "@", "[true false]",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
	/* embedded NUL (lengths given explicitly) */
	expect_refused_len("[1]\0", 4);
	expect_refused_len("\0[1]", 4);
	expect_refused_len("[1,\0 2]", 7);
	expect_ok_len("[1]  ", 5);
}

static void
test_strings_refused(void **state)
{
	static const char *const bad[] = {
		"\"a\x01\"", "\"\x1f\"", "\"tab\there\"", "\"nl\nx\"", "\"\\x41\"",
		"\"\\a\"", "\"\\U0041\"", "\"\\u004\"", "\"\\u00g1\"", "\"\\u\"",
		"\"\\u12\"", "\"\\'\"", "\"\\0\"", "\"\\u0000\"", "\"a\\u0000b\"",
		/* unpaired surrogates */
		"\"\\ud800\"", "\"\\uDBFF\"", "\"\\udc00\"", "\"\\uDFFF\"",
		"\"\\ud800x\"", "\"\\ud800\\n\"", "\"\\ud800\\u0041\"",
		"\"\\ud800\\ud800\"", "\"\\udc00\\ud800\"", "\"\\ud800\\u\"",
		"\"\\ud800\\udc0\"", "\"\\ud800\\",
		/* invalid UTF-8 */
		"\"\x80\"", "\"\xbf\"", "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xc2\"",
		"\"\xc2\x41\"", "\"\xe0\x80\x80\"", "\"\xe0\x9f\xbf\"", "\"\xed\xa0\x80\"",
		"\"\xed\xbf\xbf\"", "\"\xe2\x82\"", "\"\xf0\x80\x80\x80\"",
		"\"\xf0\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
		"\"\xf8\x88\x80\x80\x80\"", "\"\xfe\"", "\"\xff\"", "\"\xf0\x9f\x98\"",
		"\"\xe2\x28\xa1\"",
		/* UTF-8 outside strings */
		"\xc3\xa9", "[\xc3\xa9]",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
	/* a raw NUL inside a string is a control character */
	expect_refused_len("\"a\0b\"", 5);
	/* truncated UTF-8 right before the closing quote of the input */
	expect_refused_len("\"\xe2\x82", 3);
}

static void
test_escapes(void **state)
{
	static const struct
	{
		const char *json;
		const char *value;
		size_t		len;
	}			cases[] = {
		{"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
		{"\"\\u0041\"", "A", 1},
		{"\"\\u0001\"", "\x01", 1},
		{"\"\\u007f\"", "\x7f", 1},
		{"\"\\u0080\"", "\xc2\x80", 2},
		{"\"\\u00e9\"", "\xc3\xa9", 2},
		{"\"\\u00E9\"", "\xc3\xa9", 2},
		{"\"\\u07ff\"", "\xdf\xbf", 2},
		{"\"\\u0800\"", "\xe0\xa0\x80", 3},
		{"\"\\u20ac\"", "\xe2\x82\xac", 3},
		{"\"\\uFFFF\"", "\xef\xbf\xbf", 3},
		{"\"\\ud7ff\"", "\xed\x9f\xbf", 3},
		{"\"\\ue000\"", "\xee\x80\x80", 3},
		{"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4},
		{"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4},
		{"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4},
		{"\"x\\uD83D\\uDE00y\\n\"", "x\xf0\x9f\x98\x80y\n", 7},
		/* raw UTF-8 passes through */
		{"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9},
		{"\"\xef\xbb\xbf\"", "\xef\xbb\xbf", 3},
		{"\"\x7f\"", "\x7f", 1},
		{"\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf", 4},
		{"\"\xed\x9f\xbf\"", "\xed\x9f\xbf", 3},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		parsed		p;

		parse_str(&p, cases[i].json);
		if (p.root == NULL)
			fail_msg("refused %s: %s", cases[i].json, p.err);
		assert_int_equal(p.root->type, MANA_JSON_STRING);
		assert_int_equal(p.root->len, cases[i].len);
		assert_memory_equal(p.root->str, cases[i].value, cases[i].len);
		assert_int_equal(p.root->str[p.root->len], '\0');
		parsed_free(&p);
	}
}

static void
test_duplicate_keys(void **state)
{
	char		doc[8192];
	size_t		pos;
	int			n;
	int			k;

	(void) state;
	expect_refused("{\"a\":1,\"a\":2}");
	expect_refused("{\"a\":1,\"b\":2,\"a\":1}");
	expect_refused("{\"a\":1,\"\\u0061\":2}");	/* equal once unescaped */
	expect_refused("{\"\":1,\"\":2}");
	expect_refused("{\"x\":{\"a\":1,\"a\":1}}");
	expect_refused("[{\"a\":1,\"a\":1}]");
	expect_ok("{\"a\":1,\"A\":2,\"aa\":3,\"a \":4}");
	expect_ok("{\"a\":{\"a\":{\"a\":1}}}");
	expect_ok("[{\"a\":1},{\"a\":1}]");

	/* larger objects (the sorted check): distinct, then with one duplicate */
	for (n = 2; n <= 300; n += (n < 20 ? 1 : 37))
	{
		int			dup;

		/* dup < 0: keys k0..k(n-1); else the last key repeats key dup */
		for (dup = -1; dup < n - 1; dup += (n < 20 ? 1 : 7))
		{
			pos = 0;
			doc[pos++] = '{';
			for (k = 0; k < n; k++)
			{
				int			key = (dup >= 0 && k == n - 1) ? dup : k;

				pos += (size_t) snprintf(doc + pos, sizeof(doc) - pos, "%s\"k%d\":%d",
										 k ? "," : "", key, k);
			}
			doc[pos++] = '}';
			doc[pos] = '\0';
			if (dup < 0)
				expect_ok(doc);
			else
				expect_refused(doc);
		}
	}
}

static void
test_depth_limit(void **state)
{
	char		doc[8 * MANA_JSON_MAX_DEPTH + 16];
	size_t		pos = 0;
	int			i;

	(void) state;
	/* exactly MANA_JSON_MAX_DEPTH nested arrays: accepted */
	for (i = 0; i < MANA_JSON_MAX_DEPTH; i++)
		doc[pos++] = '[';
	for (i = 0; i < MANA_JSON_MAX_DEPTH; i++)
		doc[pos++] = ']';
	expect_ok_len(doc, pos);
	/* one more: refused */
	pos = 0;
	for (i = 0; i < MANA_JSON_MAX_DEPTH + 1; i++)
		doc[pos++] = '[';
	for (i = 0; i < MANA_JSON_MAX_DEPTH + 1; i++)
		doc[pos++] = ']';
	expect_refused_len(doc, pos);

	/* objects count the same */
	pos = 0;
	for (i = 0; i < MANA_JSON_MAX_DEPTH; i++)
	{
		memcpy(doc + pos, "{\"a\":", 5);
		pos += 5;
	}
	doc[pos++] = '1';
	for (i = 0; i < MANA_JSON_MAX_DEPTH; i++)
		doc[pos++] = '}';
	expect_ok_len(doc, pos);
	{
		parsed		p;

		pos = 0;
		for (i = 0; i < MANA_JSON_MAX_DEPTH + 1; i++)
		{
			memcpy(doc + pos, "{\"a\":", 5);
			pos += 5;
		}
		doc[pos++] = '1';
		for (i = 0; i < MANA_JSON_MAX_DEPTH + 1; i++)
			doc[pos++] = '}';
		parse_len(&p, doc, pos, ARENA_SIZE);
		assert_null(p.root);
		assert_non_null(strstr(p.err, "deep"));
		parsed_free(&p);
	}

	/* a very deep document is refused without deep recursion */
	{
		size_t		n = 100000;
		char	   *deep = malloc(n);

		assert_non_null(deep);
		memset(deep, '[', n);
		expect_refused_len(deep, n);
		free(deep);
	}

	/* siblings do not add depth */
	{
		char		wide[4096];

		pos = 0;
		wide[pos++] = '[';
		for (i = 0; i < 500; i++)
		{
			if (i)
				wide[pos++] = ',';
			wide[pos++] = '[';
			wide[pos++] = ']';
		}
		wide[pos++] = ']';
		expect_ok_len(wide, pos);
	}
}

static void
test_arena_exhaustion(void **state)
{
	const char *doc = "{\"alpha\":[1,2.5,\"three\",{\"four\":null}],\"beta\":\"\\u00e9t\\u00e9\","
		"\"gamma\":{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,"
		"\"k8\":8,\"k9\":9,\"k10\":10}}";
	size_t		len = strlen(doc);
	size_t		size;
	size_t		needed = 0;
	parsed		p;

	(void) state;
	/* find the smallest arena that works */
	for (size = 0; size < ARENA_SIZE; size++)
	{
		parse_len(&p, doc, len, size);
		if (p.root != NULL)
		{
			needed = size;
			assert_true(p.arena.used <= p.arena.size);
			parsed_free(&p);
			break;
		}
		assert_non_null(p.err);
		assert_non_null(strstr(p.err, "arena"));
		assert_true(p.arena.used <= p.arena.size);
		parsed_free(&p);
	}
	assert_true(needed > 0);
	/* every larger size works too (the first success was not luck) */
	for (size = needed; size < needed + 64; size++)
	{
		parse_len(&p, doc, len, size);
		assert_non_null(p.root);
		assert_non_null(mana_json_get(mana_json_get(p.root, "gamma"), "k10"));
		parsed_free(&p);
	}

	/* NULL arena, NULL arena buffer */
	{
		mana_arena a = {NULL, 100, 0};
		const char *err = NULL;

		assert_null(mana_json_parse("1", 1, NULL, &err));
		assert_non_null(err);
		err = NULL;
		assert_null(mana_json_parse("1", 1, &a, &err));
		assert_non_null(err);
		/* err may be NULL */
		assert_null(mana_json_parse("[", 1, &a, NULL));
	}
}

static void
test_arena_alloc(void **state)
{
	char		mem[256];
	mana_arena	a;
	int			off;

	(void) state;
	for (off = 0; off < 8; off++)
	{
		void	   *x;
		void	   *y;
		void	   *z;

		a.buf = mem + off;
		a.size = 64;
		a.used = 0;
		x = mana_arena_alloc(&a, 3);
		y = mana_arena_alloc(&a, 0);
		z = mana_arena_alloc(&a, 8);
		assert_non_null(x);
		assert_non_null(y);
		assert_non_null(z);
		assert_int_equal((uintptr_t) x % 8, 0);
		assert_int_equal((uintptr_t) y % 8, 0);
		assert_int_equal((uintptr_t) z % 8, 0);
		assert_true(x != y && y != z);
		assert_true(a.used <= a.size);
		assert_null(mana_arena_alloc(&a, 64));
		assert_null(mana_arena_alloc(&a, SIZE_MAX));
		assert_null(mana_arena_alloc(&a, SIZE_MAX - 7));
		assert_true(a.used <= a.size);
		/* fill it exactly */
		while (mana_arena_alloc(&a, 1) != NULL)
			assert_true(a.used <= a.size);
		assert_true(a.used <= a.size);
		assert_true((char *) a.buf + a.used <= mem + off + 64);
	}
	a.buf = mem;
	a.size = 16;
	a.used = 17;				/* inconsistent: refused, not trusted */
	assert_null(mana_arena_alloc(&a, 1));
	assert_null(mana_arena_alloc(NULL, 1));
}

static void
test_int64(void **state)
{
	parsed		p;
	int64_t		v;

	(void) state;
	parse_str(&p, "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
			  "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
			  "\"big\":99999999999999999999,\"zero\":0,\"negzero\":-0,\"one\":1,"
			  "\"neg\":-42,\"frac\":1.0,\"exp\":1e3,\"exp0\":10E0,\"str\":\"5\","
			  "\"null\":null,\"t\":true,\"arr\":[1],\"ts\":1700000000}");
	assert_non_null(p.root);

	assert_int_equal(mana_json_get_int64(p.root, "max", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(mana_json_get_int64(p.root, "min", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(mana_json_get_int64(p.root, "zero", &v), 0);
	assert_true(v == 0);
	assert_int_equal(mana_json_get_int64(p.root, "negzero", &v), 0);
	assert_true(v == 0);
	assert_int_equal(mana_json_get_int64(p.root, "one", &v), 0);
	assert_true(v == 1);
	assert_int_equal(mana_json_get_int64(p.root, "neg", &v), 0);
	assert_true(v == -42);
	assert_int_equal(mana_json_get_int64(p.root, "ts", &v), 0);
	assert_true(v == 1700000000);

	v = 12345;
	assert_int_equal(mana_json_get_int64(p.root, "over", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "under", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "big", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "frac", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "exp", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "exp0", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "str", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "null", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "t", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "arr", &v), -1);
	assert_int_equal(mana_json_get_int64(p.root, "missing", &v), -1);
	assert_int_equal(mana_json_get_int64(NULL, "max", &v), -1);
	assert_int_equal(mana_json_get_int64(mana_json_get(p.root, "arr"), "max", &v), -1);
	assert_true(v == 12345);	/* untouched on failure */
	parsed_free(&p);

	/* every boundary neighbour */
	{
		static const struct
		{
			const char *text;
			int			ok;
			int64_t		value;
		}			cases[] = {
			{"9223372036854775806", 1, INT64_MAX - 1},
			{"9223372036854775807", 1, INT64_MAX},
			{"9223372036854775808", 0, 0},
			{"9223372036854775809", 0, 0},
			{"9223372036854775810", 0, 0},
			{"18446744073709551616", 0, 0},
			{"-9223372036854775807", 1, INT64_MIN + 1},
			{"-9223372036854775808", 1, INT64_MIN},
			{"-9223372036854775809", 0, 0},
			{"-9223372036854775810", 0, 0},
			{"-18446744073709551616", 0, 0},
			{"1000000000000000000", 1, INT64_C(1000000000000000000)},
			{"10000000000000000000", 0, 0},
		};
		size_t		i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			char		doc[64];

			snprintf(doc, sizeof(doc), "{\"n\":%s}", cases[i].text);
			parse_str(&p, doc);
			assert_non_null(p.root);
			if (cases[i].ok)
			{
				assert_int_equal(mana_json_get_int64(p.root, "n", &v), 0);
				assert_true(v == cases[i].value);
			}
			else
				assert_int_equal(mana_json_get_int64(p.root, "n", &v), -1);
			parsed_free(&p);
		}
	}
}

static void
test_prefixes_refused(void **state)
{
	const char *doc = "{\"a\":[1,-2.5e3,true,false,null,\"s\\u00e9\\ud83d\\ude00\\n\"],"
		"\"b\":{\"c\":\"\xc3\xa9\"}}";
	size_t		len = strlen(doc);
	size_t		i;

	(void) state;
	expect_ok(doc);
	for (i = 0; i < len; i++)
		expect_refused_len(doc, i);
	/* every single-byte corruption either parses or is refused, never crashes */
	for (i = 0; i < len; i++)
	{
		static const char repl[] = {'\0', '"', '\\', '{', '}', '[', ']', ',', ':', 'x', '\x80', '\xff'};
		size_t		r;

		for (r = 0; r < sizeof(repl); r++)
		{
			char		copy[256];
			parsed		p;

			memcpy(copy, doc, len);
			copy[i] = repl[r];
			parse_len(&p, copy, len, ARENA_SIZE);
			assert_true(p.root != NULL || p.err != NULL);
			parsed_free(&p);
		}
	}
}

static void
test_quote(void **state)
{
	char		buf[256];
	size_t		n;

	(void) state;
	n = mana_json_quote("abc", 3, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_string_equal(buf, "\"abc\"");

	n = mana_json_quote("", 0, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_string_equal(buf, "\"\"");

	n = mana_json_quote("a\"b\\c/\b\f\n\r\t\x01\x1f\x7f", 14, buf, sizeof(buf));
	assert_string_equal(buf, "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"");
	assert_int_equal(n, strlen(buf));

	/* embedded NUL */
	n = mana_json_quote("a\0b", 3, buf, sizeof(buf));
	assert_string_equal(buf, "\"a\\u0000b\"");
	assert_int_equal(n, strlen(buf));

	/* valid UTF-8 kept, invalid bytes replaced */
	n = mana_json_quote("\xc3\xa9\xf0\x9f\x98\x80", 6, buf, sizeof(buf));
	assert_string_equal(buf, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
	assert_int_equal(n, 8);
	n = mana_json_quote("a\xff" "b\xc3", 4, buf, sizeof(buf));
	assert_string_equal(buf, "\"a\\ufffdb\\ufffd\"");
	assert_int_equal(n, strlen(buf));
	n = mana_json_quote("\xed\xa0\x80", 3, buf, sizeof(buf));
	assert_string_equal(buf, "\"\\ufffd\\ufffd\\ufffd\"");

	/* snprintf-like: length needed, truncation on whole units, NUL */
	n = mana_json_quote("hello", 5, NULL, 0);
	assert_int_equal(n, 7);
	n = mana_json_quote("hello", 5, buf, 0);
	assert_int_equal(n, 7);
	memset(buf, 'X', sizeof(buf));
	n = mana_json_quote("hello", 5, buf, 1);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "");
	n = mana_json_quote("hello", 5, buf, 4);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "\"he");
	n = mana_json_quote("hello", 5, buf, 7);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "\"hello");
	n = mana_json_quote("hello", 5, buf, 8);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "\"hello\"");
	n = mana_json_quote("a\nb", 3, buf, 4);
	assert_string_equal(buf, "\"a");	/* "\n" does not fit whole */
	n = mana_json_quote("a\xc3\xa9", 3, buf, 4);
	assert_string_equal(buf, "\"a");	/* é does not fit whole */
	assert_int_equal(n, 5);

	/* round trip through the parser, for every byte value */
	{
		char		in[256];
		char		out[2048];
		int			i;
		parsed		p;

		for (i = 0; i < 128; i++)
			in[i] = (char) i;
		n = mana_json_quote(in, 128, out, sizeof(out));
		assert_true(n < sizeof(out));
		parse_len(&p, out, n, ARENA_SIZE);
		/* \u0000 is refused on input by design: it must be there */
		assert_null(p.root);
		parsed_free(&p);

		n = mana_json_quote(in + 1, 127, out, sizeof(out));
		parse_len(&p, out, n, ARENA_SIZE);
		assert_non_null(p.root);
		assert_int_equal(p.root->len, 127);
		assert_memory_equal(p.root->str, in + 1, 127);
		parsed_free(&p);

		for (i = 0; i < 256; i++)
			in[i] = (char) (255 - i);
		n = mana_json_quote(in, 255, out, sizeof(out));
		parse_len(&p, out, n, ARENA_SIZE);
		assert_non_null(p.root);	/* always valid JSON */
		parsed_free(&p);
	}
}

static void
test_big_documents(void **state)
{
	/* many members: linear-time parse, sorted duplicate check */
	size_t		cap = 1 << 20;
	char	   *doc = malloc(cap);
	size_t		pos = 0;
	int			i;
	parsed		p;

	(void) state;
	assert_non_null(doc);
	doc[pos++] = '{';
	for (i = 0; i < 20000; i++)
		pos += (size_t) snprintf(doc + pos, cap - pos, "%s\"key%d\":[%d,\"v\"]",
								 i ? "," : "", i, i);
	doc[pos++] = '}';
	parse_len(&p, doc, pos, 16 << 20);
	assert_non_null(p.root);
	assert_int_equal(p.root->count, 20000);
	assert_non_null(mana_json_get(p.root, "key19999"));
	parsed_free(&p);

	/* same with the last key repeating the first */
	pos -= 1;
	pos += (size_t) snprintf(doc + pos, cap - pos, ",\"key0\":1}");
	parse_len(&p, doc, pos, 16 << 20);
	assert_null(p.root);
	assert_non_null(strstr(p.err, "duplicate"));
	parsed_free(&p);
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_syntax_refused),
		cmocka_unit_test(test_strings_refused),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_arena_exhaustion),
		cmocka_unit_test(test_arena_alloc),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_prefixes_refused),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_big_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
