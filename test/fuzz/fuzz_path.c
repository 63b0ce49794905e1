/*
 * fuzz_path.c
 *     libFuzzer harness for request targets and routes (src/core/wsproto.c:
 *     mana_target_parse, mana_route_match, through test/unit/path_routes.h).
 *
 * The input is an HTTP request target, parsed from an exact-size heap copy
 * into a mana_path pre-filled with garbage.  Checked (wsproto.h):
 *  - the returned kind is out->kind; app_id and client_id are always
 *    NUL-terminated within their arrays;
 *  - app_id is set only for /ws/{appId} and the /sync/{appId} routes and
 *    then is 1..64 of [A-Za-z0-9_.-]; client_id only for MANA_PATH_WS and
 *    then is valid UTF-8 without NUL;
 *  - anything but INVALID needs a target of 1..2048 printable ASCII bytes
 *    (no space, no '#') starting with '/';
 *  - the route matches the path part byte for byte (/ws, /ws/APP, /health,
 *    /metrics, /sync/APP, /sync/APP/pull, /sync/APP/stream);
 *  - a WS target rebuilt canonically (clientId percent-encoded) parses to
 *    the same app_id and client_id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsproto.h"
#include "../unit/path_routes.h"
#include "fuzz_util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
app_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* path part (before '?') equals prefix + app + suffix */
static int
route_is(const char *path, size_t plen, const char *prefix, const char *app,
		 const char *suffix)
{
	size_t		a = strlen(prefix),
				b = strlen(app),
				c = strlen(suffix);

	return plen == a + b + c && memcmp(path, prefix, a) == 0 &&
		memcmp(path + a, app, b) == 0 && memcmp(path + a + b, suffix, c) == 0;
}

static void
check_canonical(const mana_path *p)
{
	static const char hex[] = "0123456789ABCDEF";
	char		t[2048 + 1];
	size_t		n = 0;
	size_t		i;
	mana_path	q;

	n = (size_t) snprintf(t, sizeof(t), "/ws%s%s", p->app_id[0] ? "/" : "", p->app_id);
	if (p->client_id[0] != '\0')
	{
		memcpy(t + n, "?a=1&clientId=", 14);
		n += 14;
		for (i = 0; p->client_id[i] != '\0'; i++)
		{
			unsigned char c = (unsigned char) p->client_id[i];

			if (app_char(c))
				t[n++] = (char) c;
			else if (c == ' ')
				t[n++] = '+';
			else
			{
				t[n++] = '%';
				t[n++] = hex[c >> 4];
				t[n++] = hex[c & 15];
			}
		}
	}
	memset(&q, 0x5a, sizeof(q));
	if (mana_path_parse(t, n, &q) != MANA_PATH_WS ||
		strcmp(q.app_id, p->app_id) != 0 || strcmp(q.client_id, p->client_id) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	mana_path	p;
	mana_path_kind k;
	size_t		al,
				cl,
				i,
				plen;
	const char *q;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	memset(&p, 0x5a, sizeof(p));
	k = mana_path_parse(s, size, &p);

	if (k != p.kind)
		abort();
	if (memchr(p.app_id, '\0', sizeof(p.app_id)) == NULL ||
		memchr(p.client_id, '\0', sizeof(p.client_id)) == NULL)
		abort();
	al = strlen(p.app_id);
	cl = strlen(p.client_id);
	if (al > MANA_WS_MAX_APP || cl > MANA_WS_MAX_CLIENT)
		abort();
	for (i = 0; i < al; i++)
		if (!app_char((unsigned char) p.app_id[i]))
			abort();
	if (cl > 0 && (k != MANA_PATH_WS || !utf8_valid((const unsigned char *) p.client_id, cl)))
		abort();
	switch (k)
	{
		case MANA_PATH_WS:
		case MANA_PATH_SYNC_PUSH:
		case MANA_PATH_SYNC_PULL:
		case MANA_PATH_SYNC_STREAM:
			break;
		default:
			if (al != 0)
				abort();
	}
	if (k == MANA_PATH_INVALID)
	{
		free(s);
		return 0;
	}

	/* well-formed target */
	if (size == 0 || size > 2048 || s[0] != '/')
		abort();
	for (i = 0; i < size; i++)
		if (data[i] <= 0x20 || data[i] >= 0x7f || data[i] == '#')
			abort();
	q = memchr(s, '?', size);
	plen = q ? (size_t) (q - s) : size;
	switch (k)
	{
		case MANA_PATH_WS:
			if (!(al == 0 ? route_is(s, plen, "/ws", "", "") : route_is(s, plen, "/ws/", p.app_id, "")))
				abort();
			check_canonical(&p);
			break;
		case MANA_PATH_HEALTH:
			if (!route_is(s, plen, "/health", "", ""))
				abort();
			break;
		case MANA_PATH_METRICS:
			if (!route_is(s, plen, "/metrics", "", ""))
				abort();
			break;
		case MANA_PATH_SYNC_PUSH:
			if (al == 0 || !route_is(s, plen, "/sync/", p.app_id, ""))
				abort();
			break;
		case MANA_PATH_SYNC_PULL:
			if (al == 0 || !route_is(s, plen, "/sync/", p.app_id, "/pull"))
				abort();
			break;
		case MANA_PATH_SYNC_STREAM:
			if (al == 0 || !route_is(s, plen, "/sync/", p.app_id, "/stream"))
				abort();
			break;
		case MANA_PATH_NOT_FOUND:
			if (route_is(s, plen, "/ws", "", "") || route_is(s, plen, "/health", "", "") ||
				route_is(s, plen, "/metrics", "", ""))
				abort();
			break;
		default:
			abort();
	}
	free(s);
	return 0;
}
