/*
 * fuzz_wsmsg.c
 *     libFuzzer harness for mana_ws_parse and the server-message formatters
 *     of src/core/wsproto.c (with json.c).
 *
 * The input is one client text frame, parsed from an exact-size heap copy.
 * Checked:
 *  - the returned type is out->type; INVALID carries a reason and empty
 *    token/clientId; PING and AUTH carry no reason;
 *  - AUTH: token 1..MANA_WS_MAX_TOKEN and clientId 0..MANA_WS_MAX_CLIENT
 *    bytes, valid UTF-8, no NUL; a canonical frame rebuilt from them
 *    (mana_json_quote) parses to the same token and clientId;
 *  - a frame that parses is valid UTF-8 and at most 16 KiB; the replies
 *    (pong, auth-ok) are the documented text;
 *  - the formatters (mana_ws_error with the input as message,
 *    mana_ws_sync_available with input pieces as app and tables) always
 *    produce valid JSON of the documented shape, carrying a valid-UTF-8
 *    argument unchanged, and are snprintf-like (size query, full write and
 *    a truncated write agree).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "wsproto.h"
#include "fuzz_util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_SIZE (1u << 20)
static char *arena_mem;

static const mana_json *
parse(const char *s, size_t n)
{
	mana_arena	a;

	a.buf = arena_mem;
	a.size = ARENA_SIZE;
	a.used = 0;
	return mana_json_parse(s, n, &a, NULL);
}

static int
json_str_eq(const mana_json *v, const char *s)
{
	return v != NULL && v->type == MANA_JSON_STRING && v->len == strlen(s) &&
		memcmp(v->str, s, v->len) == 0;
}

static void
append_quoted(char *buf, size_t *pos, const char *s)
{
	size_t		n = mana_json_quote(s, strlen(s), NULL, 0);

	mana_json_quote(s, strlen(s), buf + *pos, n + 1);
	*pos += n;
}

/* the fixed replies: exact text, snprintf-like */
static void
check_reply(size_t (*fn) (char *, size_t), const char *want)
{
	char		buf[64];
	char		small[5];

	if (fn(NULL, 0) != strlen(want) || fn(buf, sizeof(buf)) != strlen(want) ||
		strcmp(buf, want) != 0)
		abort();
	if (fn(small, sizeof(small)) != strlen(want) || strlen(small) != 4 ||
		memcmp(small, want, 4) != 0)
		abort();
}

static void
check_auth_roundtrip(const mana_ws_msg *m)
{
	/* quoted text grows at most 6x */
	size_t		cap = 64 + 6 * (MANA_WS_MAX_TOKEN + MANA_WS_MAX_CLIENT);
	char	   *frame = malloc(cap);
	mana_ws_msg *back = malloc(sizeof(mana_ws_msg));
	size_t		pos = 0;

	if (frame == NULL || back == NULL)
		abort();
	memcpy(frame, "{\"type\":\"auth\",\"token\":", 23);
	pos = 23;
	append_quoted(frame, &pos, m->token);
	if (m->client_id[0] != '\0')
	{
		memcpy(frame + pos, ",\"clientId\":", 12);
		pos += 12;
		append_quoted(frame, &pos, m->client_id);
	}
	frame[pos++] = '}';
	if (pos > 16384)
		goto done;				/* over the frame limit: nothing to compare */
	if (mana_ws_parse(frame, pos, back) != MANA_WS_MSG_AUTH ||
		strcmp(back->token, m->token) != 0 || strcmp(back->client_id, m->client_id) != 0)
		abort();
done:
	free(frame);
	free(back);
}

/* snprintf-like contract of a formatter, given its full output */
static void
check_truncation(const char *full, size_t need, size_t (*again) (char *, size_t, const void *),
				 const void *arg)
{
	size_t		cut = need / 2;

	{
		char	   *t = malloc(cut + 1);

		if (t == NULL)
			abort();
		if (again(t, cut + 1, arg) != need || strlen(t) != cut || memcmp(t, full, cut) != 0)
			abort();
		free(t);
	}
	/* buflen 0 writes nothing */
	{
		char		guard = 'g';

		if (again(&guard, 0, arg) != need || guard != 'g')
			abort();
	}
}

static size_t
error_again(char *buf, size_t len, const void *arg)
{
	return mana_ws_error((const char *) arg, buf, len);
}

