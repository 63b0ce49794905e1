/*
 * loop.c
 *     The push worker's event loop.
 *
 * One libev loop (epoll), owned here, that lws runs its sockets on through
 * its libev event-lib plugin: this Debian build of lws has no external poll
 * support, and lws's own poll() loop costs O(connections) per wake-up,
 * which at 10,000 connections dominated the latency.  Everything that can
 * wake the worker arrives as a descriptor in that loop: client sockets
 * (accepted by listen.c, served by lws), the libpq sockets of the intake
 * and the pool, the commit_hook eventfd and the postmaster death pipe (all
 * watched through mana_loop_watch), and lws's own cancel eventfd, which
 * signal handlers poke (mana_loop_wake).
 *
 * A watched descriptor is adopted into lws as a raw file of the protocol
 * "mana-sync-fd"; its opaque user data is the caller's mana_watch, whose
 * ops say what to do.  Callbacks never raise an ERROR (there is no error
 * recovery inside lws) and never touch a transaction.
 */
#include "postgres.h"

#include <malloc.h>
#include <unistd.h>

#include <ev.h>

#include "utils/timestamp.h"

#include "loop.h"

#define LOOP_TICK_MS 200		/* the loop comes round at least this often */
#define LOOP_TRIM_TICKS 25		/* heap handed back at most every 5 s */
#define LOOP_TRIM_CHURN 64		/* ...after this many connections ended */

static struct lws_context *ctx = NULL;
static struct ev_loop *evloop = NULL;
static struct lws_vhost *vhost = NULL;
static lws_sorted_usec_list_t tick_sul;
static unsigned int churn;
static bool big_freed;
static int	trim_ticks;
static bool stopping = false;

/* ---------------------------------------------------------------- watches */

static int
watch_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	mana_watch *w;
	mana_watch_event ev;

	switch (reason)
	{
		case LWS_CALLBACK_RAW_RX_FILE:
			ev = MANA_WATCH_READABLE;
			break;
		case LWS_CALLBACK_RAW_WRITEABLE_FILE:
			ev = MANA_WATCH_WRITABLE;
			break;
		case LWS_CALLBACK_RAW_CLOSE_FILE:
			ev = MANA_WATCH_CLOSED;
			break;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		case LWS_CALLBACK_ESTABLISHED:
		case LWS_CALLBACK_HTTP:
		case LWS_CALLBACK_RECEIVE:
			return -1;			/* a client naming this internal protocol */
		default:
			return 0;
	}
	w = lws_get_opaque_user_data(wsi);
	if (w == NULL)				/* unwatched: lws is closing it */
		return ev == MANA_WATCH_CLOSED ? 0 : -1;
	if (ev == MANA_WATCH_CLOSED)
	{
		lws_set_opaque_user_data(wsi, NULL);
		(void) w->ops->event(w, wsi, ev);
		return 0;
	}
	if (w->ops->event(w, wsi, ev) < 0)
	{
		elog(DEBUG1, "mana_sync: no longer watching a %s", w->ops->name);
		lws_set_opaque_user_data(wsi, NULL);
		return -1;
	}
	return 0;
}

static const struct lws_protocols watch_protocol =
{"mana-sync-fd", watch_callback, 0, 0, 0, NULL, 0};

const struct lws_protocols *
mana_loop_protocol(void)
{
	return &watch_protocol;
}

struct lws *
mana_loop_watch(int fd, mana_watch *w)
{
	lws_adopt_desc_t info;
	int			dupfd = dup(fd);

	if (dupfd < 0)
		return NULL;
	memset(&info, 0, sizeof(info));
	info.vh = vhost;
	info.type = LWS_ADOPT_RAW_FILE_DESC;
	info.fd.filefd = dupfd;
	info.vh_prot_name = watch_protocol.name;
	info.opaque = w;
	return lws_adopt_descriptor_vhost_via_info(&info);	/* on failure lws closed dupfd */
}

void
mana_loop_unwatch(struct lws **wsip)
{
	if (*wsip == NULL)
		return;
	lws_set_opaque_user_data(*wsip, NULL);
	lws_set_timeout(*wsip, PENDING_TIMEOUT_AWAITING_PROXY_RESPONSE, LWS_TO_KILL_ASYNC);
	*wsip = NULL;
}

/* ---------------------------------------------------------------- the loop */

static void
tick(lws_sorted_usec_list_t *sul)
{
	/*
	 * After many connections have come and gone (a burst, a reconnect
	 * storm), hand the freed heap back: glibc keeps freed small blocks
	 * (header tables, wsi structs) otherwise, and the worker's RSS would
	 * stay at its peak.
	 */
	if (++trim_ticks >= LOOP_TRIM_TICKS)
	{
		trim_ticks = 0;
		if (churn >= LOOP_TRIM_CHURN || big_freed)
			(void) malloc_trim(0);
		churn = 0;
		big_freed = false;
	}
	/* a safety net: lws_service ignores timeouts, so a timer brings us round */
	lws_sul_schedule(ctx, 0, sul, tick, LOOP_TICK_MS * LWS_US_PER_MS);
}

void
mana_loop_note_churn(void)
{
	churn++;
}

void
mana_loop_note_big_free(void)
{
	big_freed = true;
}

static void
lws_log_to_pg(int level, const char *line)
{
	/* lws lines end with a newline */
	elog(LOG, "mana_sync (lws): %.*s", (int) strcspn(line, "\n"), line);
}

bool
mana_loop_create(const struct lws_protocols *protocols, unsigned int fd_limit)
{
	struct lws_context_creation_info info;

	lws_set_log_level(LLL_ERR, lws_log_to_pg);
	evloop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
	if (evloop == NULL)
		evloop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (evloop == NULL)
	{
		elog(LOG, "mana_sync: could not create an event loop");
		return false;
	}
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
	info.fd_limit_per_thread = fd_limit;
	info.ka_time = 0;
	ctx = lws_create_context(&info);
	if (ctx == NULL)
	{
		elog(LOG, "mana_sync: could not create the libwebsockets context");
		return false;
	}
	vhost = lws_get_vhost_by_name(ctx, "default");
	memset(&tick_sul, 0, sizeof(tick_sul));
	lws_sul_schedule(ctx, 0, &tick_sul, tick, LOOP_TICK_MS * LWS_US_PER_MS);
	return true;
}

void
mana_loop_destroy(void)
{
	if (ctx != NULL)
	{
		lws_context_destroy(ctx);
		ctx = NULL;
		vhost = NULL;
	}
	if (evloop != NULL)
	{
		ev_loop_destroy(evloop);
		evloop = NULL;
	}
}

void
mana_loop_run_once(void)
{
	ev_run(evloop, EVRUN_ONCE);
}

void
mana_loop_set_stopping(void)
{
	stopping = true;
}

bool
mana_loop_stopping(void)
{
	return stopping;
}

void
mana_loop_wake(void)
{
	if (ctx != NULL)
		lws_cancel_service(ctx);
}

struct lws_vhost *
mana_loop_vhost(void)
{
	return vhost;
}

struct ev_loop *
mana_loop_ev(void)
{
	return evloop;
}

int64_t
mana_loop_now_ms(void)
{
	return GetCurrentTimestamp() / 1000;
}
