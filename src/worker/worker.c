/*
 * worker.c
 *     The push worker: a background worker that runs a libwebsockets server
 *     and fans sync hints out to WebSocket clients.
 *
 * One event loop: a libev loop (epoll) that lws runs its sockets on through
 * its libev event-lib plugin (this Debian build has no external poll
 * support; lws's own poll() loop costs O(connections) per wake-up, which
 * at 10,000 connections dominated the latency).  Everything that can wake
 * the worker arrives as an fd in that loop: client sockets, the libpq
 * sockets of the intake (intake.c, adopted as raw file descriptors), the
 * postmaster death pipe, and lws's own cancel eventfd, which the signal
 * handlers poke.  Between ev_run(EVRUN_ONCE) calls the loop handles signals
 * (config reload, shutdown), postmaster death and the intake's connection
 * state machines.
 *
 * Never ereport(ERROR) or touch a transaction inside an lws callback: there
 * is no error recovery there.  Callbacks change in-memory state only
 * (malloc'd, freed on close) and return -1 to drop a connection.  The worker
 * has no database connection of its own; it reaches the databases through
 * libpq (intake.c).
 */
#include "postgres.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "core/hub.h"
#include "core/jwt.h"
#include "listen.h"
#include "backend/mana_sync.h"
#include "core/notify_payload.h"
#include "core/wsproto.h"
#include "worker.h"

/* settings */
char	   *mana_listen_address = NULL;
int			mana_port = 3010;
int			mana_auth_timeout_ms = 10000;
char	   *mana_jwks_file = NULL;
char	   *mana_jwt_secret = NULL;
char	   *mana_jwt_issuer = NULL;
char	   *mana_jwt_audience = NULL;
int			mana_max_connections = 10000;
char	   *mana_worker_user = NULL;

#define MANA_MAX_FRAME 16384	/* larger client frames close with 1009 */
#define MANA_JWT_LEEWAY 30		/* seconds of clock skew allowed on exp/nbf */

static volatile sig_atomic_t got_sigterm = false;
static volatile sig_atomic_t got_sighup = false;
static bool got_pm_death = false;
static char pm_death_marker;	/* opaque of the adopted postmaster death pipe */
static char ring_marker;		/* opaque of the adopted commit_hook eventfd */

static struct lws_context *ctx = NULL;
static struct ev_loop *evloop = NULL;	/* libev (epoll), owned by us, driven by lws */
static struct lws_vhost *vhost = NULL;
static mana_hub *hub = NULL;
static mana_jwks *jwks = NULL;
static lws_sorted_usec_list_t tick_sul;
static unsigned int churn;		/* connections ended since the last trim */
bool		mana_worker_trim_wanted;	/* a big buffer was freed */
static int	trim_ticks;
static int	nconns = 0;			/* open client connections (HTTP and WS) */
static bool shutting_down = false;

/* one per client connection (lws per-session data, zeroed by lws) */
typedef struct ws_conn
{
	struct lws *wsi;
	struct ws_conn *prev;
	struct ws_conn *next;
	bool		counted;
	bool		is_ws;
	bool		authed;
	bool		need_auth_ok;
	int			need_pongs;
	int			close_code;		/* nonzero: close with it once the error is sent */
	char	   *error;			/* malloc'd error message to send */
	mana_hub_conn *hub;
	char		app[MANA_WS_MAX_APP + 1];
	char		client[MANA_WS_MAX_CLIENT + 1];
	char	   *rx;				/* frame being assembled */
	size_t		rxlen;
	void	   *http;			/* the current HTTP request (http.c) */
} ws_conn;

static ws_conn *ws_list = NULL;	/* open WebSocket connections */

/* ---------------------------------------------------------------- stats */

void
mana_stat_add(mana_stat s, int64 n)
{
	if (mana_shared == NULL)
		return;
	if (n >= 0)
		pg_atomic_fetch_add_u64(&mana_shared->counters[s], (uint64) n);
	else
		pg_atomic_fetch_sub_u64(&mana_shared->counters[s], (uint64) -n);
}

void
mana_stat_set(mana_stat s, uint64 v)
{
	if (mana_shared != NULL)
		pg_atomic_write_u64(&mana_shared->counters[s], v);
}

static uint64
stat_get(mana_stat s)
{
	return mana_shared ? pg_atomic_read_u64(&mana_shared->counters[s]) : 0;
}

