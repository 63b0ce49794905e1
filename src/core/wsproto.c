/*
 * wsproto.c
 *     The push worker's WebSocket protocol and request paths (pure C).
 *
 * Everything here runs on bytes from untrusted clients: inputs are never
 * read past their length, all work is bounded by the input length (which
 * is itself capped), and nothing is allocated: the JSON parser takes its
 * memory from a fixed arena on the stack and results go to the caller's
 * buffers.
 */
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "wsproto.h"

/*
 * Parser arena: room for the unescaped strings (never longer than the
 * input), the nodes and their member arrays.  A legitimate message has a
 * handful of members; a frame that needs more than this (thousands of
 * tiny values) is refused as "invalid JSON".
 */
#define WS_ARENA_SIZE (2 * MANA_WS_MAX_FRAME + 8192)

/* Request targets longer than this are refused. */
#define WS_MAX_TARGET 2048

/* ------------------------------------------------------------------ UTF-8 */

/*
 * Length of the well-formed UTF-8 sequence at s[0, n) (n >= 1), or 0 when
 * s does not start with one (overlong forms, surrogates, > U+10FFFF and
 * truncated sequences are all refused).
 */
static size_t
ws_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;
	size_t		need;
	size_t		i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* overlong */
		else if (c == 0xED)
			hi = 0x9F;			/* surrogates */
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		need = 4;
		if (c == 0xF0)
			lo = 0x90;			/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;			/* > U+10FFFF */
	}
	else
		return 0;

	if (n < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need;
}

static int
ws_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		size_t		n;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		n = ws_utf8_seq(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* ------------------------------------------------------------- formatters */

/* An snprintf-like output: counts everything, stores what fits. */
typedef struct ws_out
{
	char	   *buf;
	size_t		buflen;
	size_t		pos;			/* length of the full output so far */
} ws_out;

static void
ws_out_init(ws_out *o, char *buf, size_t buflen)
{
	o->buf = buf;
	o->buflen = buf ? buflen : 0;
	o->pos = 0;
}

static void
ws_put_byte(ws_out *o, char c)
{
	if (o->buflen > 0 && o->pos < o->buflen - 1)
		o->buf[o->pos] = c;
	if (o->pos < SIZE_MAX)
		o->pos++;
}

static void
ws_put_raw(ws_out *o, const char *s)
{
	while (*s)
		ws_put_byte(o, *s++);
}

static size_t
ws_out_finish(ws_out *o)
{
	if (o->buflen > 0)
		o->buf[o->pos < o->buflen - 1 ? o->pos : o->buflen - 1] = '\0';
	return o->pos;
}

static const char ws_hex[] = "0123456789abcdef";

/*
 * Appends the NUL-terminated s (NULL as "") as a JSON string.  Control
 * characters and DEL are escaped; well-formed UTF-8 passes through as is;
 * a byte that does not start a well-formed UTF-8 sequence becomes \ufffd,
 * so the output is always valid JSON in valid UTF-8.
 */
static void
ws_put_string(ws_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *) (s ? s : "");
	size_t		len = strlen((const char *) p);
	size_t		i = 0;

	ws_put_byte(o, '"');
	while (i < len)
	{
		unsigned char c = p[i];

		if (c >= 0x80)
		{
			size_t		n = ws_utf8_seq(p + i, len - i);
			size_t		k;

			if (n == 0)
			{
				ws_put_raw(o, "\\ufffd");
				i++;
			}
			else
			{
				for (k = 0; k < n; k++)
					ws_put_byte(o, (char) p[i + k]);
				i += n;
			}
			continue;
		}
		switch (c)
		{
			case '"':
				ws_put_raw(o, "\\\"");
				break;
			case '\\':
				ws_put_raw(o, "\\\\");
				break;
			case '\b':
				ws_put_raw(o, "\\b");
				break;
			case '\f':
				ws_put_raw(o, "\\f");
				break;
			case '\n':
				ws_put_raw(o, "\\n");
				break;
			case '\r':
				ws_put_raw(o, "\\r");
				break;
			case '\t':
				ws_put_raw(o, "\\t");
				break;
			default:
				if (c < 0x20 || c == 0x7f)
				{
					ws_put_raw(o, "\\u00");
					ws_put_byte(o, ws_hex[c >> 4]);
					ws_put_byte(o, ws_hex[c & 15]);
				}
				else
					ws_put_byte(o, (char) c);
				break;
		}
		i++;
	}
	ws_put_byte(o, '"');
}

size_t
mana_ws_auth_ok(char *buf, size_t buflen)
{
	ws_out		o;

	ws_out_init(&o, buf, buflen);
	ws_put_raw(&o, "{\"type\":\"auth-ok\"}");
	return ws_out_finish(&o);
}

size_t
mana_ws_pong(char *buf, size_t buflen)
{
	ws_out		o;

	ws_out_init(&o, buf, buflen);
	ws_put_raw(&o, "{\"type\":\"pong\"}");
	return ws_out_finish(&o);
}

