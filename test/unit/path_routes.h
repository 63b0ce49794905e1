/*
 * path_routes.h
 *     For the unit tests and the fuzz harness of request paths: the
 *     worker's routes (src/worker/http.c, its route table) as a kind per
 *     pattern, matched with core/wsproto.c's mana_target_parse and
 *     mana_route_match the way the worker matches them: the first pattern
 *     that matches wins; if none does and one fits but for its app id, the
 *     target is INVALID; else NOT_FOUND.  clientId is kept for the
 *     WebSocket routes only (the others ignore it).
 */
#ifndef MANA_TEST_PATH_ROUTES_H
#define MANA_TEST_PATH_ROUTES_H

#include <stdbool.h>
#include <string.h>

#include "wsproto.h"

typedef enum mana_path_kind
{
	MANA_PATH_INVALID = 0,
	MANA_PATH_WS,				/* /ws or /ws/{appId} */
	MANA_PATH_HEALTH,
	MANA_PATH_METRICS,
	MANA_PATH_SYNC_PUSH,		/* /sync/{appId} */
	MANA_PATH_SYNC_PULL,		/* /sync/{appId}/pull */
	MANA_PATH_SYNC_STREAM,		/* /sync/{appId}/stream */
	MANA_PATH_NOT_FOUND			/* well-formed but no such route */
} mana_path_kind;

typedef struct mana_path
{
	mana_path_kind kind;
	char		app_id[MANA_WS_MAX_APP + 1];
	char		client_id[MANA_WS_MAX_CLIENT + 1];
} mana_path;

static const struct
{
	const char *pattern;
	mana_path_kind kind;
}			test_routes[] = {
	{"/health", MANA_PATH_HEALTH},
	{"/metrics", MANA_PATH_METRICS},
	{"/ws", MANA_PATH_WS},
	{"/ws/{app}", MANA_PATH_WS},
	{"/sync/{app}", MANA_PATH_SYNC_PUSH},
	{"/sync/{app}/pull", MANA_PATH_SYNC_PULL},
	{"/sync/{app}/stream", MANA_PATH_SYNC_STREAM},
};

static inline mana_path_kind
mana_path_parse(const char *target, size_t len, mana_path *out)
{
	mana_target t;
	bool		bad_app = false;
	size_t		i;

	if (out == NULL)
		return MANA_PATH_INVALID;
	out->app_id[0] = '\0';
	out->client_id[0] = '\0';
	out->kind = MANA_PATH_INVALID;
	if (mana_target_parse(target, len, &t) != 0)
		return out->kind;
	out->kind = MANA_PATH_NOT_FOUND;
	for (i = 0; i < sizeof(test_routes) / sizeof(test_routes[0]); i++)
	{
		char		app[MANA_WS_MAX_APP + 1];
		mana_route_result r = mana_route_match(test_routes[i].pattern, target, t.path_len, app);

		if (r == MANA_ROUTE_MATCH)
		{
			out->kind = test_routes[i].kind;
			memcpy(out->app_id, app, sizeof(app));
			if (out->kind == MANA_PATH_WS)
				memcpy(out->client_id, t.client_id, sizeof(t.client_id));
			return out->kind;
		}
		bad_app |= (r == MANA_ROUTE_BAD_APP);
	}
	if (bad_app)
		out->kind = MANA_PATH_INVALID;
	return out->kind;
}

#endif