static void
sync_hub_stats(void)
{
	mana_hub_stats st;
	static uint64 last_coalesced = 0;
	static uint64 last_dropped = 0;

	mana_hub_get_stats(hub, &st);
	mana_stat_set(MANA_STAT_USERS, st.users);
	mana_stat_add(MANA_STAT_HINTS_COALESCED, (int64) (st.hints_coalesced - last_coalesced));
	mana_stat_add(MANA_STAT_HINTS_DROPPED, (int64) (st.hints_dropped - last_dropped));
	last_coalesced = st.hints_coalesced;
	last_dropped = st.hints_dropped;
}

/* ---------------------------------------------------------------- signals */

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	if (ctx)
		lws_cancel_service(ctx);
	errno = save_errno;
}

static void
worker_sighup(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sighup = true;
	if (ctx)
		lws_cancel_service(ctx);
	errno = save_errno;
}

/* ---------------------------------------------------------------- keys */

/*
 * (Re)load the JWKS file.  A file that cannot be read or parsed keeps the
 * keys loaded before and says so in the log: a typo in a reload must not
 * lock every client out.
 */
static void
load_keys(void)
{
	FILE	   *f;
	char	   *buf;
	long		n;
	char		err[256];
	mana_jwks  *k;

	if (mana_jwks_file == NULL || mana_jwks_file[0] == '\0')
	{
		mana_jwks_free(jwks);
		jwks = NULL;
		return;
	}
	f = fopen(mana_jwks_file, "rb");
	if (f == NULL)
	{
		elog(LOG, "mana_sync: could not open mana_sync.jwks_file \"%s\": %m; keeping the previous keys",
			 mana_jwks_file);
		return;
	}
	buf = malloc(1024 * 1024 + 1);
	n = buf ? (long) fread(buf, 1, 1024 * 1024 + 1, f) : -1;
	fclose(f);
	if (n < 0 || n > 1024 * 1024)
	{
		free(buf);
		elog(LOG, "mana_sync: mana_sync.jwks_file \"%s\" is larger than 1 MB; keeping the previous keys",
			 mana_jwks_file);
		return;
	}
	k = mana_jwks_parse(buf, (size_t) n, err, sizeof(err));
	free(buf);
	if (k == NULL)
	{
		elog(LOG, "mana_sync: mana_sync.jwks_file \"%s\" is not a valid JWKS (%s); keeping the previous keys",
			 mana_jwks_file, err);
		return;
	}
	mana_jwks_free(jwks);
	jwks = k;
	elog(LOG, "mana_sync: loaded %d key(s) from \"%s\"", mana_jwks_count(jwks), mana_jwks_file);
}

mana_jwt_status
mana_worker_verify(const char *token, mana_jwt_claims *claims)
{
	mana_jwt_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.jwks = jwks;
	if (mana_jwt_secret != NULL && mana_jwt_secret[0] != '\0')
	{
		cfg.hs256_secret = (const unsigned char *) mana_jwt_secret;
		cfg.hs256_secret_len = strlen(mana_jwt_secret);
	}
	cfg.issuer = (mana_jwt_issuer && mana_jwt_issuer[0]) ? mana_jwt_issuer : NULL;
	cfg.audience = (mana_jwt_audience && mana_jwt_audience[0]) ? mana_jwt_audience : NULL;
	cfg.now = (int64_t) time(NULL);
	cfg.leeway = MANA_JWT_LEEWAY;
	return mana_jwt_verify(token, strlen(token), &cfg, claims);
}

/* ---------------------------------------------------------------- hub */

