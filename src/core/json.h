/*
 * json.h
 *     A small, strict JSON parser for untrusted input (pure C).
 *
 * Used for JWT headers and payloads, JWKS documents and WebSocket messages,
 * none of which may crash or exhaust the push worker.  Parses RFC 8259 JSON
 * into a read-only tree held in one caller-supplied arena; no global state,
 * no longjmp.  Strings are unescaped (\uXXXX with surrogate pairs to UTF-8;
 * unpaired surrogates and \u0000 are refused) and NUL-terminated; invalid
 * UTF-8 in the input is refused.  Numbers are kept as their text and also
 * as a double.  Limits: nesting depth, total input length and member count
 * are bounded by the caller's arena and by MANA_JSON_MAX_DEPTH.
 */
#ifndef MANA_JSON_H
#define MANA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANA_JSON_MAX_DEPTH 32

typedef enum mana_json_type
{
	MANA_JSON_NULL,
	MANA_JSON_FALSE,
	MANA_JSON_TRUE,
	MANA_JSON_NUMBER,
	MANA_JSON_STRING,
	MANA_JSON_ARRAY,
	MANA_JSON_OBJECT
} mana_json_type;

typedef struct mana_json mana_json;

struct mana_json
{
	mana_json_type type;
	/* STRING: the unescaped value; NUMBER: the number's text */
	const char *str;
	size_t		len;
	double		num;			/* NUMBER */
	/* ARRAY / OBJECT: children in document order */
	size_t		count;
	mana_json **items;			/* ARRAY elements, OBJECT values */
	const char **keys;			/* OBJECT keys (unescaped, NUL-terminated) */
	size_t	   *keylens;
};

/* A bump allocator the parser takes its memory from. */
typedef struct mana_arena
{
	char	   *buf;
	size_t		size;
	size_t		used;
} mana_arena;

/* Returns NULL when full; 8-byte aligned. */
extern void *mana_arena_alloc(mana_arena *a, size_t n);

/*
 * Parse the whole of s[0..len) (no trailing garbage except whitespace).
 * Returns the root, or NULL on any error (syntax, depth, arena full);
 * *err (when err is non-NULL) then names the problem in a few words.
 * Duplicate object keys are refused.
 */
extern mana_json *mana_json_parse(const char *s, size_t len, mana_arena *arena,
								  const char **err);

/* Member of an object by key, or NULL (also when obj is not an object). */
extern const mana_json *mana_json_get(const mana_json *obj, const char *key);

/* Member that must be a string: its value, or NULL. */
extern const char *mana_json_get_string(const mana_json *obj, const char *key,
										size_t *len);

/*
 * Member that must be an integer number within [INT64_MIN, INT64_MAX]
 * written without fraction or exponent (as JWT's exp/nbf/iat are): 0 and
 * *out set, or -1.
 */
extern int	mana_json_get_int64(const mana_json *obj, const char *key, int64_t *out);

/* Append s as a JSON string (quotes and escapes) to buf; snprintf-like. */
extern size_t mana_json_quote(const char *s, size_t len, char *buf, size_t buflen);

#endif
