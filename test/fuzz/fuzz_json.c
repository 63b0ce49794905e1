/*
 * fuzz_json.c
 *     libFuzzer harness for src/core/json.c.
 *
 * Input: one byte choosing the arena (size and misalignment), then the JSON
 * text.  The text is parsed from an exact-size heap copy (ASan sees any
 * read past len).  Checked:
 *  - failure always names a reason (err != NULL); arena.used <= arena.size;
 *  - every node, string, key and member array lies inside the used arena;
 *  - strings and numbers are NUL-terminated at len with no NUL inside;
 *    strings are valid UTF-8; a number's text is RFC 8259 grammar and
 *    strtod of it gives num; depth <= MANA_JSON_MAX_DEPTH;
 *  - object keys are distinct, mana_json_get finds each member,
 *    mana_json_get_string agrees, mana_json_get_int64 agrees with strtoll;
 *  - mana_json_quote of each string parses back to the same string (and a
 *    truncated quote is a NUL-terminated prefix); quoting the raw input
 *    always gives valid UTF-8 that parses (unless it has a NUL, which
 *    becomes \u0000), equal to the input when that is valid UTF-8;
 *  - the tree written back as compact JSON parses to an equal tree;
 *  - a small arena that succeeds implies a large one gives an equal tree;
 *    a small arena that fails for a reason other than memory implies the
 *    large one fails with the same reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "fuzz_util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BIG_ARENA (4u << 20)
#define ARENA_FULL "out of memory (arena full)"

static char *arena_mem;			/* BIG_ARENA + 8, reused */
static char *arena_mem2;		/* for reparsing */
static char *arena_mem3;		/* BIG_ARENA + 8: the large-arena rerun */

static const char *cur_lo;		/* the arena in use by check() */
static const char *cur_hi;

static void
in_arena(const void *p, size_t n)
{
	const char *c = (const char *) p;

	if (c < cur_lo || c > cur_hi || (size_t) (cur_hi - c) < n)
		abort();
}

