/*
 * json.c
 *     A small, strict RFC 8259 JSON parser for untrusted input (pure C).
 *
 * Everything the parser builds lives in the caller's arena; nothing is
 * malloc'ed, there is no global mutable state and no longjmp.  The input is
 * s[0, len) and is never read past len (it need not be NUL-terminated).
 *
 * Decisions where json.h leaves room (all deliberate):
 *  - Depth: at most MANA_JSON_MAX_DEPTH nested arrays/objects are accepted
 *    (32 '[' nest; the 33rd is refused).  Scalars do not count.
 *  - Any JSON value is accepted at the top level (RFC 8259), not only
 *    objects and arrays; callers check the root's type.
 *  - A byte order mark is not whitespace and is refused.
 *  - Numbers: the grammar of RFC 8259 exactly (no leading '+', no leading
 *    zeros, no '.5', '5.', NaN or Infinity).  Their text is copied into the
 *    arena NUL-terminated (str/len); num comes from strtod, which expects
 *    LC_NUMERIC "C" as PostgreSQL backends always run with.  A number whose
 *    magnitude overflows a double (e.g. 1e400) is refused rather than kept
 *    as an infinity; underflow to 0 is accepted.
 *  - Strings: raw bytes < 0x20 are refused; invalid UTF-8 (overlong forms,
 *    encoded surrogates, code points over U+10FFFF, truncated sequences) is
 *    refused; \u0000 and unpaired surrogates are refused.  DEL (0x7f) is
 *    accepted as RFC 8259 allows.
 *  - Duplicate keys are compared after unescaping ("a" and "\u0061" are the
 *    same key).  Small objects are checked pairwise; larger ones by sorting
 *    an index in scratch arena space that is given back afterwards, so the
 *    check is O(n log n) and a hostile object with many keys costs no more
 *    than its size warrants.
 *  - mana_json_quote writes at buf (like snprintf, not strcat): it returns the
 *    length the whole quoted string needs (without the NUL) and, when
 *    buflen > 0, always NUL-terminates.  On truncation it only writes whole
 *    escapes / whole UTF-8 characters.  Bytes of s that are not valid UTF-8
 *    are written as \ufffd so that the output is always valid JSON; NUL and
 *    other control characters are escaped (\b \f \n \r \t or \u00XX), as
 *    are DEL, '"' and '\\'.
 *  - mana_arena_alloc(a, 0) returns an aligned pointer and uses one byte,
 *    so that every successful call returns a distinct address.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ------------------------------------------------------------------ arena */

void *
mana_arena_alloc(mana_arena *a, size_t n)
{
	uintptr_t	addr;
	size_t		pad;
	size_t		need;

	if (a == NULL || a->buf == NULL || a->used > a->size)
		return NULL;
	if (n == 0)
		n = 1;
	addr = (uintptr_t) (a->buf + a->used);
	pad = (size_t) ((8 - (addr & 7)) & 7);
	if (pad > a->size - a->used)
		return NULL;
	need = a->size - a->used - pad;
	if (n > need)
		return NULL;
	a->used += pad;
	a->used += n;
	return (void *) (a->buf + (a->used - n));
}

/* ----------------------------------------------------------------- parser */

typedef struct json_parser
{
	const char *s;
	size_t		len;
	size_t		pos;
	mana_arena *arena;
	const char *err;
	int			depth;
} json_parser;

/* a temporary list cell while the members of a container are collected */
typedef struct json_cell
{
	mana_json  *value;
	const char *key;
	size_t		keylen;
	struct json_cell *next;
} json_cell;

/* objects with at most this many members are checked for duplicates pairwise */
#define JSON_DUP_PAIRWISE_MAX 8

static mana_json *json_parse_value(json_parser *p);

static void *
json_alloc(json_parser *p, size_t n)
{
	void	   *ptr = mana_arena_alloc(p->arena, n);

	if (ptr == NULL && p->err == NULL)
		p->err = "out of memory (arena full)";
	return ptr;
}

