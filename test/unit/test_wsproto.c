/*
 * test_wsproto.c
 *     cmocka tests of wsproto.c (WebSocket messages and request paths).
 *
 * Every input is passed as a heap copy of exactly its length, so that
 * AddressSanitizer reports any read past it.
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
#include "wsproto.h"
#include "path_routes.h"

/* ------------------------------------------------------------- helpers */

static char *
heap_copy(const char *s, size_t len)
{
	char	   *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, s, len);
	return copy;
}

static mana_path_kind
path_len(const char *s, size_t len, mana_path *p)
{
	char	   *copy = heap_copy(s, len);
	mana_path_kind k;

	/* junk, so that a field left unset shows */
	memset(p, 'J', sizeof(*p));
	k = mana_path_parse(copy, len, p);
	free(copy);
	assert_int_equal(k, p->kind);
	assert_true(strlen(p->app_id) <= MANA_WS_MAX_APP);
	assert_true(strlen(p->client_id) <= MANA_WS_MAX_CLIENT);
	if (k != MANA_PATH_WS)
		assert_string_equal(p->client_id, "");
	if (k != MANA_PATH_WS && k != MANA_PATH_SYNC_PUSH && k != MANA_PATH_SYNC_PULL &&
		k != MANA_PATH_SYNC_STREAM)
		assert_string_equal(p->app_id, "");
	return k;
}

static mana_path_kind
path_str(const char *s, mana_path *p)
{
	return path_len(s, strlen(s), p);
}

static void
expect_path(const char *s, mana_path_kind kind, const char *app, const char *client)
{
	mana_path	p;
	mana_path_kind k = path_str(s, &p);

	if (k != kind)
		fail_msg("\"%s\": kind %d, expected %d", s, (int) k, (int) kind);
	if (strcmp(p.app_id, app) != 0)
		fail_msg("\"%s\": app_id \"%s\", expected \"%s\"", s, p.app_id, app);
	if (strcmp(p.client_id, client) != 0)
		fail_msg("\"%s\": client_id \"%s\", expected \"%s\"", s, p.client_id, client);
}

static mana_ws_msg *
new_msg(void)
{
	mana_ws_msg *m = malloc(sizeof(mana_ws_msg));

	assert_non_null(m);
	memset(m, 'J', sizeof(*m));
	m->error = "junk";
	return m;
}

static mana_ws_msg_type
msg_len(const char *s, size_t len, mana_ws_msg *m)
{
	char	   *copy = heap_copy(s, len);
	mana_ws_msg_type t;

	memset(m, 'J', sizeof(*m));
	m->error = "junk";
	t = mana_ws_parse(copy, len, m);
	free(copy);
	assert_int_equal(t, m->type);
	assert_true(strlen(m->token) <= MANA_WS_MAX_TOKEN);
	assert_true(strlen(m->client_id) <= MANA_WS_MAX_CLIENT);
	if (t == MANA_WS_MSG_INVALID)
	{
		assert_non_null(m->error);
		assert_true(strlen(m->error) > 0);
		assert_string_equal(m->token, "");
		assert_string_equal(m->client_id, "");
	}
	else
		assert_null(m->error);
	if (t == MANA_WS_MSG_PING)
	{
		assert_string_equal(m->token, "");
		assert_string_equal(m->client_id, "");
	}
	return t;
}

static mana_ws_msg_type
msg_str(const char *s, mana_ws_msg *m)
{
	return msg_len(s, strlen(s), m);
}

static void
expect_invalid_msg_len(const char *s, size_t len)
{
	mana_ws_msg *m = new_msg();
	mana_ws_msg_type t = msg_len(s, len, m);

	if (t != MANA_WS_MSG_INVALID)
		fail_msg("message \"%.*s\": type %d, expected INVALID", (int) len, s, (int) t);
	free(m);
}

static void
expect_invalid_msg(const char *s)
{
	expect_invalid_msg_len(s, strlen(s));
}

static void
expect_invalid_reason(const char *s, const char *reason)
{
	mana_ws_msg *m = new_msg();

	assert_int_equal(msg_str(s, m), MANA_WS_MSG_INVALID);
	if (strcmp(m->error, reason) != 0)
		fail_msg("message \"%s\": reason \"%s\", expected \"%s\"", s, m->error, reason);
	free(m);
}

static void
expect_auth(const char *s, const char *token, const char *client)
{
	mana_ws_msg *m = new_msg();
	mana_ws_msg_type t = msg_str(s, m);

	if (t != MANA_WS_MSG_AUTH)
		fail_msg("message \"%s\": type %d (%s), expected AUTH", s, (int) t,
				 m->error ? m->error : "");
	assert_string_equal(m->token, token);
	assert_string_equal(m->client_id, client);
	free(m);
}

static void
expect_ping(const char *s)
{
	mana_ws_msg *m = new_msg();
	mana_ws_msg_type t = msg_str(s, m);

	if (t != MANA_WS_MSG_PING)
		fail_msg("message \"%s\": type %d (%s), expected PING", s, (int) t,
				 m->error ? m->error : "");
	free(m);
}