static int
number_grammar(const char *s, size_t n)
{
	size_t		i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.')
	{
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static void
check_quote(const char *s, size_t len)
{
	size_t		need = mana_json_quote(s, len, NULL, 0);
	char	   *q = malloc(need + 1);
	mana_arena	a;
	const char *err = NULL;
	mana_json  *r;

	if (q == NULL)
		return;
	if (mana_json_quote(s, len, q, need + 1) != need || strlen(q) != need)
		abort();
	a.buf = arena_mem2;
	a.size = BIG_ARENA;
	a.used = 0;
	r = mana_json_parse(q, need, &a, &err);
	if (r == NULL || r->type != MANA_JSON_STRING || r->len != len ||
		memcmp(r->str, s, len) != 0)
		abort();
	/* truncated: a NUL-terminated prefix of the full output */
	if (need > 2)
	{
		size_t		cut = need / 2;
		char	   *t = malloc(cut + 1);

		if (t != NULL)
		{
			if (mana_json_quote(s, len, t, cut + 1) != need ||
				strlen(t) > cut || memcmp(t, q, strlen(t)) != 0)
				abort();
			free(t);
		}
	}
	free(q);
}

/* mana_json_quote on arbitrary bytes */
static void
check_quote_raw(const char *s, size_t len)
{
	size_t		need = mana_json_quote(s, len, NULL, 0);
	char	   *q = malloc(need + 1);
	mana_arena	a;
	const char *err = NULL;
	mana_json  *r;

	if (q == NULL)
		abort();
	if (mana_json_quote(s, len, q, need + 1) != need || strlen(q) != need)
		abort();
	if (!utf8_valid((const unsigned char *) q, need))
		abort();
	if (memchr(s, '\0', len) == NULL)
	{
		a.buf = arena_mem2;
		a.size = BIG_ARENA;
		a.used = 0;
		r = mana_json_parse(q, need, &a, &err);
		if (r == NULL || r->type != MANA_JSON_STRING)
			abort();
		if (utf8_valid((const unsigned char *) s, len) &&
			(r->len != len || memcmp(r->str, s, len) != 0))
			abort();
	}
	free(q);
}

static void
check(const mana_json *v, int depth)
{
	size_t		i;

	in_arena(v, sizeof(*v));
	switch (v->type)
	{
		case MANA_JSON_NULL:
		case MANA_JSON_FALSE:
		case MANA_JSON_TRUE:
			break;
		case MANA_JSON_STRING:
			in_arena(v->str, v->len + 1);
			if (v->str[v->len] != '\0' || strlen(v->str) != v->len)
				abort();
			if (!utf8_valid((const unsigned char *) v->str, v->len))
				abort();
			check_quote(v->str, v->len);
			break;
		case MANA_JSON_NUMBER:
			{
				char	   *end;
				double		d;

				in_arena(v->str, v->len + 1);
				if (v->str[v->len] != '\0' || strlen(v->str) != v->len)
					abort();
				if (!number_grammar(v->str, v->len))
					abort();
				d = strtod(v->str, &end);
				if (end != v->str + v->len || memcmp(&d, &v->num, sizeof(d)) != 0)
					abort();
				break;
			}
		case MANA_JSON_ARRAY:
			if (depth >= MANA_JSON_MAX_DEPTH)
				abort();
			if (v->count > 0)
				in_arena(v->items, v->count * sizeof(*v->items));
			for (i = 0; i < v->count; i++)
				check(v->items[i], depth + 1);
			break;
		case MANA_JSON_OBJECT:
			if (depth >= MANA_JSON_MAX_DEPTH)
				abort();
			if (v->count > 0)
			{
				in_arena(v->items, v->count * sizeof(*v->items));
				in_arena(v->keys, v->count * sizeof(*v->keys));
				in_arena(v->keylens, v->count * sizeof(*v->keylens));
			}
			for (i = 0; i < v->count; i++)
			{
				size_t		j;
				int64_t		x;
				const char *gs;
				size_t		gl = 0;

				in_arena(v->keys[i], v->keylens[i] + 1);
				if (v->keys[i][v->keylens[i]] != '\0' || strlen(v->keys[i]) != v->keylens[i])
					abort();
				if (!utf8_valid((const unsigned char *) v->keys[i], v->keylens[i]))
					abort();
				for (j = 0; j < i; j++)
					if (v->keylens[j] == v->keylens[i] &&
						memcmp(v->keys[j], v->keys[i], v->keylens[i]) == 0)
						abort();
				if (mana_json_get(v, v->keys[i]) != v->items[i])
					abort();
				gs = mana_json_get_string(v, v->keys[i], &gl);
				if ((gs != NULL) != (v->items[i]->type == MANA_JSON_STRING))
					abort();
				if (gs != NULL && (gs != v->items[i]->str || gl != v->items[i]->len))
					abort();
				if (mana_json_get_int64(v, v->keys[i], &x) == 0)
				{
					char	   *end;
					long long	ll;

					if (v->items[i]->type != MANA_JSON_NUMBER ||
						strpbrk(v->items[i]->str, ".eE") != NULL)
						abort();
					errno = 0;
					ll = strtoll(v->items[i]->str, &end, 10);
					if (errno != 0 || *end != '\0' || ll != x)
						abort();
				}
				else if (v->items[i]->type == MANA_JSON_NUMBER &&
						 strpbrk(v->items[i]->str, ".eE") == NULL)
				{
					/* an integer the accessor refused must overflow int64 */
					errno = 0;
					(void) strtoll(v->items[i]->str, NULL, 10);
					if (errno != ERANGE)
						abort();
				}
				check(v->items[i], depth + 1);
			}
			break;
		default:
			abort();
	}
}

/* ------------------------------------------------ compact re-serialisation */

typedef struct sbuf
{
	char	   *p;
	size_t		len;
	size_t		cap;
} sbuf;

static void
sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		ncap = (b->cap ? b->cap : 256);
		char	   *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL)
			abort();
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_quote(sbuf *b, const char *s, size_t n)
{
	size_t		need = mana_json_quote(s, n, NULL, 0);
	char	   *q = malloc(need + 1);

	if (q == NULL)
		abort();
	mana_json_quote(s, n, q, need + 1);
	sb_put(b, q, need);
	free(q);
}

static void
serialize(sbuf *b, const mana_json *v)
{
	size_t		i;

	switch (v->type)
	{
		case MANA_JSON_NULL:
			sb_put(b, "null", 4);
			break;
		case MANA_JSON_FALSE:
			sb_put(b, "false", 5);
			break;
		case MANA_JSON_TRUE:
			sb_put(b, "true", 4);
			break;
		case MANA_JSON_NUMBER:
			sb_put(b, v->str, v->len);
			break;
		case MANA_JSON_STRING:
			sb_quote(b, v->str, v->len);
			break;
		case MANA_JSON_ARRAY:
			sb_put(b, "[", 1);
			for (i = 0; i < v->count; i++)
			{
				if (i > 0)
					sb_put(b, ",", 1);
				serialize(b, v->items[i]);
			}
			sb_put(b, "]", 1);
			break;
		case MANA_JSON_OBJECT:
			sb_put(b, "{", 1);
			for (i = 0; i < v->count; i++)
			{
				if (i > 0)
					sb_put(b, ",", 1);
				sb_quote(b, v->keys[i], v->keylens[i]);
				sb_put(b, ":", 1);
				serialize(b, v->items[i]);
			}
			sb_put(b, "}", 1);
			break;
	}
}

static int
tree_equal(const mana_json *a, const mana_json *b)
{
	size_t		i;

	if (a->type != b->type)
		return 0;
	switch (a->type)
	{
		case MANA_JSON_STRING:
		case MANA_JSON_NUMBER:
			return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 &&
				(a->type == MANA_JSON_STRING || memcmp(&a->num, &b->num, sizeof(double)) == 0);
		case MANA_JSON_ARRAY:
		case MANA_JSON_OBJECT:
			if (a->count != b->count)
				return 0;
			for (i = 0; i < a->count; i++)
			{
				if (a->type == MANA_JSON_OBJECT &&
					(a->keylens[i] != b->keylens[i] ||
					 memcmp(a->keys[i], b->keys[i], a->keylens[i]) != 0))
					return 0;
				if (!tree_equal(a->items[i], b->items[i]))
					return 0;
			}
			return 1;
		default:
			return 1;
	}
}

static void
check_reserialize(const mana_json *root)
{
	sbuf		b = {NULL, 0, 0};
	mana_arena	a;
	const char *err = NULL;
	mana_json  *r;

	serialize(&b, root);
	a.buf = arena_mem2;
	a.size = BIG_ARENA;
	a.used = 0;
	r = mana_json_parse(b.p, b.len, &a, &err);
	if (r == NULL)
	{
		/* the compact text can need more scratch than fits: only that */
		if (err == NULL || strcmp(err, ARENA_FULL) != 0)
			abort();
	}
	else if (!tree_equal(root, r))
		abort();
	free(b.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		asz;
	size_t		off;
	char	   *copy;
	mana_arena	a;
	const char *err = NULL;
	mana_json  *root;

	if (arena_mem == NULL)
	{
		arena_mem = malloc(BIG_ARENA + 8);
		arena_mem2 = malloc(BIG_ARENA);
		arena_mem3 = malloc(BIG_ARENA + 8);
		if (arena_mem == NULL || arena_mem2 == NULL || arena_mem3 == NULL)
			abort();
	}
	if (size < 1)
		return 0;
	/* first byte: arena size (tiny to large) and misalignment */
	asz = (data[0] & 0x80) ? BIG_ARENA : (size_t) (data[0] & 0x7f) * 96;
	off = data[0] & 7;
	data++;
	size--;

	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);

	a.buf = arena_mem + off;
	a.size = asz;
	a.used = 0;
	root = mana_json_parse(copy, size, &a, &err);
	if (a.used > a.size)
		abort();
	if (root != NULL)
	{
		if (err != NULL)
			abort();
		cur_lo = a.buf;
		cur_hi = a.buf + a.used;
		check(root, 0);
		check_reserialize(root);
	}
	else if (err == NULL)
		abort();
	check_quote_raw(copy, size);

	if (asz != BIG_ARENA)
	{
		/* the same text with a large arena */
		mana_arena	b;
		const char *err2 = NULL;
		mana_json  *root2;

		/* same misalignment: both blocks come from malloc */
		b.buf = arena_mem3 + off;
		b.size = BIG_ARENA;
		b.used = 0;
		root2 = mana_json_parse(copy, size, &b, &err2);
		if (root != NULL && (root2 == NULL || !tree_equal(root, root2)))
			abort();
		if (root == NULL && strcmp(err, ARENA_FULL) != 0 &&
			(root2 != NULL || strcmp(err, err2) != 0))
			abort();
	}
	free(copy);
	return 0;
}
