/*
 * ws.h
 *     The push worker's WebSocket connections (ws.c): the upgrade, the auth
 *     message, ping, and sync-available messages from the fan-out.
 */
#ifndef MANA_WS_H
#define MANA_WS_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#include "core/wsproto.h"
#include "fanout.h"

/* settings (ws.c) */
extern int	mana_auth_timeout_ms;
extern int	mana_max_connections;
extern void mana_ws_define_settings(void);

/* one per WebSocket (inside the connection's lws per-session data) */
typedef struct mana_ws_conn
{
	mana_fanout_client fan;		/* hints wake it */
	struct lws *wsi;
	struct mana_ws_conn *prev;
	struct mana_ws_conn *next;
	bool		counted;
	bool		is_ws;
	bool		authed;
	bool		need_auth_ok;
	int			need_pongs;
	int			close_code;		/* nonzero: close with it once the error is sent */
	char	   *error;			/* malloc'd error message to send */
	struct mana_hub_conn *hub;
	char		app[MANA_WS_MAX_APP + 1];
	char		client[MANA_WS_MAX_CLIENT + 1];
	char	   *rx;				/* frame being assembled */
	size_t		rxlen;
} mana_ws_conn;

/* lws callback reasons of WebSockets: >0 (answered), 0, or -1 (close) */
extern int	mana_ws_confirm_upgrade(struct lws *wsi);
extern int	mana_ws_established(struct lws *wsi, mana_ws_conn *c);
extern int	mana_ws_receive(struct lws *wsi, mana_ws_conn *c, const void *in, size_t len);
extern int	mana_ws_writeable(struct lws *wsi, mana_ws_conn *c);
extern void mana_ws_timer(mana_ws_conn *c);
extern void mana_ws_closed(mana_ws_conn *c);

/* shutdown: close every WebSocket with 1001 going away, waiting at most ~1 s */
extern void mana_ws_close_all(void);

#endif