static char *
repeat(char c, size_t n)
{
	char	   *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ------------------------------------------------------------- formatters */

static void
test_auth_ok_pong(void **state)
{
	char		buf[64];

	(void) state;
	assert_int_equal(mana_ws_auth_ok(buf, sizeof(buf)), strlen("{\"type\":\"auth-ok\"}"));
	assert_string_equal(buf, "{\"type\":\"auth-ok\"}");
	assert_int_equal(mana_ws_pong(buf, sizeof(buf)), strlen("{\"type\":\"pong\"}"));
	assert_string_equal(buf, "{\"type\":\"pong\"}");
	/* length-only queries */
	assert_int_equal(mana_ws_auth_ok(NULL, 0), 18);
	assert_int_equal(mana_ws_pong(NULL, 0), 15);
}

static void
expect_error_out(const char *message, const char *want)
{
	char		buf[512];
	size_t		n;

	memset(buf, 'X', sizeof(buf));
	n = mana_ws_error(message, buf, sizeof(buf));
	if (n != strlen(want) || strcmp(buf, want) != 0)
		fail_msg("error(\"%s\") gave %zu \"%s\", expected \"%s\"",
				 message ? message : "(null)", n, buf, want);
}

static void
test_error_plain(void **state)
{
	(void) state;
	expect_error_out("bad token", "{\"type\":\"error\",\"message\":\"bad token\"}");
	expect_error_out("", "{\"type\":\"error\",\"message\":\"\"}");
	expect_error_out(NULL, "{\"type\":\"error\",\"message\":\"\"}");
}

static void
test_error_escaping(void **state)
{
	(void) state;
	expect_error_out("say \"hi\"", "{\"type\":\"error\",\"message\":\"say \\\"hi\\\"\"}");
	expect_error_out("a\\b", "{\"type\":\"error\",\"message\":\"a\\\\b\"}");
	expect_error_out("\b\f\n\r\t",
					 "{\"type\":\"error\",\"message\":\"\\b\\f\\n\\r\\t\"}");
	expect_error_out("\x01\x1f\x7f",
					 "{\"type\":\"error\",\"message\":\"\\u0001\\u001f\\u007f\"}");
	expect_error_out("/</script>", "{\"type\":\"error\",\"message\":\"/</script>\"}");
	expect_error_out("\\\"", "{\"type\":\"error\",\"message\":\"\\\\\\\"\"}");
}

static void
test_error_utf8(void **state)
{
	(void) state;
	/* well-formed UTF-8 passes through */
	expect_error_out("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
					 "{\"type\":\"error\",\"message\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
	expect_error_out("\xef\xbf\xbf\xf4\x8f\xbf\xbf",
					 "{\"type\":\"error\",\"message\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}");
	/* anything else: one \ufffd per offending byte */
	expect_error_out("a\x80z", "{\"type\":\"error\",\"message\":\"a\\ufffdz\"}");
	expect_error_out("\xc0\xaf", "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\"}");
	expect_error_out("\xe2\x82", "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\"}");
	expect_error_out("\xed\xa0\x80",
					 "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\\ufffd\"}");
	expect_error_out("\xf5\x80\x80\x80x",
					 "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\\ufffd\\ufffdx\"}");
	expect_error_out("\xf4\x90\x80\x80",
					 "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}");
	expect_error_out("\xe0\x80\xaf",
					 "{\"type\":\"error\",\"message\":\"\\ufffd\\ufffd\\ufffd\"}");
	expect_error_out("\xc3", "{\"type\":\"error\",\"message\":\"\\ufffd\"}");
}

/* The error message for every byte 1..255 parses back as JSON. */
static void
test_error_roundtrip_json(void **state)
{
	char		msg[256];
	char		out[2048];
	union
	{
		max_align_t align;
		char		buf[16384];
	}			mem;
	mana_arena	arena;
	mana_json  *root;
	const char *text;
	size_t		textlen;
	size_t		n;
	int			i;

	(void) state;
	for (i = 1; i < 128; i++)
		msg[i - 1] = (char) i;
	msg[127] = '\0';
	n = mana_ws_error(msg, out, sizeof(out));
	assert_true(n < sizeof(out));
	arena.buf = mem.buf;
	arena.size = sizeof(mem.buf);
	arena.used = 0;
	root = mana_json_parse(out, n, &arena, NULL);
	assert_non_null(root);
	text = mana_json_get_string(root, "type", &textlen);
	assert_non_null(text);
	assert_string_equal(text, "error");
	text = mana_json_get_string(root, "message", &textlen);
	assert_non_null(text);
	assert_int_equal(textlen, 127);
	assert_memory_equal(text, msg, 127);

	/* high bytes (invalid UTF-8 on their own) still give valid JSON */
	for (i = 128; i < 256; i++)
		msg[i - 128] = (char) i;
	msg[128] = '\0';
	n = mana_ws_error(msg, out, sizeof(out));
	assert_true(n < sizeof(out));
	arena.used = 0;
	root = mana_json_parse(out, n, &arena, NULL);
	assert_non_null(root);
	assert_non_null(mana_json_get_string(root, "message", &textlen));
}

static void
expect_sync_out(const char *app, const char *const *tables, int n, const char *want)
{
	char		buf[1024];
	size_t		len;

	memset(buf, 'X', sizeof(buf));
	len = mana_ws_sync_available(app, tables, n, buf, sizeof(buf));
	if (len != strlen(want) || strcmp(buf, want) != 0)
		fail_msg("sync_available gave %zu \"%s\", expected \"%s\"", len, buf, want);
}

static void
test_sync_available(void **state)
{
	const char *const two[] = {"tasks", "lists"};
	const char *const one[] = {"tasks"};
	const char *const odd[] = {"a\"b", "c\\d", "\n", "\xc3\xa9t\xc3\xa9", NULL, ""};

	(void) state;
	expect_sync_out("todo", two, 2,
					"{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\",\"lists\"]}");
	expect_sync_out("todo", one, 1,
					"{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\"]}");
	expect_sync_out("todo", two, 0,
					"{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[]}");
	expect_sync_out("todo", two, -3,
					"{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[]}");
	expect_sync_out("todo", NULL, 5,
					"{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[]}");
	expect_sync_out(NULL, one, 1,
					"{\"type\":\"sync-available\",\"appId\":\"\",\"tables\":[\"tasks\"]}");
	expect_sync_out("a\"p\x01", odd, 6,
					"{\"type\":\"sync-available\",\"appId\":\"a\\\"p\\u0001\",\"tables\":"
					"[\"a\\\"b\",\"c\\\\d\",\"\\n\",\"\xc3\xa9t\xc3\xa9\",\"\",\"\"]}");
}

/*
 * snprintf semantics: for every buflen from 0 to past the full length, the
 * return is the full length, at most buflen bytes are written and the
 * result is a NUL-terminated prefix.
 */
typedef size_t (*fmt_fn) (char *buf, size_t buflen, const void *arg);

static size_t
fmt_auth_ok(char *buf, size_t buflen, const void *arg)
{
	(void) arg;
	return mana_ws_auth_ok(buf, buflen);
}

static size_t
fmt_pong(char *buf, size_t buflen, const void *arg)
{
	(void) arg;
	return mana_ws_pong(buf, buflen);
}

static size_t
fmt_error(char *buf, size_t buflen, const void *arg)
{
	return mana_ws_error((const char *) arg, buf, buflen);
}

static size_t
fmt_sync(char *buf, size_t buflen, const void *arg)
{
	static const char *const tables[] = {"ta\"sks", "l\xc3\xa9sts", "\x01"};

	return mana_ws_sync_available((const char *) arg, tables, 3, buf, buflen);
}

static void
check_snprintf(fmt_fn fn, const void *arg)
{
	char		full[1024];
	size_t		n = fn(full, sizeof(full), arg);
	size_t		buflen;

	assert_true(n < sizeof(full));
	assert_int_equal(strlen(full), n);
	assert_int_equal(fn(NULL, 0, arg), n);
	for (buflen = 0; buflen <= n + 2; buflen++)
	{
		/* exactly buflen bytes on the heap: ASan catches any overrun */
		char	   *buf = malloc(buflen ? buflen : 1);
		size_t		got;
		size_t		keep;

		assert_non_null(buf);
		memset(buf, 'X', buflen ? buflen : 1);
		got = fn(buf, buflen, arg);
		assert_int_equal(got, n);
		if (buflen == 0)
			assert_int_equal(buf[0], 'X');
		else
		{
			keep = buflen - 1 < n ? buflen - 1 : n;
			assert_memory_equal(buf, full, keep);
			assert_int_equal(buf[keep], '\0');
		}
		free(buf);
	}
}

static void
test_snprintf_semantics(void **state)
{
	(void) state;
	check_snprintf(fmt_auth_ok, NULL);
	check_snprintf(fmt_pong, NULL);
	check_snprintf(fmt_error, "with \"quotes\" \\ \n and \xe2\x82\xac and \x80");
	check_snprintf(fmt_sync, "todo");
}

/* ----------------------------------------------------------------- paths */

static void
test_path_routes(void **state)
{
	(void) state;
	expect_path("/ws", MANA_PATH_WS, "", "");
	expect_path("/ws/todo", MANA_PATH_WS, "todo", "");
	expect_path("/health", MANA_PATH_HEALTH, "", "");
	expect_path("/metrics", MANA_PATH_METRICS, "", "");
	expect_path("/ws/A-z_0.9", MANA_PATH_WS, "A-z_0.9", "");
	expect_path("/ws/x", MANA_PATH_WS, "x", "");
	/* the appId rule allows these */
	expect_path("/ws/.", MANA_PATH_WS, ".", "");
	expect_path("/ws/..", MANA_PATH_WS, "..", "");
	expect_path("/ws/-", MANA_PATH_WS, "-", "");
}

static void
test_path_queries(void **state)
{
	(void) state;
	expect_path("/ws?clientId=abc", MANA_PATH_WS, "", "abc");
	expect_path("/ws/todo?clientId=abc%20d", MANA_PATH_WS, "todo", "abc d");
	expect_path("/ws/todo?clientId=a+b", MANA_PATH_WS, "todo", "a b");
	expect_path("/ws/todo?clientId=a%2Bb", MANA_PATH_WS, "todo", "a+b");
	expect_path("/ws/todo?clientId=%e2%82%AC", MANA_PATH_WS, "todo", "\xe2\x82\xac");
	expect_path("/ws/todo?clientId=%25", MANA_PATH_WS, "todo", "%");
	expect_path("/ws/todo?clientId=%26x%3D", MANA_PATH_WS, "todo", "&x=");
	expect_path("/ws?", MANA_PATH_WS, "", "");
	expect_path("/ws?&&", MANA_PATH_WS, "", "");
	expect_path("/ws?&&clientId=a&&", MANA_PATH_WS, "", "a");
	expect_path("/ws?x=1&clientId=c1&y=2", MANA_PATH_WS, "", "c1");
	expect_path("/ws?=x", MANA_PATH_WS, "", "");
	expect_path("/ws?clientId=a=b", MANA_PATH_WS, "", "a=b");
	expect_path("/ws?clientId=a?b", MANA_PATH_WS, "", "a?b");
	expect_path("/ws??clientId=a", MANA_PATH_WS, "", "");
	expect_path("/ws?x=%00", MANA_PATH_WS, "", "");	/* other parameters ignored */
	expect_path("/ws?x=%FF", MANA_PATH_WS, "", "");
	/* keys are decoded too; names are case-sensitive */
	expect_path("/ws?client%49d=k", MANA_PATH_WS, "", "k");
	expect_path("/ws?clientid=k", MANA_PATH_WS, "", "");
	expect_path("/ws?clientId2=k", MANA_PATH_WS, "", "");
	expect_path("/ws?client+Id=k", MANA_PATH_WS, "", "");
	/* empty clientId means absent */
	expect_path("/ws?clientId=", MANA_PATH_WS, "", "");
	expect_path("/ws?clientId", MANA_PATH_WS, "", "");
	/* duplicates: the last one wins */
	expect_path("/ws?clientId=a&clientId=b", MANA_PATH_WS, "", "b");
	expect_path("/ws/t?clientId=a&x=1&clientId=b&y", MANA_PATH_WS, "t", "b");
	expect_path("/ws?clientId=a&clientId=", MANA_PATH_WS, "", "");
	/* other routes accept and ignore a query */
	expect_path("/health?x=1", MANA_PATH_HEALTH, "", "");
	expect_path("/metrics?clientId=a", MANA_PATH_METRICS, "", "");
	expect_path("/health?", MANA_PATH_HEALTH, "", "");
	/* the path is not decoded */
	expect_path("/ws%2Ftodo", MANA_PATH_NOT_FOUND, "", "");
}

static void
test_path_sync_routes(void **state)
{
	(void) state;
	expect_path("/sync/todo", MANA_PATH_SYNC_PUSH, "todo", "");
	expect_path("/sync/todo/pull", MANA_PATH_SYNC_PULL, "todo", "");
	expect_path("/sync/todo/pull?collection=tasks&since=x", MANA_PATH_SYNC_PULL, "todo", "");
	expect_path("/sync/my.app-1_x/stream?collections=a,b", MANA_PATH_SYNC_STREAM, "my.app-1_x", "");
	/* the clientId query is only for /ws */
	expect_path("/sync/todo?clientId=a", MANA_PATH_SYNC_PUSH, "todo", "");
	/* the appId rules apply */
	expect_path("/sync/bad!app", MANA_PATH_INVALID, "", "");
	expect_path("/sync/a%20b/pull", MANA_PATH_INVALID, "", "");
	expect_path("/sync/0123456789012345678901234567890123456789012345678901234567890123", MANA_PATH_SYNC_PUSH,
				"0123456789012345678901234567890123456789012345678901234567890123", "");
	expect_path("/sync/01234567890123456789012345678901234567890123456789012345678901234", MANA_PATH_INVALID, "", "");
}

static void
test_path_not_found(void **state)
{
	static const char *const nf[] = {
		"/", "/ws/", "/ws/a/b", "/sync/", "/sync//pull", "/sync/x/", "/sync/x/pul", "/sync/x/pull/",
		"/sync/x/streams", "/syncx/a", "/wss", "/w", "/WS", "/Ws/todo",
		"/health/", "/metrics/", "//ws", "/ws//", "/ws/todo/", "/healthz",
		"/health/x", "/metricsx", "/w%73", "/ws/?clientId=a", "/ws/a/b?c=d",
		"/ws//todo", "/ws/todo/x/", "/ws/a/%41", "/index.html", "/.."
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(nf) / sizeof(nf[0]); i++)
		expect_path(nf[i], MANA_PATH_NOT_FOUND, "", "");
}

static void
test_path_invalid(void **state)
{
	static const char *const bad[] = {
		"", "ws", "?clientId=a", "http://host/ws", "*", "ws/todo",
		" /ws",
		/* malformed percent escapes, anywhere in the query */
		"/ws?clientId=%2", "/ws?clientId=%", "/ws?clientId=%zz",
		"/ws?clientId=%g0", "/ws?clientId=%0g", "/ws?clientId=a%2",
		"/ws?x=%zz", "/ws?x=%", "/ws?%zz=1", "/ws?%=1", "/ws?a&b=%4",
		"/health?x=%zz", "/nope?x=%zz", "/ws/todo?clientId=ok&z=%x1",
		/* and in the path */
		"/ws%", "/ws%2", "/nope%zz",
		/* clientId: NUL or invalid UTF-8 */
		"/ws?clientId=%00", "/ws?clientId=a%00b", "/ws?clientId=%FF",
		"/ws?clientId=%C3", "/ws?clientId=%C0%AF", "/ws?clientId=%ED%A0%80",
		/* appId outside [A-Za-z0-9_.-] */
		"/ws/bad!id", "/ws/a%20b", "/ws/%41", "/ws/a:b", "/ws/a@b", "/ws/a~b",
		"/ws/a+b", "/ws/a;b", "/ws/todo%2F",
		/* bytes that must be percent-encoded */
		"/ws#frag", "/ws?clientId=a#b", "/ws/a b", "/ws?clientId=a b",
		"/ws\t", "/ws\r\n", "/ws\x7f", "/ws/\xc3\xa9", "/ws?clientId=\xc3\xa9",
		"/he alth",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_path(bad[i], MANA_PATH_INVALID, "", "");
}

static void
test_path_embedded_nul_and_null(void **state)
{
	mana_path	p;

	(void) state;
	assert_int_equal(path_len("/ws\0", 4, &p), MANA_PATH_INVALID);
	assert_int_equal(path_len("/ws\0/x", 6, &p), MANA_PATH_INVALID);
	assert_int_equal(path_len("/ws?clientId=a\0b", 16, &p), MANA_PATH_INVALID);
	assert_int_equal(path_len("\0/ws", 4, &p), MANA_PATH_INVALID);
	/* len shorter than the string: only len bytes count */
	assert_int_equal(path_len("/wsXYZ", 3, &p), MANA_PATH_WS);
	assert_int_equal(path_len("/health?x=%zz", 7, &p), MANA_PATH_HEALTH);
	assert_int_equal(path_len("/ws?clientId=%41", 15, &p), MANA_PATH_INVALID);

	memset(&p, 'J', sizeof(p));
	assert_int_equal(mana_path_parse(NULL, 3, &p), MANA_PATH_INVALID);
	assert_int_equal(p.kind, MANA_PATH_INVALID);
	assert_string_equal(p.app_id, "");
	assert_string_equal(p.client_id, "");
	assert_int_equal(mana_path_parse("/ws", 3, NULL), MANA_PATH_INVALID);
}

static void
test_path_limits(void **state)
{
	char		t[4096];
	char		want[MANA_WS_MAX_CLIENT + 2];
	char	   *s;
	mana_path	p;
	size_t		i;

	(void) state;

	/* appId: 64 is fine, 65 is not */
	s = repeat('a', MANA_WS_MAX_APP);
	snprintf(t, sizeof(t), "/ws/%s", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_WS);
	assert_string_equal(p.app_id, s);
	snprintf(t, sizeof(t), "/ws/%sb", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_INVALID);
	snprintf(t, sizeof(t), "/ws/%s?clientId=x", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_WS);
	assert_string_equal(p.client_id, "x");
	free(s);

	/* clientId: 128 bytes fine, 129 not; raw and percent-encoded */
	s = repeat('c', MANA_WS_MAX_CLIENT);
	snprintf(t, sizeof(t), "/ws?clientId=%s", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_WS);
	assert_string_equal(p.client_id, s);
	snprintf(t, sizeof(t), "/ws?clientId=%sc", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_INVALID);
	/* too long even when a later one would be fine */
	snprintf(t, sizeof(t), "/ws?clientId=%sc&clientId=ok", s);
	assert_int_equal(path_str(t, &p), MANA_PATH_INVALID);
	free(s);

	strcpy(t, "/ws/app?clientId=");
	for (i = 0; i < MANA_WS_MAX_CLIENT; i++)
		strcat(t, "%41");
	memset(want, 'A', MANA_WS_MAX_CLIENT);
	want[MANA_WS_MAX_CLIENT] = '\0';
	assert_int_equal(path_str(t, &p), MANA_PATH_WS);
	assert_string_equal(p.client_id, want);
	strcat(t, "+");
	assert_int_equal(path_str(t, &p), MANA_PATH_INVALID);

	/* 64 two-byte characters = 128 bytes */
	strcpy(t, "/ws?clientId=");
	for (i = 0; i < MANA_WS_MAX_CLIENT / 2; i++)
		strcat(t, "%C3%A9");
	assert_int_equal(path_str(t, &p), MANA_PATH_WS);
	assert_int_equal(strlen(p.client_id), MANA_WS_MAX_CLIENT);
	strcat(t, "%C3%A9");
	assert_int_equal(path_str(t, &p), MANA_PATH_INVALID);

	/* the whole target: 2048 bytes fine, 2049 not */
	strcpy(t, "/ws/todo?clientId=me&pad=");
	i = strlen(t);
	memset(t + i, 'p', 2048 - i);
	t[2048] = '\0';
	assert_int_equal(path_len(t, 2048, &p), MANA_PATH_WS);
	assert_string_equal(p.app_id, "todo");
	assert_string_equal(p.client_id, "me");
	t[2048] = 'p';
	t[2049] = '\0';
	assert_int_equal(path_len(t, 2049, &p), MANA_PATH_INVALID);
	/* a long target of a route that does not exist is still too long */
	memset(t, 'x', sizeof(t));
	t[0] = '/';
	assert_int_equal(path_len(t, 2048, &p), MANA_PATH_NOT_FOUND);
	assert_int_equal(path_len(t, 2049, &p), MANA_PATH_INVALID);
	assert_int_equal(path_len(t, sizeof(t), &p), MANA_PATH_INVALID);
}

/* Every byte value in every position of a short target: no crash. */
static void
test_path_all_bytes(void **state)
{
	char		t[] = "/ws/ab?clientId=%41b";
	size_t		len = strlen(t);
	size_t		pos;
	int			c;
	mana_path	p;

	(void) state;
	for (pos = 0; pos < len; pos++)
	{
		char		saved = t[pos];

		for (c = 0; c < 256; c++)
		{
			mana_path_kind k;

			t[pos] = (char) c;
			k = path_len(t, len, &p);
			if (c <= 0x20 || c >= 0x7f || c == '#')
				assert_int_equal(k, MANA_PATH_INVALID);
		}
		t[pos] = saved;
	}
}

/* -------------------------------------------------------------- messages */

static void
test_msg_ping(void **state)
{
	(void) state;
	expect_ping("{\"type\":\"ping\"}");
	expect_ping(" \t\r\n{ \"type\" : \"ping\" } \n");
	expect_ping("{\"x\":1,\"type\":\"ping\",\"y\":[true,false,null,{\"z\":\"w\"}]}");
	expect_ping("{\"type\":\"ping\",\"token\":42}");
	expect_ping("{\"type\":\"ping\",\"token\":\"t\",\"clientId\":\"c\"}");
	expect_ping("{\"type\":\"p\\u0069ng\"}");
	expect_ping("{\"type\":\"ping\",\"clientId\":\"\"}");
}

static void
test_msg_auth(void **state)
{
	(void) state;
	expect_auth("{\"type\":\"auth\",\"token\":\"abc.def.ghi\"}", "abc.def.ghi", "");
	expect_auth("{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"c-1\"}", "t", "c-1");
	expect_auth("{\"clientId\":\"c\",\"token\":\"t\",\"type\":\"auth\",\"x\":{}}", "t", "c");
	expect_auth("{\"type\":\"auth\",\"token\":\"\\u0041\\/\\\"\"}", "A/\"", "");
	expect_auth("{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"caf\\u00e9\"}",
				"t", "caf\xc3\xa9");
	expect_auth("{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"\xf0\x9f\x98\x80\"}",
				"t", "\xf0\x9f\x98\x80");
	expect_auth("{\"type\":\"auth\",\"token\":\"\\ud83d\\ude00\"}", "\xf0\x9f\x98\x80", "");
}

static void
test_msg_invalid(void **state)
{
	static const char *const bad[] = {
		"null", "true", "42", "\"ping\"", "[]", "[{\"type\":\"ping\"}]",
		"{", "}", "{\"type\":\"ping\"", "{\"type\":\"ping\"}x",
		"{\"type\":\"ping\"}{}", "{\"type\":\"ping\",}", "{'type':'ping'}",
		"{type:\"ping\"}", "{\"type\":\"ping\" \"x\":1}",
		"\xef\xbb\xbf{\"type\":\"ping\"}",
		"{}", "{\"type\":1}", "{\"type\":null}", "{\"type\":[\"ping\"]}",
		"{\"type\":{}}", "{\"type\":\"PING\"}", "{\"type\":\"pong\"}",
		"{\"type\":\"ping \"}", "{\"type\":\"\"}", "{\"type\":\"auth-ok\"}",
		"{\"Type\":\"ping\"}",
		/* duplicate keys */
		"{\"type\":\"ping\",\"type\":\"ping\"}",
		"{\"type\":\"auth\",\"token\":\"a\",\"token\":\"b\"}",
		/* auth fields */
		"{\"type\":\"auth\"}", "{\"type\":\"auth\",\"token\":\"\"}",
		"{\"type\":\"auth\",\"token\":123}", "{\"type\":\"auth\",\"token\":null}",
		"{\"type\":\"auth\",\"token\":[\"t\"]}", "{\"type\":\"auth\",\"token\":true}",
		"{\"type\":\"auth\",\"token\":{\"t\":1}}",
		"{\"type\":\"auth\",\"token\":\"a\\u0000b\"}",
		"{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"\"}",
		"{\"type\":\"auth\",\"token\":\"t\",\"clientId\":7}",
		"{\"type\":\"auth\",\"token\":\"t\",\"clientId\":null}",
		"{\"type\":\"auth\",\"token\":\"t\",\"clientId\":[]}",
		"{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"\\u0000\"}",
		/* string syntax */
		"{\"type\":\"auth\",\"token\":\"a\nb\"}",
		"{\"type\":\"auth\",\"token\":\"\\x41\"}",
		"{\"type\":\"auth\",\"token\":\"\\ud800\"}",
		"{\"type\":\"auth\",\"token\":\"\\udc00\\ud800\"}",
		"{\"type\":\"auth\",\"token\":\"\\u12\"}",
		"{\"type\":\"auth\",\"token\":\"abc}",
		/* invalid UTF-8 */
		"{\"type\":\"auth\",\"token\":\"\xff\"}",
		"{\"type\":\"auth\",\"token\":\"\xc0\xaf\"}",
		"{\"type\":\"auth\",\"token\":\"\xed\xa0\x80\"}",
		"{\"type\":\"auth\",\"token\":\"\xe2\x82\"}",
		"{\"type\":\"auth\",\"token\":\"\xf4\x90\x80\x80\"}",
		"{\"type\":\"ping\",\"x\":\"\x80\"}",
		"{\"type\":\"ping\"}\xc3",
		/* numbers */
		"{\"type\":\"ping\",\"n\":01}", "{\"type\":\"ping\",\"n\":1.}",
		"{\"type\":\"ping\",\"n\":-}", "{\"type\":\"ping\",\"n\":NaN}",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_invalid_msg(bad[i]);
}

static void
test_msg_invalid_reasons(void **state)
{
	mana_ws_msg *m = new_msg();

	(void) state;
	expect_invalid_reason("[]", "not a JSON object");
	expect_invalid_reason("{", "invalid JSON");
	expect_invalid_reason("{}", "missing type");
	expect_invalid_reason("{\"type\":3}", "type is not a string");
	expect_invalid_reason("{\"type\":\"x\"}", "unknown type");
	expect_invalid_reason("{\"type\":\"auth\"}", "missing token");
	expect_invalid_reason("{\"type\":\"auth\",\"token\":1}", "token is not a string");
	expect_invalid_reason("{\"type\":\"auth\",\"token\":\"\"}", "empty token");
	expect_invalid_reason("{\"type\":\"auth\",\"token\":\"t\",\"clientId\":1}",
						  "clientId is not a string");
	expect_invalid_reason("{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"\"}",
						  "empty clientId");
	expect_invalid_reason("{\"type\":\"ping\",\"x\":\"\xff\"}", "invalid UTF-8");

	/* empty and NULL frames */
	assert_int_equal(msg_len("", 0, m), MANA_WS_MSG_INVALID);
	memset(m, 'J', sizeof(*m));
	assert_int_equal(mana_ws_parse(NULL, 0, m), MANA_WS_MSG_INVALID);
	assert_string_equal(m->token, "");
	assert_string_equal(m->client_id, "");
	assert_non_null(m->error);
	assert_int_equal(mana_ws_parse(NULL, 10, m), MANA_WS_MSG_INVALID);
	assert_int_equal(mana_ws_parse("{\"type\":\"ping\"}", 15, NULL), MANA_WS_MSG_INVALID);
	free(m);
}

static void
test_msg_embedded_nul(void **state)
{
	mana_ws_msg *m = new_msg();

	(void) state;
	expect_invalid_msg_len("{\"type\":\"ping\"}\0", 16);
	expect_invalid_msg_len("{\"type\":\"pi\0ng\"}", 16);
	expect_invalid_msg_len("{\"type\":\"auth\",\"token\":\"a\0b\"}", 28);
	expect_invalid_msg_len("\0{\"type\":\"ping\"}", 16);
	/* len shorter than the text: only len bytes count */
	assert_int_equal(msg_len("{\"type\":\"ping\"}garbage", 15, m), MANA_WS_MSG_PING);
	expect_invalid_msg_len("{\"type\":\"ping\"}", 14);
	free(m);
}

static void
test_msg_limits(void **state)
{
	mana_ws_msg *m = new_msg();
	char	   *frame = malloc(20000);
	char	   *tok;
	char	   *cid;
	size_t		n;

	(void) state;
	assert_non_null(frame);
	memset(frame, ' ', 20000);

	/* token: 8192 bytes fine, 8193 not */
	tok = repeat('t', MANA_WS_MAX_TOKEN + 1);
	cid = repeat('c', MANA_WS_MAX_CLIENT + 1);
	tok[MANA_WS_MAX_TOKEN] = '\0';
	cid[MANA_WS_MAX_CLIENT] = '\0';
	n = (size_t) snprintf(frame, 20000, "{\"type\":\"auth\",\"token\":\"%s\",\"clientId\":\"%s\"}",
						  tok, cid);
	assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_AUTH);
	assert_int_equal(strlen(m->token), MANA_WS_MAX_TOKEN);
	assert_string_equal(m->token, tok);
	assert_string_equal(m->client_id, cid);

	tok[MANA_WS_MAX_TOKEN] = 't';
	n = (size_t) snprintf(frame, 20000, "{\"type\":\"auth\",\"token\":\"%s\"}", tok);
	assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_INVALID);
	assert_string_equal(m->error, "token too long");
	tok[MANA_WS_MAX_TOKEN] = '\0';

	/* clientId: 129 bytes, and 129 via escapes */
	cid[MANA_WS_MAX_CLIENT] = 'c';
	n = (size_t) snprintf(frame, 20000,
						  "{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"%s\"}", cid);
	assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_INVALID);
	assert_string_equal(m->error, "clientId too long");
	{
		size_t		i;

		n = (size_t) snprintf(frame, 20000, "{\"type\":\"auth\",\"token\":\"t\",\"clientId\":\"");
		for (i = 0; i < MANA_WS_MAX_CLIENT / 2; i++)
			n += (size_t) snprintf(frame + n, 20000 - n, "\\u00e9");
		n += (size_t) snprintf(frame + n, 20000 - n, "\"}");
		assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_AUTH);
		assert_int_equal(strlen(m->client_id), MANA_WS_MAX_CLIENT);
		n -= 2;
		n += (size_t) snprintf(frame + n, 20000 - n, "x\"}");
		assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_INVALID);
	}

	/* the frame: 16384 bytes parse (whitespace, or one big ignored string) */
	n = (size_t) snprintf(frame, 20000, "{\"type\":\"ping\"}");
	memset(frame + n, ' ', 16384 - n);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_PING);
	assert_int_equal(msg_len(frame, 16385, m), MANA_WS_MSG_INVALID);
	assert_string_equal(m->error, "frame too large");

	n = (size_t) snprintf(frame, 20000, "{\"type\":\"ping\",\"pad\":\"");
	memset(frame + n, 'p', 16384 - n - 2);
	memcpy(frame + 16384 - 2, "\"}", 2);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_PING);

	n = (size_t) snprintf(frame, 20000, "{\"type\":\"auth\",\"token\":\"%s\",\"pad\":\"", tok);
	memset(frame + n, 'p', 16384 - n - 2);
	memcpy(frame + 16384 - 2, "\"}", 2);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_AUTH);
	assert_string_equal(m->token, tok);

	/* oversized frames are refused whatever they hold */
	assert_int_equal(msg_len(frame, 19000, m), MANA_WS_MSG_INVALID);

	free(tok);
	free(cid);
	free(frame);
	free(m);
}