static void
check_error_formatter(const char *msg)
{
	size_t		need = mana_ws_error(msg, NULL, 0);
	char	   *out = malloc(need + 1);
	const mana_json *r;
	const mana_json *m;

	if (out == NULL)
		abort();
	if (mana_ws_error(msg, out, need + 1) != need || strlen(out) != need)
		abort();
	if (!utf8_valid((const unsigned char *) out, need))
		abort();
	r = parse(out, need);
	if (r == NULL || r->type != MANA_JSON_OBJECT || r->count != 2 ||
		!json_str_eq(mana_json_get(r, "type"), "error"))
		abort();
	m = mana_json_get(r, "message");
	if (m == NULL || m->type != MANA_JSON_STRING)
		abort();
	/* valid UTF-8 passes unchanged (control characters only escaped) */
	if (utf8_valid((const unsigned char *) msg, strlen(msg)) && !json_str_eq(m, msg))
		abort();
	check_truncation(out, need, error_again, msg);
	free(out);
}

typedef struct sync_args
{
	const char *app;
	const char *const *tables;
	int			n;
} sync_args;

static size_t
sync_again(char *buf, size_t len, const void *arg)
{
	const sync_args *a = arg;

	return mana_ws_sync_available(a->app, a->tables, a->n, buf, len);
}

static void
check_sync_formatter(const uint8_t *data, size_t size)
{
	/* pieces separated by '\n': app, then up to 8 tables */
	char	   *s = malloc(size + 1);
	const char *pieces[9];
	int			np = 0;
	char	   *p;
	sync_args	a;
	size_t		need;
	char	   *out;
	const mana_json *r;
	const mana_json *t;
	int			i;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	p = s;
	while (np < 9)
	{
		char	   *nl = strchr(p, '\n');

		pieces[np++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	a.app = pieces[0];
	a.tables = pieces + 1;
	a.n = np - 1;
	need = sync_again(NULL, 0, &a);
	out = malloc(need + 1);
	if (out == NULL)
		abort();
	if (sync_again(out, need + 1, &a) != need || strlen(out) != need)
		abort();
	r = parse(out, need);
	if (r == NULL || r->type != MANA_JSON_OBJECT || r->count != 3 ||
		!json_str_eq(mana_json_get(r, "type"), "sync-available"))
		abort();
	t = mana_json_get(r, "tables");
	if (t == NULL || t->type != MANA_JSON_ARRAY || t->count != (size_t) a.n)
		abort();
	if (utf8_valid((const unsigned char *) a.app, strlen(a.app)) &&
		!json_str_eq(mana_json_get(r, "appId"), a.app))
		abort();
	for (i = 0; i < a.n; i++)
		if (utf8_valid((const unsigned char *) a.tables[i], strlen(a.tables[i])) &&
			!json_str_eq(t->items[i], a.tables[i]))
			abort();
	check_truncation(out, need, sync_again, &a);
	free(out);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static mana_ws_msg m;
	char	   *s;
	mana_ws_msg_type t;

	if (arena_mem == NULL && (arena_mem = malloc(ARENA_SIZE)) == NULL)
		abort();
	s = malloc(size ? size : 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);

	memset(&m, 0x5a, sizeof(m));
	t = mana_ws_parse(s, size, &m);
	if (t != m.type)
		abort();
	switch (t)
	{
		case MANA_WS_MSG_INVALID:
			if (m.error == NULL || m.error[0] == '\0' || m.token[0] || m.client_id[0])
				abort();
			break;
		case MANA_WS_MSG_PING:
			if (m.error != NULL || m.token[0] || m.client_id[0])
				abort();
			check_reply(mana_ws_pong, "{\"type\":\"pong\"}");
			break;
		case MANA_WS_MSG_AUTH:
			{
				size_t		tl = strnlen(m.token, sizeof(m.token));
				size_t		cl = strnlen(m.client_id, sizeof(m.client_id));

				if (m.error != NULL || tl == 0 || tl > MANA_WS_MAX_TOKEN ||
					cl > MANA_WS_MAX_CLIENT)
					abort();
				if (!utf8_valid((const unsigned char *) m.token, tl) ||
					!utf8_valid((const unsigned char *) m.client_id, cl))
					abort();
				check_auth_roundtrip(&m);
				check_reply(mana_ws_auth_ok, "{\"type\":\"auth-ok\"}");
				break;
			}
		default:
			abort();
	}
	if (t != MANA_WS_MSG_INVALID &&
		(size > 16384 || !utf8_valid((const unsigned char *) data, size)))
		abort();

	if (size <= 4096)
	{
		char	   *z = malloc(size + 1);

		if (z == NULL)
			abort();
		memcpy(z, data, size);
		z[size] = '\0';
		check_error_formatter(z);
		free(z);
		check_sync_formatter(data, size);
	}
	free(s);
	return 0;
}
