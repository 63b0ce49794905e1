/*
 * conn.h
 *     What lws keeps for every client connection (its per-session data):
 *     the HTTP layer's current request, and the WebSocket state once the
 *     connection upgraded.
 */
#ifndef MANA_CONN_H
#define MANA_CONN_H

#include "ws.h"

typedef struct mana_conn
{
	void	   *http;			/* http.c: the current request, or NULL */
	mana_ws_conn ws;			/* ws.c: zero until the upgrade */
} mana_conn;

#endif