/* Frames that stress the parser's arena and depth: no crash, bounded. */
static void
test_msg_hostile(void **state)
{
	mana_ws_msg *m = new_msg();
	char	   *frame = malloc(16384);
	size_t		n;
	size_t		i;

	(void) state;
	assert_non_null(frame);

	/* thousands of tiny values: may not fit the arena, must not crash */
	n = (size_t) snprintf(frame, 16384, "{\"type\":\"ping\",\"x\":[");
	while (n + 4 < 16384)
	{
		frame[n++] = '0';
		frame[n++] = ',';
	}
	frame[n++] = '0';
	frame[n++] = ']';
	frame[n++] = '}';
	(void) msg_len(frame, n, m);

	/* many keys */
	n = (size_t) snprintf(frame, 16384, "{\"type\":\"ping\"");
	for (i = 0; n + 20 < 16384; i++)
		n += (size_t) snprintf(frame + n, 16384 - n, ",\"k%zu\":1", i);
	frame[n++] = '}';
	(void) msg_len(frame, n, m);

	/* deep nesting beyond MANA_JSON_MAX_DEPTH */
	n = (size_t) snprintf(frame, 16384, "{\"type\":\"ping\",\"x\":");
	for (i = 0; i < 5000; i++)
		frame[n++] = '[';
	for (i = 0; i < 5000; i++)
		frame[n++] = ']';
	frame[n++] = '}';
	assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_INVALID);

	/* unterminated deep nesting */
	memset(frame, '[', 16384);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_INVALID);
	memset(frame, '{', 16384);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_INVALID);
	memset(frame, '"', 16384);
	assert_int_equal(msg_len(frame, 16384, m), MANA_WS_MSG_INVALID);

	/* nesting within the limit is fine */
	n = (size_t) snprintf(frame, 16384, "{\"type\":\"ping\",\"x\":");
	for (i = 0; i < 8; i++)
		frame[n++] = '[';
	for (i = 0; i < 8; i++)
		frame[n++] = ']';
	frame[n++] = '}';
	assert_int_equal(msg_len(frame, n, m), MANA_WS_MSG_PING);

	free(frame);
	free(m);
}