/* A NULL message is written as "". */
size_t
mana_ws_error(const char *message, char *buf, size_t buflen)
{
	ws_out		o;

	ws_out_init(&o, buf, buflen);
	ws_put_raw(&o, "{\"type\":\"error\",\"message\":");
	ws_put_string(&o, message);
	ws_put_byte(&o, '}');
	return ws_out_finish(&o);
}

/*
 * A NULL app_id is written as ""; ntables <= 0 or a NULL tables gives
 * "tables":[]; a NULL table name is written as "".
 */
size_t
mana_ws_sync_available(const char *app_id, const char *const *tables,
					   int ntables, char *buf, size_t buflen)
{
	ws_out		o;
	int			i;

	ws_out_init(&o, buf, buflen);
	ws_put_raw(&o, "{\"type\":\"sync-available\",\"appId\":");
	ws_put_string(&o, app_id);
	ws_put_raw(&o, ",\"tables\":[");
	if (tables != NULL)
	{
		for (i = 0; i < ntables; i++)
		{
			if (i > 0)
				ws_put_byte(&o, ',');
			ws_put_string(&o, tables[i]);
		}
	}
	ws_put_raw(&o, "]}");
	return ws_out_finish(&o);
}

/* ---------------------------------------------------------------- messages */

static mana_ws_msg_type
ws_invalid(mana_ws_msg *out, const char *why)
{
	out->type = MANA_WS_MSG_INVALID;
	out->token[0] = '\0';
	out->client_id[0] = '\0';
	out->error = why;
	return MANA_WS_MSG_INVALID;
}

static int
ws_str_is(const mana_json *v, const char *lit)
{
	size_t		n = strlen(lit);

	return v->len == n && memcmp(v->str, lit, n) == 0;
}

/*
 * Frames over MANA_WS_MAX_FRAME bytes, invalid UTF-8 (checked here as well as
 * by the JSON parser) and JSON that does not fit the parser's arena are
 * INVALID.  A clientId member that is present must be a string of
 * 1..MANA_WS_MAX_CLIENT bytes ("clientId":null is INVALID).  Duplicate
 * keys are refused by the JSON parser, so they are INVALID too.
 */
mana_ws_msg_type
mana_ws_parse(const char *s, size_t len, mana_ws_msg *out)
{
	union
	{
		max_align_t align;
		char		buf[WS_ARENA_SIZE];
	}			mem;
	mana_arena	arena;
	const mana_json *root;
	const mana_json *type;
	const mana_json *token;
	const mana_json *client;

	if (out == NULL)
		return MANA_WS_MSG_INVALID;
	if (s == NULL || len == 0)
		return ws_invalid(out, "empty frame");
	if (len > MANA_WS_MAX_FRAME)
		return ws_invalid(out, "frame too large");
	if (!ws_utf8_valid(s, len))
		return ws_invalid(out, "invalid UTF-8");

	arena.buf = mem.buf;
	arena.size = sizeof(mem.buf);
	arena.used = 0;
	root = mana_json_parse(s, len, &arena, NULL);
	if (root == NULL)
		return ws_invalid(out, "invalid JSON");
	if (root->type != MANA_JSON_OBJECT)
		return ws_invalid(out, "not a JSON object");

	type = mana_json_get(root, "type");
	if (type == NULL)
		return ws_invalid(out, "missing type");
	if (type->type != MANA_JSON_STRING)
		return ws_invalid(out, "type is not a string");

	if (ws_str_is(type, "ping"))
	{
		out->type = MANA_WS_MSG_PING;
		out->token[0] = '\0';
		out->client_id[0] = '\0';
		out->error = NULL;
		return MANA_WS_MSG_PING;
	}
	if (!ws_str_is(type, "auth"))
		return ws_invalid(out, "unknown type");

	token = mana_json_get(root, "token");
	if (token == NULL)
		return ws_invalid(out, "missing token");
	if (token->type != MANA_JSON_STRING)
		return ws_invalid(out, "token is not a string");
	if (token->len == 0)
		return ws_invalid(out, "empty token");
	if (token->len > MANA_WS_MAX_TOKEN)
		return ws_invalid(out, "token too long");
	if (memchr(token->str, '\0', token->len) != NULL)
		return ws_invalid(out, "token contains NUL");

	client = mana_json_get(root, "clientId");
	if (client != NULL)
	{
		if (client->type != MANA_JSON_STRING)
			return ws_invalid(out, "clientId is not a string");
		if (client->len == 0)
			return ws_invalid(out, "empty clientId");
		if (client->len > MANA_WS_MAX_CLIENT)
			return ws_invalid(out, "clientId too long");
		if (memchr(client->str, '\0', client->len) != NULL)
			return ws_invalid(out, "clientId contains NUL");
	}

	out->type = MANA_WS_MSG_AUTH;
	memcpy(out->token, token->str, token->len);
	out->token[token->len] = '\0';
	if (client != NULL)
	{
		memcpy(out->client_id, client->str, client->len);
		out->client_id[client->len] = '\0';
	}
	else
		out->client_id[0] = '\0';
	out->error = NULL;
	return MANA_WS_MSG_AUTH;
}

/* ------------------------------------------------------------------- paths */