/* n * size without overflow, or 0 (callers never ask for 0 elements) */
static void *
json_alloc_array(json_parser *p, size_t n, size_t size)
{
	if (n > SIZE_MAX / size)
	{
		if (p->err == NULL)
			p->err = "out of memory (arena full)";
		return NULL;
	}
	return json_alloc(p, n * size);
}

static mana_json *
json_new_node(json_parser *p, mana_json_type type)
{
	mana_json  *v = json_alloc(p, sizeof(mana_json));

	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->str = NULL;
	v->items = NULL;
	v->keys = NULL;
	v->keylens = NULL;
	return v;
}

static void
json_fail(json_parser *p, const char *msg)
{
	if (p->err == NULL)
		p->err = msg;
}

static void
json_skip_ws(json_parser *p)
{
	while (p->pos < p->len)
	{
		char		c = p->s[p->pos];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			p->pos++;
		else
			break;
	}
}

/* ---------------------------------------------------------------- strings */

/*
 * Length of the well-formed UTF-8 sequence at s[0, avail), or 0 when it is
 * not one (overlong, surrogate, > U+10FFFF, truncated, bad continuation).
 */
static size_t
json_utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
	{
		if (avail < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef)
	{
		unsigned char lo = 0x80,
					hi = 0xbf;

		if (c == 0xe0)
			lo = 0xa0;			/* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;			/* no surrogates */
		if (avail < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4)
	{
		unsigned char lo = 0x80,
					hi = 0xbf;

		if (c == 0xf0)
			lo = 0x90;			/* no overlong forms */
		else if (c == 0xf4)
			hi = 0x8f;			/* nothing over U+10FFFF */
		if (avail < 4 || s[1] < lo || s[1] > hi ||
			(s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

static int
json_hex4(const char *s, unsigned int *out)
{
	unsigned int v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		char		c = s[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int) (c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned int) (c - 'A' + 10);
		else
			return -1;
		v = (v << 4) | d;
	}
	*out = v;
	return 0;
}

static size_t
json_put_utf8(char *out, unsigned int cp)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xc0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xe0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char) (0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char) (0xf0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char) (0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Parses the string whose opening quote is at p->pos.  On success returns
 * the unescaped, NUL-terminated value (in the arena) and its length.
 * Long (about 145 lines) for a reason: a byte-level decoder (escapes,
 * surrogates, UTF-8 checks) in one loop, fuzzed as a whole.
 */
static char *
json_parse_string(json_parser *p, size_t *outlen)
{
	size_t		start = p->pos + 1;
	size_t		i = start;
	size_t		rawlen;
	char	   *buf;
	size_t		o = 0;

	/* find the closing quote first, to size the buffer */
	for (;;)
	{
		if (i >= p->len)
		{
			json_fail(p, "unterminated string");
			return NULL;
		}
		if (p->s[i] == '"')
			break;
		if (p->s[i] == '\\')
		{
			if (i + 1 >= p->len)
			{
				json_fail(p, "unterminated string");
				return NULL;
			}
			i += 2;
		}
		else
			i++;
	}
	rawlen = i - start;

	/* the unescaped value is never longer than its escaped form */
	buf = json_alloc(p, rawlen + 1);
	if (buf == NULL)
		return NULL;

	i = start;
	while (i < start + rawlen)
	{
		unsigned char c = (unsigned char) p->s[i];

		if (c < 0x20)
		{
			json_fail(p, "control character in string");
			return NULL;
		}
		if (c == '\\')
		{
			char		e = p->s[i + 1];	/* exists: see the scan above */

			i += 2;
			switch (e)
			{
				case '"':
					buf[o++] = '"';
					break;
				case '\\':
					buf[o++] = '\\';
					break;
				case '/':
					buf[o++] = '/';
					break;
				case 'b':
					buf[o++] = '\b';
					break;
				case 'f':
					buf[o++] = '\f';
					break;
				case 'n':
					buf[o++] = '\n';
					break;
				case 'r':
					buf[o++] = '\r';
					break;
				case 't':
					buf[o++] = '\t';
					break;
				case 'u':
					{
						unsigned int cp;

						if (start + rawlen - i < 4 || json_hex4(p->s + i, &cp) != 0)
						{
							json_fail(p, "bad \\u escape");
							return NULL;
						}
						i += 4;
						if (cp == 0)
						{
							json_fail(p, "\\u0000 in string");
							return NULL;
						}
						if (cp >= 0xdc00 && cp <= 0xdfff)
						{
							json_fail(p, "unpaired surrogate");
							return NULL;
						}
						if (cp >= 0xd800 && cp <= 0xdbff)
						{
							unsigned int lo;

							if (start + rawlen - i < 6 || p->s[i] != '\\' ||
								p->s[i + 1] != 'u' ||
								json_hex4(p->s + i + 2, &lo) != 0 ||
								lo < 0xdc00 || lo > 0xdfff)
							{
								json_fail(p, "unpaired surrogate");
								return NULL;
							}
							i += 6;
							cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						}
						o += json_put_utf8(buf + o, cp);
						break;
					}
				default:
					json_fail(p, "bad escape in string");
					return NULL;
			}
		}
		else if (c < 0x80)
		{
			buf[o++] = (char) c;
			i++;
		}
		else
		{
			size_t		n = json_utf8_seq((const unsigned char *) p->s + i,
										  start + rawlen - i);

			if (n == 0)
			{
				json_fail(p, "invalid UTF-8 in string");
				return NULL;
			}
			memcpy(buf + o, p->s + i, n);
			o += n;
			i += n;
		}
	}
	buf[o] = '\0';
	/* give back the unused tail: buf is the arena's last allocation */
	p->arena->used = (size_t) (buf - p->arena->buf) + o + 1;
	p->pos = start + rawlen + 1;
	*outlen = o;
	return buf;
}

/* ---------------------------------------------------------------- numbers */

static mana_json *
json_parse_number(json_parser *p)
{
	size_t		start = p->pos;
	size_t		i = start;
	size_t		n;
	char	   *text;
	char	   *end;
	double		d;
	mana_json  *v;

	if (i < p->len && p->s[i] == '-')
		i++;
	if (i >= p->len)
	{
		json_fail(p, "bad number");
		return NULL;
	}
	if (p->s[i] == '0')
	{
		i++;
		if (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
		{
			json_fail(p, "leading zero in number");
			return NULL;
		}
	}
	else if (p->s[i] >= '1' && p->s[i] <= '9')
	{
		while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
			i++;
	}
	else
	{
		json_fail(p, "bad number");
		return NULL;
	}
	if (i < p->len && p->s[i] == '.')
	{
		i++;
		if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
		{
			json_fail(p, "bad number");
			return NULL;
		}
		while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
			i++;
	}
	if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E'))
	{
		i++;
		if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
			i++;
		if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
		{
			json_fail(p, "bad number");
			return NULL;
		}
		while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
			i++;
	}
	n = i - start;

	v = json_new_node(p, MANA_JSON_NUMBER);
	if (v == NULL)
		return NULL;
	text = json_alloc(p, n + 1);
	if (text == NULL)
		return NULL;
	memcpy(text, p->s + start, n);
	text[n] = '\0';

	errno = 0;
	d = strtod(text, &end);
	if (end != text + n)
	{
		json_fail(p, "bad number");
		return NULL;
	}
	if (errno == ERANGE && (d > 1.0 || d < -1.0))
	{
		json_fail(p, "number out of range");
		return NULL;
	}
	v->str = text;
	v->len = n;
	v->num = d;
	p->pos = i;
	return v;
}

/* -------------------------------------------------------------- literals */

static mana_json *
json_parse_literal(json_parser *p, const char *word, mana_json_type type)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
	{
		json_fail(p, "unexpected character");
		return NULL;
	}
	p->pos += n;
	return json_new_node(p, type);
}

/* ------------------------------------------------------------- containers */

static int
json_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	int			c = memcmp(a, b, n);

	if (c != 0)
		return c;
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

static void
json_sift_down(const mana_json *obj, size_t *idx, size_t root, size_t n)
{
	for (;;)
	{
		size_t		child = 2 * root + 1;
		size_t		tmp;

		if (child >= n)
			return;
		if (child + 1 < n &&
			json_key_cmp(obj->keys[idx[child]], obj->keylens[idx[child]],
						 obj->keys[idx[child + 1]], obj->keylens[idx[child + 1]]) < 0)
			child++;
		if (json_key_cmp(obj->keys[idx[root]], obj->keylens[idx[root]],
						 obj->keys[idx[child]], obj->keylens[idx[child]]) >= 0)
			return;
		tmp = idx[root];
		idx[root] = idx[child];
		idx[child] = tmp;
		root = child;
	}
}

/* 0 when obj's keys are distinct, -1 (with p->err) otherwise */
static int
json_check_duplicates(json_parser *p, const mana_json *obj)
{
	size_t		n = obj->count;
	size_t		i;
	size_t		j;
	size_t		mark;
	size_t	   *idx;
	int			rc = 0;

	if (n <= JSON_DUP_PAIRWISE_MAX)
	{
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (json_key_cmp(obj->keys[i], obj->keylens[i],
								 obj->keys[j], obj->keylens[j]) == 0)
				{
					json_fail(p, "duplicate key");
					return -1;
				}
		return 0;
	}

	/* heapsort an index in scratch space, then compare neighbours */
	mark = p->arena->used;
	idx = json_alloc_array(p, n, sizeof(size_t));
	if (idx == NULL)
		return -1;
	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n / 2; i > 0; i--)
		json_sift_down(obj, idx, i - 1, n);
	for (i = n - 1; i > 0; i--)
	{
		size_t		tmp = idx[0];

		idx[0] = idx[i];
		idx[i] = tmp;
		json_sift_down(obj, idx, 0, i);
	}
	for (i = 1; i < n; i++)
		if (json_key_cmp(obj->keys[idx[i - 1]], obj->keylens[idx[i - 1]],
						 obj->keys[idx[i]], obj->keylens[idx[i]]) == 0)
		{
			json_fail(p, "duplicate key");
			rc = -1;
			break;
		}
	p->arena->used = mark;		/* the index was the last allocation */
	return rc;
}

/* Fills v's arrays from the collected list of n cells. */
static int
json_finish_container(json_parser *p, mana_json *v, json_cell *head, size_t n,
					  int is_object)
{
	size_t		i;
	json_cell  *c;

	v->count = n;
	if (n == 0)
		return 0;
	v->items = json_alloc_array(p, n, sizeof(mana_json *));
	if (v->items == NULL)
		return -1;
	if (is_object)
	{
		v->keys = json_alloc_array(p, n, sizeof(const char *));
		if (v->keys == NULL)
			return -1;
		v->keylens = json_alloc_array(p, n, sizeof(size_t));
		if (v->keylens == NULL)
			return -1;
	}
	for (i = 0, c = head; i < n && c != NULL; i++, c = c->next)
	{
		v->items[i] = c->value;
		if (is_object)
		{
			v->keys[i] = c->key;
			v->keylens[i] = c->keylen;
		}
	}
	if (is_object)
		return json_check_duplicates(p, v);
	return 0;
}

static mana_json *
json_parse_container(json_parser *p, int is_object)
{
	char		close = is_object ? '}' : ']';
	mana_json  *v;
	json_cell  *head = NULL;
	json_cell  *tail = NULL;
	size_t		n = 0;

	if (p->depth >= MANA_JSON_MAX_DEPTH)
	{
		json_fail(p, "nesting too deep");
		return NULL;
	}
	p->depth++;
	p->pos++;					/* '[' or '{' */

	v = json_new_node(p, is_object ? MANA_JSON_OBJECT : MANA_JSON_ARRAY);
	if (v == NULL)
		return NULL;

	json_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
	{
		p->pos++;
		p->depth--;
		return v;
	}

	for (;;)
	{
		json_cell  *cell = json_alloc(p, sizeof(json_cell));

		if (cell == NULL)
			return NULL;
		cell->key = NULL;
		cell->keylen = 0;
		cell->next = NULL;

		json_skip_ws(p);
		if (is_object)
		{
			if (p->pos >= p->len || p->s[p->pos] != '"')
			{
				json_fail(p, p->pos >= p->len ? "unexpected end of input"
						  : "expected a string key");
				return NULL;
			}
			cell->key = json_parse_string(p, &cell->keylen);
			if (cell->key == NULL)
				return NULL;
			json_skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
			{
				json_fail(p, p->pos >= p->len ? "unexpected end of input"
						  : "expected ':'");
				return NULL;
			}
			p->pos++;
		}
		cell->value = json_parse_value(p);
		if (cell->value == NULL)
			return NULL;
		if (tail == NULL)
			head = cell;
		else
			tail->next = cell;
		tail = cell;
		n++;

		json_skip_ws(p);
		if (p->pos >= p->len)
		{
			json_fail(p, "unexpected end of input");
			return NULL;
		}
		if (p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close)
		{
			p->pos++;
			break;
		}
		json_fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
		return NULL;
	}

	if (json_finish_container(p, v, head, n, is_object) != 0)
		return NULL;
	p->depth--;
	return v;
}

/* ------------------------------------------------------------------ value */

static mana_json *
json_parse_value(json_parser *p)
{
	json_skip_ws(p);
	if (p->pos >= p->len)
	{
		json_fail(p, "unexpected end of input");
		return NULL;
	}
	switch (p->s[p->pos])
	{
		case '{':
			return json_parse_container(p, 1);
		case '[':
			return json_parse_container(p, 0);
		case '"':
			{
				mana_json  *v = json_new_node(p, MANA_JSON_STRING);

				if (v == NULL)
					return NULL;
				v->str = json_parse_string(p, &v->len);
				if (v->str == NULL)
					return NULL;
				return v;
			}
		case 't':
			return json_parse_literal(p, "true", MANA_JSON_TRUE);
		case 'f':
			return json_parse_literal(p, "false", MANA_JSON_FALSE);
		case 'n':
			return json_parse_literal(p, "null", MANA_JSON_NULL);
		case '-':
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			return json_parse_number(p);
		default:
			json_fail(p, "unexpected character");
			return NULL;
	}
}

mana_json *
mana_json_parse(const char *s, size_t len, mana_arena *arena, const char **err)
{
	json_parser p;
	mana_json  *root;

	if (err != NULL)
		*err = NULL;
	if (arena == NULL || (s == NULL && len > 0))
	{
		if (err != NULL)
			*err = "no input or no arena";
		return NULL;
	}
	p.s = s;
	p.len = len;
	p.pos = 0;
	p.arena = arena;
	p.err = NULL;
	p.depth = 0;

	root = json_parse_value(&p);
	if (root != NULL)
	{
		json_skip_ws(&p);
		if (p.pos != p.len)
		{
			json_fail(&p, "trailing characters after the document");
			root = NULL;
		}
	}
	if (root == NULL && err != NULL)
		*err = p.err != NULL ? p.err : "parse error";
	return root;
}

/* --------------------------------------------------------------- accessors */

const mana_json *
mana_json_get(const mana_json *obj, const char *key)
{
	size_t		klen;
	size_t		i;

	if (obj == NULL || key == NULL || obj->type != MANA_JSON_OBJECT)
		return NULL;
	klen = strlen(key);
	for (i = 0; i < obj->count; i++)
		if (obj->keylens[i] == klen && memcmp(obj->keys[i], key, klen) == 0)
			return obj->items[i];
	return NULL;
}

const char *
mana_json_get_string(const mana_json *obj, const char *key, size_t *len)
{
	const mana_json *v = mana_json_get(obj, key);

	if (v == NULL || v->type != MANA_JSON_STRING)
		return NULL;
	if (len != NULL)
		*len = v->len;
	return v->str;
}

int
mana_json_get_int64(const mana_json *obj, const char *key, int64_t *out)
{
	const mana_json *v = mana_json_get(obj, key);
	size_t		i = 0;
	int			neg = 0;
	int64_t		acc = 0;		/* accumulated as a negative number */

	if (v == NULL || v->type != MANA_JSON_NUMBER || v->str == NULL || v->len == 0)
		return -1;
	if (v->str[0] == '-')
	{
		neg = 1;
		i = 1;
	}
	if (i >= v->len)
		return -1;
	for (; i < v->len; i++)
	{
		char		c = v->str[i];
		int			d;

		if (c < '0' || c > '9')
			return -1;			/* fraction or exponent */
		d = c - '0';
		if (acc < (INT64_MIN + d) / 10)
			return -1;
		acc = acc * 10 - d;
	}
	if (!neg)
	{
		if (acc == INT64_MIN)
			return -1;
		acc = -acc;
	}
	if (out != NULL)
		*out = acc;
	return 0;
}

/* ---------------------------------------------------------------- quoting */

static const char json_hex[] = "0123456789abcdef";

/* Writes unit[0, n) when all of it fits (and the output is not truncated). */
static void
json_quote_put(char *buf, size_t buflen, size_t *pos, int *truncated,
			   const char *unit, size_t n)
{
	if (!*truncated && buflen > 0 && n <= buflen - 1 - *pos)
		memcpy(buf + *pos, unit, n);
	else
		*truncated = 1;
	if (!*truncated)
		*pos += n;
}

size_t
mana_json_quote(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t		total = 0;		/* length the whole result needs */
	size_t		pos = 0;		/* bytes written to buf */
	int			truncated = 0;
	size_t		i = 0;

	if (buf == NULL)
		buflen = 0;
	if (s == NULL)
		len = 0;

#define QUOTE_EMIT(u, n) \
	do { \
		size_t n_ = (n); \
		json_quote_put(buf, buflen, &pos, &truncated, (u), n_); \
		total = (total > SIZE_MAX - n_) ? SIZE_MAX : total + n_; \
	} while (0)

	QUOTE_EMIT("\"", 1);
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[6];

		if (c == '"')
		{
			QUOTE_EMIT("\\\"", 2);
			i++;
		}
		else if (c == '\\')
		{
			QUOTE_EMIT("\\\\", 2);
			i++;
		}
		else if (c == '\b')
		{
			QUOTE_EMIT("\\b", 2);
			i++;
		}
		else if (c == '\f')
		{
			QUOTE_EMIT("\\f", 2);
			i++;
		}
		else if (c == '\n')
		{
			QUOTE_EMIT("\\n", 2);
			i++;
		}
		else if (c == '\r')
		{
			QUOTE_EMIT("\\r", 2);
			i++;
		}
		else if (c == '\t')
		{
			QUOTE_EMIT("\\t", 2);
			i++;
		}
		else if (c < 0x20 || c == 0x7f)
		{
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = json_hex[c >> 4];
			esc[5] = json_hex[c & 15];
			QUOTE_EMIT(esc, 6);
			i++;
		}
		else if (c < 0x80)
		{
			QUOTE_EMIT(s + i, 1);
			i++;
		}
		else
		{
			size_t		n = json_utf8_seq((const unsigned char *) s + i, len - i);

			if (n == 0)
			{
				QUOTE_EMIT("\\ufffd", 6);
				i++;
			}
			else
			{
				QUOTE_EMIT(s + i, n);
				i += n;
			}
		}
	}
	QUOTE_EMIT("\"", 1);
#undef QUOTE_EMIT

	if (buflen > 0)
		buf[pos] = '\0';
	return total;
}
