/*
 * worker.c
 *     The push worker: a background worker that serves WebSocket hints and
 *     the HTTP sync endpoints, started from shared_preload_libraries.
 *
 * This file wires the parts together and runs the main loop:
 *
 *   listen.c  accepts on mana_sync.listen_address   -> lws (loop.c)
 *   lws       HTTP requests -> http.c (routes), WebSockets -> ws.c
 *   intake.c  LISTEN/NOTIFY, ring.c the commit_hook ring  -> fanout.c
 *   fanout.c  hints -> the connections of their users (core/hub.c)
 *   pool.c    the HTTP endpoints' statements, on libpq (pgconn.c)
 *
 * Between loop iterations it handles signals (reload, shutdown),
 * postmaster death, interrupts (DROP DATABASE waits on a barrier), and
 * drives the intake's and the pool's state machines.  Never ereport(ERROR)
 * or touch a transaction inside an lws callback: there is no error
 * recovery there; callbacks change memory only and return -1 to drop a
 * connection.
 */
#include "postgres.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "auth.h"
#include "backend/shmem.h"
#include "conn.h"
#include "fanout.h"
#include "http.h"
#include "intake.h"
#include "listen.h"
#include "loop.h"
#include "pgconn.h"
#include "pool.h"
#include "ring.h"
#include "worker.h"
#include "ws.h"

static volatile sig_atomic_t got_sigterm = false;
static volatile sig_atomic_t got_sighup = false;
static bool got_pm_death = false;

/* ---------------------------------------------------------------- signals */

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	mana_loop_wake();
	errno = save_errno;
}

static void
worker_sighup(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sighup = true;
	mana_loop_wake();
	errno = save_errno;
}

/* ---------------------------------------------------------------- clients */

/*
 * The lws callback of client connections: HTTP requests go to http.c,
 * WebSockets (after the upgrade) to ws.c.  Each lws connection's
 * per-session data is a mana_conn (conn.h).
 */
static int
client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	mana_conn  *c = (mana_conn *) user;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			return c ? mana_http_on_request(wsi, &c->http, (const char *) in) : -1;
		case LWS_CALLBACK_HTTP_BODY:
			return c ? mana_http_on_body(wsi, &c->http, in, len) : -1;
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			return c ? mana_http_on_body_done(wsi, &c->http) : -1;
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return c ? mana_http_on_writeable(wsi, &c->http) : 0;
		case LWS_CALLBACK_CLOSED_HTTP:
			mana_loop_note_churn();
			/* FALLTHROUGH */
		case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
			/* the per-session data may go away after either: drop what points at it */
			if (c != NULL)
				mana_http_on_closed(&c->http);
			return 0;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			/* only our public protocol: the watched descriptors' is internal */
			return strcmp(lws_get_protocol(wsi)->name, "mana-sync") != 0 ? -1 : 0;
		case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
			return mana_ws_confirm_upgrade(wsi);
		case LWS_CALLBACK_ESTABLISHED:
			return c ? mana_ws_established(wsi, &c->ws) : -1;
		case LWS_CALLBACK_TIMER:
			if (c != NULL && c->ws.is_ws)
				mana_ws_timer(&c->ws);
			else if (c != NULL)
				mana_http_on_timer(wsi, &c->http);
			return 0;
		case LWS_CALLBACK_RECEIVE:
			return mana_ws_receive(wsi, &c->ws, in, len);
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return (c != NULL && c->ws.is_ws) ? mana_ws_writeable(wsi, &c->ws) : 0;
		case LWS_CALLBACK_CLOSED:
			mana_loop_note_churn();
			if (c != NULL && c->ws.is_ws)
				mana_ws_closed(&c->ws);
			return 0;
		default:
			return 0;
	}
}

static const struct lws_protocols *
protocols(void)
{
	static struct lws_protocols p[3];

	/*
	 * rx_buffer_size is allocated per connection by lws: keep it small (a
	 * token arrives in a few pieces) so idle connections stay cheap.
	 */
	p[0] = (struct lws_protocols) {"mana-sync", client_callback, sizeof(mana_conn), 1024, 0, NULL, 0};
	p[1] = *mana_loop_protocol();
	memset(&p[2], 0, sizeof(p[2]));
	return p;
}

