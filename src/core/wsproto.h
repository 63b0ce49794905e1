/*
 * wsproto.h
 *     The push worker's WebSocket protocol and request paths (pure C).
 *
 * Client -> server text frames (JSON objects):
 *   {"type":"auth","token":"<jwt>"[,"clientId":"..."]}
 *   {"type":"ping"}
 * Server -> client:
 *   {"type":"auth-ok"}
 *   {"type":"sync-available","appId":"todo","tables":["tasks","lists"]}
 *   {"type":"pong"}
 *   {"type":"error","message":"..."}
 *
 * Paths: "/ws" (every app) and "/ws/{appId}", each with an optional query
 * "?clientId=...&..." (percent-encoded; other parameters ignored); "/health";
 * "/metrics"; "/sync/{appId}", "/sync/{appId}/pull", "/sync/{appId}/stream"
 * (app_id filled; their query is read by the caller).  appId: 1-64 of
 * [A-Za-z0-9_.-]; clientId: 1-128 bytes.
 */
#ifndef MANA_WSPROTO_H
#define MANA_WSPROTO_H

#include <stddef.h>

#define MANA_WS_MAX_FRAME 16384	/* largest client message; the worker closes with 1009 */
#define MANA_WS_MAX_APP 64
#define MANA_WS_MAX_CLIENT 128
#define MANA_WS_MAX_TOKEN 8192

typedef enum mana_ws_msg_type
{
	MANA_WS_MSG_INVALID = 0,	/* not JSON, not an object, no/unknown type, bad fields */
	MANA_WS_MSG_AUTH,
	MANA_WS_MSG_PING
} mana_ws_msg_type;

typedef struct mana_ws_msg
{
	mana_ws_msg_type type;
	char		token[MANA_WS_MAX_TOKEN + 1];	/* AUTH */
	char		client_id[MANA_WS_MAX_CLIENT + 1];	/* AUTH, "" when absent */
	const char *error;			/* INVALID: a short reason */
} mana_ws_msg;

/*
 * Parse one text frame (len bytes, not NUL-terminated).  Unknown extra keys
 * are ignored; a token longer than MANA_WS_MAX_TOKEN, a clientId longer than
 * MANA_WS_MAX_CLIENT or empty, or a non-string token is INVALID.
 */
extern mana_ws_msg_type mana_ws_parse(const char *s, size_t len, mana_ws_msg *out);

/* Server messages; snprintf-like, NUL-terminated when buflen > 0. */
extern size_t mana_ws_auth_ok(char *buf, size_t buflen);
extern size_t mana_ws_pong(char *buf, size_t buflen);
extern size_t mana_ws_error(const char *message, char *buf, size_t buflen);
extern size_t mana_ws_sync_available(const char *app_id, const char *const *tables,
									 int ntables, char *buf, size_t buflen);

/*
 * Request targets ("/ws/todo?clientId=abc%20d").  Every byte must be
 * printable ASCII other than space and '#'; percent escapes must be
 * well-formed in the path and in the query; the query's clientId, decoded
 * ('+' is a space), must be at most MANA_WS_MAX_CLIENT bytes of UTF-8
 * without NUL (the last one wins; "clientId=" means absent).  The path is
 * matched as it is, not decoded.  At most 2048 bytes.
 */
typedef struct mana_target
{
	size_t		path_len;		/* bytes before '?' */
	char		client_id[MANA_WS_MAX_CLIENT + 1];	/* "" when absent */
} mana_target;

/* 0, or -1 when the target is invalid (answer 400) */
extern int	mana_target_parse(const char *target, size_t len, mana_target *out);

typedef enum mana_route_result
{
	MANA_ROUTE_NO_MATCH = 0,
	MANA_ROUTE_MATCH,
	MANA_ROUTE_BAD_APP			/* the pattern fits, but not its app id: 400 */
} mana_route_result;

/*
 * Match a path (path[0, plen), as mana_target_parse delimited it) against
 * a route pattern: literal text and at most one "{app}", which takes one
 * non-empty segment (up to the next '/') that must be an app id (1 to
 * MANA_WS_MAX_APP bytes of [A-Za-z0-9_.-]).  On a match app gets the app id
 * ("" when the pattern has none).  A trailing '/' never matches.
 */
extern mana_route_result mana_route_match(const char *pattern, const char *path, size_t plen,
										  char app[MANA_WS_MAX_APP + 1]);

#endif