static void
hub_wake(void *conn_data, void *hub_data)
{
	ws_conn    *c = conn_data;

	(void) hub_data;
	if (c == NULL)
		return;
	if (c->is_ws && c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
	else if (c->http != NULL)
		mana_http_stream_hint(c->http);	/* an event stream: pull again */
}

struct mana_hub_conn *
mana_worker_join(const char *user, const char *app, const char *client, void *conn_data)
{
	struct mana_hub_conn *h = mana_hub_join(hub, user, app, client, conn_data);

	sync_hub_stats();
	return h;
}

void
mana_worker_leave(struct mana_hub_conn *conn)
{
	mana_hub_leave(hub, conn);
	sync_hub_stats();
}

/* the event stream pulls everything anyway: forget the pending hints */
void
mana_worker_drain(struct mana_hub_conn *conn)
{
	char		buf[8192];

	while (mana_hub_pending(conn) && mana_hub_take(hub, conn, buf, sizeof(buf)) < sizeof(buf))
		;
}

void
mana_worker_change(const char *app, const char *table, const char *owner, const char *client)
{
	mana_hub_change(hub, app, table, owner, client);
}

/*
 * A hint in the NOTIFY payload format (from a notification or the
 * commit_hook ring) to the fan-out; false if it is malformed or, with
 * only_db, names another database.
 */
bool
mana_worker_hint(const char *payload, size_t len, const char *only_db)
{
	mana_notify_msg m;
	char	   *scratch = malloc(len + 1);
	bool		ok = scratch != NULL && mana_notify_decode(payload, len, &m, scratch) == 0 &&
		(only_db == NULL || strcmp(m.db, only_db) == 0);

	if (ok)
		mana_worker_change(m.app, m.table, m.owner, m.client);
	free(scratch);
	return ok;
}

void
mana_worker_broadcast(const char *app, const char *const *tables, int ntables)
{
	mana_hub_broadcast(hub, app, tables, ntables);
}

/*
 * Watch a libpq socket in the loop: lws adopts a dup of it (lws closes what
 * it adopts; libpq keeps its own), as a raw file of the given protocol.
 */
struct lws *
mana_worker_adopt(int sock, const char *protocol, void *opaque)
{
	lws_adopt_desc_t info;
	int			fd = dup(sock);

	if (fd < 0)
		return NULL;
	memset(&info, 0, sizeof(info));
	info.vh = vhost;
	info.type = LWS_ADOPT_RAW_FILE_DESC;
	info.fd.filefd = fd;
	info.vh_prot_name = protocol;
	info.opaque = opaque;
	return lws_adopt_descriptor_vhost_via_info(&info);	/* on failure lws closed fd */
}

struct lws_context *
mana_worker_context(void)
{
	return ctx;
}

struct lws_vhost *
mana_worker_vhost(void)
{
	return vhost;
}

/* ---------------------------------------------------------------- HTTP */

static int
http_send(struct lws *wsi, unsigned int status, const char *ctype, const char *body)
{
	unsigned char buf[LWS_PRE + 8192];
	unsigned char *start = buf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t		len = strlen(body);
	char	   *out;
	int			r;

	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t) len, &p, end))
		return -1;
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
									 (const unsigned char *) "no-store", 8, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	out = malloc(LWS_PRE + len + 1);
	if (out == NULL)
		return -1;
	memcpy(out + LWS_PRE, body, len);
	r = lws_write(wsi, (unsigned char *) out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(out);
	return r < (int) len ? -1 : 0;
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

static int
http_reply(struct lws *wsi, unsigned int status, const char *ctype, const char *body)
{
	if (http_send(wsi, status, ctype, body) < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
serve_health(struct lws *wsi)
{
	char		body[512];

	snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"connections\":%llu,\"authenticatedUsers\":%llu,\"databasesListened\":%llu}\n",
			 shutting_down ? "stopping" : "ok",
			 (unsigned long long) stat_get(MANA_STAT_CONNECTIONS),
			 (unsigned long long) stat_get(MANA_STAT_USERS),
			 (unsigned long long) stat_get(MANA_STAT_DATABASES));
	return http_reply(wsi, HTTP_STATUS_OK, "application/json", body);
}

static int
serve_metrics(struct lws *wsi)
{
	static const struct
	{
		mana_stat	stat;
		const char *name;
		const char *type;
		const char *help;
	}			m[] = {
		{MANA_STAT_CONNECTIONS, "mana_sync_connections", "gauge", "Open client connections."},
		{MANA_STAT_USERS, "mana_sync_authenticated_users", "gauge", "Distinct users with an authenticated WebSocket."},
		{MANA_STAT_DATABASES, "mana_sync_databases_listened", "gauge", "Databases whose changes the worker listens to."},
		{MANA_STAT_AUTH_FAILURES, "mana_sync_auth_failures_total", "counter", "Refused WebSocket authentications."},
		{MANA_STAT_NOTIFICATIONS, "mana_sync_notifications_received_total", "counter", "Change notifications received."},
		{MANA_STAT_MESSAGES_SENT, "mana_sync_messages_sent_total", "counter", "WebSocket messages sent."},
		{MANA_STAT_HINTS_COALESCED, "mana_sync_hints_coalesced_total", "counter", "Hints folded into one already pending."},
		{MANA_STAT_HINTS_DROPPED, "mana_sync_hints_dropped_total", "counter", "Hints dropped at a connection's pending limit."},
		{MANA_STAT_LISTENER_RECONNECTS, "mana_sync_listener_reconnects_total", "counter", "Change intake connections re-established."},
		{MANA_STAT_CONNECTIONS_REFUSED, "mana_sync_connections_refused_total", "counter", "Connections refused over mana_sync.max_connections."},
		{MANA_STAT_FRAMES_REFUSED, "mana_sync_frames_refused_total", "counter", "Connections closed for oversized or binary frames."},
		{MANA_STAT_RING_HINTS, "mana_sync_ring_hints_total", "counter", "Change hints taken from shared memory (notify_mode commit_hook)."},
		{MANA_STAT_RING_OVERFLOWS, "mana_sync_ring_overflows_total", "counter", "Commits whose hints did not fit the ring (their apps were told to pull)."},
		{MANA_STAT_RING_WAKEUPS, "mana_sync_ring_wakeups_total", "counter", "Commits that woke the worker (the others found it awake or polling)."},
	};
	char		body[8192];
	size_t		off = 0;
	size_t		i;

	for (i = 0; i < lengthof(m) && off < sizeof(body); i++)
		off += snprintf(body + off, sizeof(body) - off, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
						m[i].name, m[i].help, m[i].name, m[i].type, m[i].name,
						(unsigned long long) stat_get(m[i].stat));
	return http_reply(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", body);
}

/* ---------------------------------------------------------------- WebSocket */

static void
conn_error(ws_conn *c, const char *message, int close_code)
{
	free(c->error);
	c->error = strdup(message);
	c->close_code = close_code;
	lws_callback_on_writable(c->wsi);
}

static void
handle_message(ws_conn *c, const char *data, size_t len)
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
			st = mana_worker_verify(msg->token, &claims);
			if (st != MANA_JWT_OK)
			{
				mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
				conn_error(c, mana_jwt_strerror(st), LWS_CLOSE_STATUS_POLICY_VIOLATION);
				break;
			}
			if (msg->client_id[0] != '\0')
				strlcpy(c->client, msg->client_id, sizeof(c->client));
			c->hub = mana_hub_join(hub, claims.sub, c->app, c->client, c);
			if (c->hub == NULL)
			{
				conn_error(c, "server out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
				break;
			}
			c->authed = true;
			c->need_auth_ok = true;
			lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
			lws_callback_on_writable(c->wsi);
			sync_hub_stats();
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
conn_writable(ws_conn *c)
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
	else if (c->hub != NULL && mana_hub_pending(c->hub))
	{
		n = mana_hub_take(hub, c->hub, p, cap);
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
		(c->hub != NULL && mana_hub_pending(c->hub)))
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void
conn_release(ws_conn *c)
{
	if (c->hub != NULL)
	{
		mana_hub_leave(hub, c->hub);
		c->hub = NULL;
		sync_hub_stats();
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

static int
callback_mana(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	ws_conn    *c = (ws_conn *) user;
	char		uri[2100];
	mana_path	path;
	int			n;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			/* in: the path, for every method */
			n = in ? (int) strlen((const char *) in) : 0;
			if (n <= 0 || n >= (int) sizeof(uri))
				return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
								  "{\"error\":\"bad request\"}\n");
			memcpy(uri, in, n + 1);
			switch (mana_path_parse(uri, (size_t) n, &path))
			{
				case MANA_PATH_HEALTH:
					return serve_health(wsi);
				case MANA_PATH_METRICS:
					return serve_metrics(wsi);
				case MANA_PATH_WS:
					return http_reply(wsi, 426, "application/json",
									  "{\"error\":\"upgrade required\",\"detail\":\"connect with a WebSocket\"}\n");
				case MANA_PATH_SYNC_PUSH:
				case MANA_PATH_SYNC_PULL:
				case MANA_PATH_SYNC_STREAM:
					return c ? mana_http_request(wsi, &c->http, &path, c) : -1;
				case MANA_PATH_INVALID:
					return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
									  "{\"error\":\"bad request\",\"detail\":\"malformed path\"}\n");
				default:
					return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "application/json",
									  "{\"error\":\"not found\"}\n");
			}

		case LWS_CALLBACK_HTTP_BODY:
			return c ? mana_http_body(wsi, &c->http, in, len) : -1;

		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			return c ? mana_http_body_done(wsi, &c->http) : -1;

		case LWS_CALLBACK_HTTP_WRITEABLE:
			return c ? mana_http_writeable(wsi, &c->http) : 0;

		case LWS_CALLBACK_CLOSED_HTTP:
			churn++;
			/* FALLTHROUGH */
		case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
			/* the per-session data may go away after either: drop what points at it */
			if (c != NULL)
				mana_http_closed(&c->http);
			break;

		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			/* only our public protocol: "mana-sync-intake" is internal */
			if (strcmp(lws_get_protocol(wsi)->name, "mana-sync") != 0)
				return -1;
			break;

		case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
			/* a WebSocket upgrade: check the limit and the route (>0: we answered) */
			if (nconns >= mana_max_connections || shutting_down)
			{
				mana_stat_add(MANA_STAT_CONNECTIONS_REFUSED, 1);
				return refuse_upgrade(wsi, 503, "Service Unavailable",
									  "{\"error\":\"unavailable\",\"detail\":\"too many connections\"}\n");
			}
			n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
			if (n <= 0 || mana_path_parse(uri, (size_t) n, &path) != MANA_PATH_WS)
				return refuse_upgrade(wsi, 404, "Not Found", "{\"error\":\"not found\"}\n");
			break;

		case LWS_CALLBACK_ESTABLISHED:
			if (c == NULL)
				return -1;
			memset(c, 0, sizeof(*c));
			n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
			if (n <= 0 || mana_path_parse(uri, (size_t) n, &path) != MANA_PATH_WS)
				return -1;
			strlcpy(c->app, path.app_id, sizeof(c->app));
			/* clientId from the query (lws has decoded it) */
			{
				/* the returned pointer is the value inside uri ("clientId=...") */
				const char *v = lws_get_urlarg_by_name(wsi, "clientId=", uri, sizeof(uri));

				if (v != NULL && v[0] != '\0' && strlen(v) <= MANA_WS_MAX_CLIENT)
					strlcpy(c->client, v, sizeof(c->client));
			}
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
			break;

		case LWS_CALLBACK_TIMER:
			if (c != NULL && c->is_ws && !c->authed)
			{
				mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
				conn_error(c, "authentication timed out", LWS_CLOSE_STATUS_POLICY_VIOLATION);
			}
			else if (c != NULL && !c->is_ws)
				mana_http_timeout(wsi, &c->http);
			break;

		case LWS_CALLBACK_RECEIVE:
			if (c->close_code != 0)
				break;			/* closing: ignore what else arrives */
			if (lws_frame_is_binary(wsi))
			{
				mana_stat_add(MANA_STAT_FRAMES_REFUSED, 1);
				conn_error(c, "binary frames are not supported", LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
				break;
			}
			if (c->rxlen + len > MANA_MAX_FRAME)
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
				break;
			}
			{
				/* pieces of a larger or fragmented message: keep only while assembling */
				char	   *nrx = realloc(c->rx, c->rxlen + len);

				if (nrx == NULL)
					return -1;
				c->rx = nrx;
			}
			memcpy(c->rx + c->rxlen, in, len);
			c->rxlen += len;
			if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
			{
				handle_message(c, c->rx, c->rxlen);
				free(c->rx);
				c->rx = NULL;
				c->rxlen = 0;
			}
			break;

		case LWS_CALLBACK_SERVER_WRITEABLE:
			if (c == NULL || !c->is_ws)
				break;
			if (shutting_down && c->error == NULL && c->close_code == 0)
			{
				lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY,
								 (unsigned char *) "server shutting down", 20);
				return -1;
			}
			return conn_writable(c);

		case LWS_CALLBACK_CLOSED:
			churn++;
			if (c != NULL && c->is_ws)
			{
				if (c->counted)
				{
					c->counted = false;
					nconns--;
					mana_stat_add(MANA_STAT_CONNECTIONS, -1);
				}
				conn_release(c);
			}
			break;

		case LWS_CALLBACK_RAW_RX_FILE:
		case LWS_CALLBACK_RAW_CLOSE_FILE:
		case LWS_CALLBACK_RAW_ADOPT_FILE:
			if (lws_get_opaque_user_data(wsi) == &ring_marker)
			{
				/* hints in the ring: reset the eventfd; the loop drains */
				if (reason == LWS_CALLBACK_RAW_RX_FILE)
					mana_hintring_ack();
				return 0;
			}
			if (lws_get_opaque_user_data(wsi) == &pm_death_marker)
			{
				/* the postmaster is gone: readable means EOF */
				if (reason != LWS_CALLBACK_RAW_ADOPT_FILE)
				{
					got_pm_death = true;
					return -1;
				}
				return 0;
			}
			return mana_intake_callback(wsi, reason, in, len);

		default:
			break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	/*
	 * rx_buffer_size is allocated per connection by lws: keep it small (a
	 * token arrives in a few pieces) so idle connections stay cheap.
	 */
	{"mana-sync", callback_mana, sizeof(ws_conn), 1024, 0, NULL, 0},
	{"mana-sync-intake", callback_mana, 0, 0, 0, NULL, 0},
	{"mana-sync-pool", mana_pool_callback, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* ---------------------------------------------------------------- loop */

/* a hint from the commit_hook ring: the same fan-out as a notification */
static void
ring_deliver(const char *payload, size_t len)
{
	mana_stat_add(MANA_STAT_RING_HINTS, 1);
	(void) mana_worker_hint(payload, len, NULL);
}

/*
 * Hint coalescing (commit_hook mode).  An idle worker sleeps and the next
 * commit wakes it by writing the eventfd.  Waking a sleeping process is
 * dear (on this project's 2-core VMs an eventfd write that wakes the worker
 * took about a tenth of a single-row UPDATE's time in the backend, and the
 * worker's wake-up as much again), so a busy worker, one that took at
 * least HINT_BUSY_RATE hints a second over the last ~100 ms, does not
 * sleep: it drains the ring every HINT_COALESCE_SEC, and commits skip the
 * eventfd.  A hint then waits at most that long; below the rate there is
 * no wait at all (a commit wakes the worker at once).
 */
#define HINT_COALESCE_SEC 0.001
#define HINT_BUSY_RATE 1000.0
#define HINT_RATE_PERIOD 0.1

static ev_timer coalesce_timer;
static bool hints_busy = false;
static uint64 hints_in_period = 0;
static ev_tstamp hint_period_start = 0;

static void
coalesce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* nothing: ev_run returns and the main loop drains the ring */
}

static void
drain_ring(void)
{
	bool		may_sleep = !hints_busy;
	uint64		taken = mana_hintring_drain(ring_deliver, mana_intake_broadcast_db, may_sleep);
	ev_tstamp	now = ev_now(evloop);

	hints_in_period += taken;
	if (now - hint_period_start >= HINT_RATE_PERIOD)
	{
		hints_busy = hints_in_period >= HINT_BUSY_RATE * (now - hint_period_start);
		hints_in_period = 0;
		hint_period_start = now;
	}
	/* not marked asleep: come back soon, no commit will wake us */
	if (!may_sleep && !ev_is_active(&coalesce_timer))
	{
		ev_timer_set(&coalesce_timer, HINT_COALESCE_SEC, 0.);
		ev_timer_start(evloop, &coalesce_timer);
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	/*
	 * After many connections have come and gone (a burst, a reconnect
	 * storm), hand the freed heap back: glibc keeps freed small blocks
	 * (header tables, wsi structs) otherwise, and the worker's RSS would
	 * stay at its peak.  At most every 5 s, only after churn or a big
	 * request (pool.c).
	 */
	if (++trim_ticks >= 25)
	{
		trim_ticks = 0;
		if (churn >= 64 || mana_worker_trim_wanted)
			(void) malloc_trim(0);
		churn = 0;
		mana_worker_trim_wanted = false;
	}
	/* a safety net: the loop comes round at least this often */
	lws_sul_schedule(ctx, 0, sul, tick, 200 * LWS_US_PER_MS);
}

static void
lws_log_to_pg(int level, const char *line)
{
	/* lws lines end with a newline */
	elog(LOG, "mana_sync (lws): %.*s", (int) strcspn(line, "\n"), line);
}

static void
worker_cleanup(int code, Datum arg)
{
	mana_pool_shutdown();
	mana_intake_shutdown();
	if (mana_shared != NULL)
		pg_atomic_write_u32(&mana_shared->worker_pid, 0);
	/* gauges describe this process; counters survive restarts */
	mana_stat_set(MANA_STAT_CONNECTIONS, 0);
	mana_stat_set(MANA_STAT_USERS, 0);
	mana_stat_set(MANA_STAT_DATABASES, 0);
	if (ctx != NULL)
	{
		lws_context_destroy(ctx);
		ctx = NULL;
	}
	if (evloop != NULL)
	{
		ev_loop_destroy(evloop);
		evloop = NULL;
	}
	mana_hub_destroy(hub);
	hub = NULL;
	mana_jwks_free(jwks);
	jwks = NULL;
}

/*
 * A connection accepted by listen.c becomes an lws HTTP connection (which
 * may upgrade to a WebSocket).  When lws cannot take it (its descriptor
 * table is full) it closes the socket itself.
 */
static void
accept_client(int fd)
{
	if (lws_adopt_socket_vhost(vhost, fd) == NULL)
		mana_stat_add(MANA_STAT_CONNECTIONS_REFUSED, 1);
}

/* close every WebSocket with 1001 going away, waiting at most ~1 s */
static void
close_all(void)
{
	ws_conn    *c;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);

	shutting_down = true;
	mana_listen_close();
	for (c = ws_list; c != NULL; c = c->next)
		lws_callback_on_writable(c->wsi);
	while (ws_list != NULL && GetCurrentTimestamp() < deadline)
		ev_run(evloop, EVRUN_ONCE);		/* the tick timer bounds each wait */
}

void
mana_sync_worker_main(Datum main_arg)
{
	struct lws_context_creation_info info;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, worker_sighup);
	pqsignal(SIGPIPE, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	/*
	 * Client sockets are not PostgreSQL files (max_files_per_process does
	 * not count them); allow as many as the hard limit does.
	 */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/*
	 * Big buffers (request bodies, query results) from mmap, always: glibc
	 * would otherwise raise its threshold after the first one is freed and
	 * keep the next ones in the heap, and the worker's RSS would stay at
	 * the size of the biggest request it ever served.
	 */
	(void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);

	hub = mana_hub_create(hub_wake, NULL);
	if (hub == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("mana_sync: out of memory")));
	load_keys();

	lws_set_log_level(LLL_ERR, lws_log_to_pg);
	evloop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
	if (evloop == NULL)
		evloop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (evloop == NULL)
		ereport(ERROR, (errmsg("mana_sync: could not create an event loop")));

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = (void **) &evloop;
	/* listen.c owns the listening sockets: lws only serves what it accepts */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.timeout_secs = 10;		/* slow or silent HTTP clients */
	/*
	 * Room for the request line and headers: a token of MANA_JWT_MAX_TOKEN
	 * bytes plus what browsers send.  A request over it is dropped by lws
	 * unanswered (lws 4.1 has no hook to send 431).  The space is taken
	 * only while a request's headers are read.
	 */
	info.max_http_header_data = 16384;
	info.fd_limit_per_thread = (unsigned int) mana_max_connections + 256;
	info.ka_time = 0;
	before_shmem_exit(worker_cleanup, (Datum) 0);
	ctx = lws_create_context(&info);
	if (ctx == NULL)
		ereport(ERROR, (errmsg("mana_sync: could not start the WebSocket server")));
	vhost = lws_get_vhost_by_name(ctx, "default");
	if (mana_listen_open(evloop, mana_listen_address, mana_port, accept_client) == 0)
		ereport(ERROR,
				(errmsg("mana_sync: could not listen on any address of mana_sync.listen_address \"%s\", port %d",
						mana_listen_address ? mana_listen_address : "", mana_port),
				 errhint("Is another process using the port (mana_sync.port)? The lines above say why each address failed.")));
	if (mana_shared != NULL)
		pg_atomic_write_u32(&mana_shared->worker_pid, (uint32) MyProcPid);

	/* wake at once when the postmaster dies */
	{
		lws_adopt_desc_t ad;

		memset(&ad, 0, sizeof(ad));
		ad.vh = vhost;
		ad.type = LWS_ADOPT_RAW_FILE_DESC;
		ad.fd.filefd = dup(postmaster_alive_fds[POSTMASTER_FD_WATCH]);
		ad.vh_prot_name = "mana-sync-intake";
		ad.opaque = &pm_death_marker;
		if (ad.fd.filefd >= 0 && lws_adopt_descriptor_vhost_via_info(&ad) == NULL)
			elog(LOG, "mana_sync: could not watch the postmaster death pipe; polling instead");
	}

	/* commit_hook mode: backends write the eventfd after filling the ring */
	if (mana_hintring_fd() >= 0 &&
		mana_worker_adopt(mana_hintring_fd(), "mana-sync-intake", &ring_marker) == NULL)
		elog(LOG, "mana_sync: could not watch the hint ring; polling it instead");

	mana_intake_start();
	ev_timer_init(&coalesce_timer, coalesce_cb, HINT_COALESCE_SEC, 0.);
	hint_period_start = ev_now(evloop);
	memset(&tick_sul, 0, sizeof(tick_sul));
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 200 * LWS_US_PER_MS);

	while (!got_sigterm)
	{
		ev_run(evloop, EVRUN_ONCE);

		if (got_pm_death || !PostmasterIsAlive())
			proc_exit(1);
		/* barriers (DROP DATABASE waits for them) and the like */
		CHECK_FOR_INTERRUPTS();
		if (got_sighup)
		{
			got_sighup = false;
			ProcessConfigFile(PGC_SIGHUP);
			load_keys();
			mana_pool_reload();
		}
		drain_ring();
		mana_intake_poll();
		mana_pool_poll();
		sync_hub_stats();
	}

	close_all();
	/* exit 1: restarted after pg_terminate_backend; at shutdown nothing restarts */
	proc_exit(1);
}

/* ---------------------------------------------------------------- setup */

void
mana_worker_define_settings(void)
{
	DefineCustomStringVariable("mana_sync.listen_address",
							   "Address the push worker listens on.",
							   "Empty: every address.",
							   &mana_listen_address, "127.0.0.1",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.port",
							"Port of the push worker's WebSocket and HTTP server.",
							NULL, &mana_port, 3010, 1, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.auth_timeout",
							"Time a new WebSocket has to send its auth message.",
							NULL, &mana_auth_timeout_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwks_file",
							   "JSON Web Key Set file with the keys that sign client tokens (EdDSA, ES256, RS256).",
							   "Re-read on reload (SIGHUP).",
							   &mana_jwks_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_secret",
							   "Shared secret for HS256 client tokens (development only).",
							   NULL, &mana_jwt_secret, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_issuer",
							   "Required \"iss\" of client tokens; empty: not checked.",
							   NULL, &mana_jwt_issuer, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_audience",
							   "Required \"aud\" of client tokens; empty: not checked.",
							   NULL, &mana_jwt_audience, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_connections",
							"Most client connections the push worker serves; more get HTTP 503.",
							NULL, &mana_max_connections, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.http_pool_size",
							"Database connections per database for the HTTP sync endpoints.",
							NULL, &mana_http_pool_size, 4, 1, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.statement_timeout",
							"Longest an HTTP sync request may run in the database; longer ones are cancelled and answered 504.",
							NULL, &mana_statement_timeout_ms, 30000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.request_timeout",
							"Time an HTTP request body has to arrive; slower ones get 408 and are closed.",
							NULL, &mana_request_timeout_ms, 30000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_body",
							"Largest HTTP request body; larger ones get 413.",
							NULL, &mana_max_body, 10 * 1024 * 1024, 1024, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.cors_origins",
							   "Origins allowed to call the HTTP sync endpoints from a browser (comma-separated, or *).",
							   NULL, &mana_cors_origins, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.worker_user",
							   "Database role the push worker connects as; empty: the operating system user running PostgreSQL.",
							   NULL, &mana_worker_user, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

void
mana_worker_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	/*
	 * A "database connection" to no database (as the logical replication
	 * launcher has): it gives the worker a place in the proc array, so
	 * pg_stat_activity shows it and pg_terminate_backend reaches it.
	 */
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "mana_sync");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "mana_sync_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "mana_sync push worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "mana_sync push worker");
	RegisterBackgroundWorker(&bgw);
}