/* Every byte value in every position of an auth frame: no crash. */
static void
test_msg_all_bytes(void **state)
{
	char		f[] = "{\"type\":\"auth\",\"token\":\"a\\u00e9\",\"clientId\":\"c\"}";
	size_t		len = strlen(f);
	size_t		pos;
	int			c;
	mana_ws_msg *m = new_msg();

	(void) state;
	for (pos = 0; pos < len; pos++)
	{
		char		saved = f[pos];

		for (c = 0; c < 256; c++)
		{
			f[pos] = (char) c;
			(void) msg_len(f, len, m);
		}
		f[pos] = saved;
	}
	/* and every prefix */
	for (pos = 0; pos < len; pos++)
		assert_int_equal(msg_len(f, pos, m), MANA_WS_MSG_INVALID);
	assert_int_equal(msg_len(f, len, m), MANA_WS_MSG_AUTH);
	free(m);
}

/* A message struct is fully reset by each parse. */
static void
test_msg_reuse(void **state)
{
	mana_ws_msg *m = new_msg();
	const char *a = "{\"type\":\"auth\",\"token\":\"t1\",\"clientId\":\"c1\"}";
	const char *b = "{\"type\":\"auth\",\"token\":\"t2\"}";
	const char *p = "{\"type\":\"ping\"}";

	(void) state;
	assert_int_equal(mana_ws_parse(a, strlen(a), m), MANA_WS_MSG_AUTH);
	assert_string_equal(m->client_id, "c1");
	assert_int_equal(mana_ws_parse(b, strlen(b), m), MANA_WS_MSG_AUTH);
	assert_string_equal(m->token, "t2");
	assert_string_equal(m->client_id, "");
	assert_null(m->error);
	assert_int_equal(mana_ws_parse(a, strlen(a), m), MANA_WS_MSG_AUTH);
	assert_int_equal(mana_ws_parse(p, strlen(p), m), MANA_WS_MSG_PING);
	assert_string_equal(m->token, "");
	assert_string_equal(m->client_id, "");
	assert_int_equal(mana_ws_parse("x", 1, m), MANA_WS_MSG_INVALID);
	assert_non_null(m->error);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_ok_pong),
		cmocka_unit_test(test_error_plain),
		cmocka_unit_test(test_error_escaping),
		cmocka_unit_test(test_error_utf8),
		cmocka_unit_test(test_error_roundtrip_json),
		cmocka_unit_test(test_sync_available),
		cmocka_unit_test(test_snprintf_semantics),
		cmocka_unit_test(test_path_routes),
		cmocka_unit_test(test_path_sync_routes),
		cmocka_unit_test(test_path_queries),
		cmocka_unit_test(test_path_not_found),
		cmocka_unit_test(test_path_invalid),
		cmocka_unit_test(test_path_embedded_nul_and_null),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_path_all_bytes),
		cmocka_unit_test(test_msg_ping),
		cmocka_unit_test(test_msg_auth),
		cmocka_unit_test(test_msg_invalid),
		cmocka_unit_test(test_msg_invalid_reasons),
		cmocka_unit_test(test_msg_embedded_nul),
		cmocka_unit_test(test_msg_limits),
		cmocka_unit_test(test_msg_hostile),
		cmocka_unit_test(test_msg_all_bytes),
		cmocka_unit_test(test_msg_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
