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
	char		app_id[MANA_WS_MAX_APP + 1];	/* "" for /ws, health, metrics */
	char		client_id[MANA_WS_MAX_CLIENT + 1];	/* from ?clientId=, "" when absent */
} mana_path;

/*
 * Parse a request target ("/ws/todo?clientId=abc%20d").  Percent-decoding
 * applies to query values; a bad escape, an appId outside the rules, a
 * clientId too long or containing NUL, or a target over 2048 bytes gives
 * MANA_PATH_INVALID.  A trailing '/' is not accepted.
 */
extern mana_path_kind mana_path_parse(const char *target, size_t len, mana_path *out);

#endif