/* a connection listen.c accepted; when lws cannot take it, it closes it */
static void
accept_client(int fd)
{
	if (lws_adopt_socket_vhost(mana_loop_vhost(), fd) == NULL)
		mana_stat_add(MANA_STAT_CONNECTIONS_REFUSED, 1);
}

/* ---------------------------------------------------------------- postmaster */

static mana_watch pm_watch;

/* the postmaster death pipe: readable (EOF) or closed means it is gone */
static int
pm_event(mana_watch *w, struct lws *wsi, mana_watch_event ev)
{
	got_pm_death = true;
	return -1;
}

static const mana_watch_ops pm_ops = {"postmaster death pipe", pm_event};

/* ---------------------------------------------------------------- main */

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
	mana_loop_destroy();
	mana_fanout_destroy();
	mana_auth_shutdown();
}

/* limits of the process: descriptors for every client, big buffers from mmap */
static void
set_process_limits(void)
{
	struct rlimit rl;

	/*
	 * Client sockets are not PostgreSQL files (max_files_per_process does
	 * not count them); allow as many as the hard limit does.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}

	/*
	 * Big buffers (request bodies, query results) from mmap, always: glibc
	 * would otherwise raise its threshold after the first one is freed and
	 * keep the next ones in the heap, and the worker's RSS would stay at
	 * the size of the biggest request it ever served.
	 */
	(void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

void
mana_sync_worker_main(Datum main_arg)
{
	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, worker_sighup);
	pqsignal(SIGPIPE, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	set_process_limits();

	before_shmem_exit(worker_cleanup, (Datum) 0);
	if (!mana_fanout_create())
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("mana_sync: out of memory")));
	mana_auth_reload();
	if (!mana_loop_create(protocols(), (unsigned int) mana_max_connections + 256))
		ereport(ERROR, (errmsg("mana_sync: could not start the WebSocket server")));
	if (mana_listen_open(mana_loop_ev(), mana_listen_address, mana_port, accept_client) == 0)
		ereport(ERROR,
				(errmsg("mana_sync: could not listen on any address of mana_sync.listen_address \"%s\", port %d",
						mana_listen_address ? mana_listen_address : "", mana_port),
				 errhint("Is another process using the port (mana_sync.port)? The lines above say why each address failed.")));
	if (mana_shared != NULL)
		pg_atomic_write_u32(&mana_shared->worker_pid, (uint32) MyProcPid);

	/* wake at once when the postmaster dies */
	pm_watch.ops = &pm_ops;
	if (mana_loop_watch(postmaster_alive_fds[POSTMASTER_FD_WATCH], &pm_watch) == NULL)
		elog(LOG, "mana_sync: could not watch the postmaster death pipe; polling instead");

	mana_ring_start();
	mana_intake_start();

	while (!got_sigterm)
	{
		mana_loop_run_once();

		if (got_pm_death || !PostmasterIsAlive())
			proc_exit(1);
		/* barriers (DROP DATABASE waits for them) and the like */
		CHECK_FOR_INTERRUPTS();
		if (got_sighup)
		{
			got_sighup = false;
			ProcessConfigFile(PGC_SIGHUP);
			mana_auth_reload();
			mana_pool_reload();
		}
		mana_ring_drain();
		mana_intake_poll();
		mana_pool_poll();
		mana_fanout_sync_stats();
	}

	mana_loop_set_stopping();
	mana_listen_close();
	mana_ws_close_all();
	/* exit 1: restarted after pg_terminate_backend; at shutdown nothing restarts */
	proc_exit(1);
}

/* ---------------------------------------------------------------- setup */

/* in the postmaster (shared_preload_libraries): every part's settings, then the worker */
void
mana_worker_init(void)
{
	BackgroundWorker bgw;

	mana_listen_define_settings();
	mana_ws_define_settings();
	mana_auth_define_settings();
	mana_httpreq_define_settings();
	mana_pool_define_settings();
	mana_pgconn_define_settings();

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
