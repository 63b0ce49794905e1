/*
 * ws.c
 *     The push worker's WebSocket connections: /ws or /ws/{appId}; the
 *     client sends {"type":"auth","token":...} within mana_sync.auth_timeout
 *     and gets {"type":"auth-ok"}, then sync-available messages when
 *     another client of its user changed something (the fan-out wakes it),
 *     and pong for ping.
 *
 * Each connection holds at most one message in assembly (MANA_WS_MAX_FRAME:
 * larger frames close with 1009) and writes one message per writable
 * callback.  Errors are sent as {"type":"error"} and, for refusals, end
 * with a close code (1008 policy, 1003 binary, 1011 out of memory).
 * Like every lws callback, nothing here raises an ERROR.
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/timestamp.h"

#include "auth.h"
#include "backend/shmem.h"
#include "core/wsproto.h"
#include "http.h"
#include "loop.h"
#include "ws.h"

int			mana_auth_timeout_ms = 10000;
int			mana_max_connections = 10000;

static mana_ws_conn *ws_list = NULL;	/* open WebSocket connections */
static int	nconns = 0;			/* WebSockets counted against max_connections */

void
mana_ws_define_settings(void)
{
	DefineCustomIntVariable("mana_sync.auth_timeout",
							"Time a new WebSocket has to send its auth message.",
							NULL, &mana_auth_timeout_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_connections",
							"Most client connections the push worker serves; more get HTTP 503.",
							NULL, &mana_max_connections, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void
ws_wake(mana_fanout_client *fc)
{
	mana_ws_conn *c = (mana_ws_conn *) fc;

	if (c->is_ws && c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

/*
 * Refuse a WebSocket upgrade with a real HTTP/1.1 answer.  At that point
 * lws would write an HTTP/1.0 status line, which WebSocket clients do not
 * accept, so the response is written as it is.
 */
static int
refuse_upgrade(struct lws *wsi, int status, const char *reason, const char *body)
{
	char		buf[LWS_PRE + 1024];
	int			n;

	n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
				 "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
				 "cache-control: no-store\r\nconnection: close\r\n\r\n%s",
				 status, reason, strlen(body), body);
	if (n <= 0 || n >= (int) (sizeof(buf) - LWS_PRE))
		return -1;
	if (lws_write(wsi, (unsigned char *) buf + LWS_PRE, (size_t) n, LWS_WRITE_HTTP_HEADERS) < n)
		return -1;
	return 1;
}

static void
conn_error(mana_ws_conn *c, const char *message, int close_code)
{
	free(c->error);
	c->error = strdup(message);
	c->close_code = close_code;
	lws_callback_on_writable(c->wsi);
}

static void
handle_message(mana_ws_conn *c, const char *data, size_t len)
{
	mana_ws_msg *msg = malloc(sizeof(mana_ws_msg));
	mana_jwt_claims claims;
	mana_jwt_status st;

	if (msg == NULL)
	{
		conn_error(c, "server out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	switch (mana_ws_parse(data, len, msg))
	{
		case MANA_WS_MSG_PING:
			if (c->need_pongs < 16)
				c->need_pongs++;
			lws_callback_on_writable(c->wsi);
			break;
		case MANA_WS_MSG_AUTH:
			if (c->authed)
			{
				conn_error(c, "already authenticated", 0);
				break;
			}
			st = mana_auth_verify(msg->token, &claims);
			if (st != MANA_JWT_OK)
			{
				mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
				conn_error(c, mana_jwt_strerror(st), LWS_CLOSE_STATUS_POLICY_VIOLATION);
				break;
			}
			if (msg->client_id[0] != '\0')
				strlcpy(c->client, msg->client_id, sizeof(c->client));
			c->hub = mana_fanout_join(claims.sub, c->app, c->client, &c->fan);
			if (c->hub == NULL)
			{
				conn_error(c, "server out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
				break;
			}
			c->authed = true;
			c->need_auth_ok = true;
			lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
			lws_callback_on_writable(c->wsi);
			break;
		default:
			if (!c->authed)
			{
				mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
				conn_error(c, msg->error ? msg->error : "invalid message", LWS_CLOSE_STATUS_POLICY_VIOLATION);
			}
			else
				conn_error(c, msg->error ? msg->error : "invalid message", 0);
			break;
	}
	free(msg);
}

/* one message per writable callback; ask again while more is waiting */
static int
conn_writable(mana_ws_conn *c)
{
	char		buf[LWS_PRE + 8192];
	char	   *p = buf + LWS_PRE;
	size_t		cap = sizeof(buf) - LWS_PRE;
	size_t		n = 0;

	if (c->error != NULL)
	{
		n = mana_ws_error(c->error, p, cap);
		free(c->error);
		c->error = NULL;
	}
	else if (c->close_code != 0)
	{
		lws_close_reason(c->wsi, (enum lws_close_status) c->close_code, NULL, 0);
		return -1;
	}
	else if (c->need_auth_ok)
	{
		n = mana_ws_auth_ok(p, cap);
		c->need_auth_ok = false;
	}
	else if (c->need_pongs > 0)
	{
		n = mana_ws_pong(p, cap);
		c->need_pongs--;
	}
	else if (c->hub != NULL && mana_fanout_pending(c->hub))
	{
		n = mana_fanout_take(c->hub, p, cap);
		if (n >= cap)
		{
			/* cannot happen with the name limits; do not loop on it */
			elog(LOG, "mana_sync: a sync-available message did not fit its buffer");
			return -1;
		}
	}
	if (n == 0 || n >= cap)
		return 0;
	if (lws_write(c->wsi, (unsigned char *) p, n, LWS_WRITE_TEXT) < (int) n)
		return -1;
	mana_stat_add(MANA_STAT_MESSAGES_SENT, 1);
	if (c->error || c->close_code || c->need_auth_ok || c->need_pongs > 0 ||
		(c->hub != NULL && mana_fanout_pending(c->hub)))
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void
conn_release(mana_ws_conn *c)
{
	if (c->hub != NULL)
	{
		mana_fanout_leave(c->hub);
		c->hub = NULL;
	}
	free(c->rx);
	c->rx = NULL;
	free(c->error);
	c->error = NULL;
	if (c->is_ws)
	{
		if (c->prev)
			c->prev->next = c->next;
		else if (ws_list == c)
			ws_list = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->is_ws = false;
	}
	c->wsi = NULL;
}

/* the route must be a WebSocket endpoint, and there must be room (>0: answered) */
int
mana_ws_confirm_upgrade(struct lws *wsi)
{
	char		uri[2100];
	char		app[MANA_WS_MAX_APP + 1];
	int			status;
	int			n;
	const mana_route *route;

	if (nconns >= mana_max_connections || mana_loop_stopping())
	{
		mana_stat_add(MANA_STAT_CONNECTIONS_REFUSED, 1);
		return refuse_upgrade(wsi, 503, "Service Unavailable",
							  "{\"error\":\"unavailable\",\"detail\":\"too many connections\"}\n");
	}
	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	route = n > 0 ? mana_http_route_find(uri, (size_t) n, app, &status) : NULL;
	if (route == NULL || !route->websocket)
		return refuse_upgrade(wsi, 404, "Not Found", "{\"error\":\"not found\"}\n");
	return 0;
}

int
mana_ws_established(struct lws *wsi, mana_ws_conn *c)
{
	char		uri[2100];
	char		app[MANA_WS_MAX_APP + 1];
	int			status;
	int			n;
	const mana_route *route;
	const char *v;

	memset(c, 0, sizeof(*c));
	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	route = n > 0 ? mana_http_route_find(uri, (size_t) n, app, &status) : NULL;
	if (route == NULL || !route->websocket)
		return -1;
	strlcpy(c->app, app, sizeof(c->app));
	/* clientId from the query (lws has decoded it); the value is inside uri */
	v = lws_get_urlarg_by_name(wsi, "clientId=", uri, sizeof(uri));
	if (v != NULL && v[0] != '\0' && strlen(v) <= MANA_WS_MAX_CLIENT)
		strlcpy(c->client, v, sizeof(c->client));
	c->fan.wake = ws_wake;
	c->wsi = wsi;
	c->is_ws = true;
	c->next = ws_list;
	if (ws_list)
		ws_list->prev = c;
	ws_list = c;
	c->counted = true;
	nconns++;
	mana_stat_add(MANA_STAT_CONNECTIONS, 1);
	/* the auth message must come within mana_sync.auth_timeout */
	lws_set_timer_usecs(wsi, (lws_usec_t) mana_auth_timeout_ms * 1000);
	return 0;
}

/* the auth timer */
void
mana_ws_timer(mana_ws_conn *c)
{
	if (!c->authed)
	{
		mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
		conn_error(c, "authentication timed out", LWS_CLOSE_STATUS_POLICY_VIOLATION);
	}
}

int
mana_ws_receive(struct lws *wsi, mana_ws_conn *c, const void *in, size_t len)
{
	char	   *nrx;

	if (c->close_code != 0)
		return 0;				/* closing: ignore what else arrives */
	if (lws_frame_is_binary(wsi))
	{
		mana_stat_add(MANA_STAT_FRAMES_REFUSED, 1);
		conn_error(c, "binary frames are not supported", LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
		return 0;
	}
	if (c->rxlen + len > MANA_WS_MAX_FRAME)
	{
		mana_stat_add(MANA_STAT_FRAMES_REFUSED, 1);
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (c->rxlen == 0 && lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
	{
		/* the usual case: the whole message in one piece, no copy */
		handle_message(c, in, len);
		return 0;
	}
	/* pieces of a larger or fragmented message: keep only while assembling */
	nrx = realloc(c->rx, c->rxlen + len);
	if (nrx == NULL)
		return -1;
	c->rx = nrx;
	memcpy(c->rx + c->rxlen, in, len);
	c->rxlen += len;
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
	{
		handle_message(c, c->rx, c->rxlen);
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
	}
	return 0;
}

int
mana_ws_writeable(struct lws *wsi, mana_ws_conn *c)
{
	if (mana_loop_stopping() && c->error == NULL && c->close_code == 0)
	{
		lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY,
						 (unsigned char *) "server shutting down", 20);
		return -1;
	}
	return conn_writable(c);
}

void
mana_ws_closed(mana_ws_conn *c)
{
	if (c->counted)
	{
		c->counted = false;
		nconns--;
		mana_stat_add(MANA_STAT_CONNECTIONS, -1);
	}
	conn_release(c);
}

void
mana_ws_close_all(void)
{
	mana_ws_conn *c;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);

	for (c = ws_list; c != NULL; c = c->next)
		lws_callback_on_writable(c->wsi);
	while (ws_list != NULL && GetCurrentTimestamp() < deadline)
		mana_loop_run_once();	/* the loop's tick bounds each wait */
}