static int
ws_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s[0, n) ('+' as a space when plus is set).  Stores the
 * first cap decoded bytes at dst (dst may be NULL when cap is 0) and sets
 * *outlen to the full decoded length.  Returns 0, or -1 on a malformed
 * escape ('%' not followed by two hex digits).
 */
static int
ws_pct_decode(const char *s, size_t n, int plus, char *dst, size_t cap,
			  size_t *outlen)
{
	size_t		i = 0;
	size_t		o = 0;

	while (i < n)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '%')
		{
			int			h;
			int			l;

			if (n - i < 3)
				return -1;
			h = ws_hexval((unsigned char) s[i + 1]);
			l = ws_hexval((unsigned char) s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (unsigned char) (h * 16 + l);
			i += 3;
		}
		else
		{
			if (plus && c == '+')
				c = ' ';
			i++;
		}
		if (o < cap)
			dst[o] = (char) c;
		o++;
	}
	*outlen = o;
	return 0;
}

static int
ws_app_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/*
 * Parses the query q[0, n): '&'-separated key[=value] pairs, keys and
 * values percent-decoded with '+' as a space.  Only clientId is used; when
 * it appears more than once the last one wins, but every occurrence must
 * be valid.  An empty clientId ("clientId=" or a bare "clientId") means
 * absent.  Returns 0, or -1 when the query is INVALID.
 */
static int
ws_parse_query(const char *q, size_t n, mana_target *out)
{
	size_t		start = 0;

	while (start <= n)
	{
		const char *piece = q + start;
		const char *amp = memchr(piece, '&', n - start);
		size_t		plen = amp ? (size_t) (amp - piece) : n - start;
		const char *eq = memchr(piece, '=', plen);
		size_t		klen = eq ? (size_t) (eq - piece) : plen;
		const char *val = eq ? eq + 1 : piece + plen;
		size_t		vlen = eq ? plen - klen - 1 : 0;
		char		key[16];
		size_t		keylen;

		if (ws_pct_decode(piece, klen, 1, key, sizeof(key), &keylen) != 0)
			return -1;
		if (keylen == 8 && memcmp(key, "clientId", 8) == 0)
		{
			size_t		cidlen;

			if (ws_pct_decode(val, vlen, 1, out->client_id,
							  MANA_WS_MAX_CLIENT, &cidlen) != 0)
				return -1;
			if (cidlen > MANA_WS_MAX_CLIENT)
				return -1;
			if (memchr(out->client_id, '\0', cidlen) != NULL)
				return -1;
			if (!ws_utf8_valid(out->client_id, cidlen))
				return -1;
			out->client_id[cidlen] = '\0';
		}
		else
		{
			size_t		ignored;

			if (ws_pct_decode(val, vlen, 1, NULL, 0, &ignored) != 0)
				return -1;
		}
		start += plen + 1;
	}
	return 0;
}

int
mana_target_parse(const char *target, size_t len, mana_target *out)
{
	const char *qmark;
	size_t		plen;
	size_t		i;
	size_t		ignored;

	if (out == NULL)
		return -1;
	out->path_len = 0;
	out->client_id[0] = '\0';
	if (target == NULL || len == 0 || len > WS_MAX_TARGET || target[0] != '/')
		return -1;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) target[i];

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return -1;
	}
	qmark = memchr(target, '?', len);
	plen = qmark ? (size_t) (qmark - target) : len;
	if (ws_pct_decode(target, plen, 0, NULL, 0, &ignored) != 0)
		return -1;
	if (qmark != NULL && ws_parse_query(qmark + 1, len - plen - 1, out) != 0)
	{
		out->client_id[0] = '\0';
		return -1;
	}
	out->path_len = plen;
	return 0;
}

mana_route_result
mana_route_match(const char *pattern, const char *path, size_t plen, char app[MANA_WS_MAX_APP + 1])
{
	const char *hole = strstr(pattern, "{app}");
	size_t		pre = hole ? (size_t) (hole - pattern) : strlen(pattern);
	const char *post = hole ? hole + 5 : "";
	size_t		postlen = strlen(post);
	const char *seg;
	const char *slash;
	size_t		alen;
	size_t		i;

	app[0] = '\0';
	if (plen < pre || memcmp(path, pattern, pre) != 0)
		return MANA_ROUTE_NO_MATCH;
	if (hole == NULL)
		return plen == pre ? MANA_ROUTE_MATCH : MANA_ROUTE_NO_MATCH;
	/* {app}: one non-empty segment, then exactly the rest of the pattern */
	seg = path + pre;
	slash = memchr(seg, '/', plen - pre);
	alen = slash ? (size_t) (slash - seg) : plen - pre;
	if (alen == 0 || plen - pre - alen != postlen || memcmp(seg + alen, post, postlen) != 0)
		return MANA_ROUTE_NO_MATCH;
	if (alen > MANA_WS_MAX_APP)
		return MANA_ROUTE_BAD_APP;
	for (i = 0; i < alen; i++)
		if (!ws_app_char((unsigned char) seg[i]))
			return MANA_ROUTE_BAD_APP;
	memcpy(app, seg, alen);
	app[alen] = '\0';
	return MANA_ROUTE_MATCH;
}
