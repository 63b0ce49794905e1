/*
 * pool.c
 *     Non-blocking libpq connections that run the HTTP endpoints' queries,
 *     a few per database (mana_sync.http_pool_size), driven from the push
 *     worker's event loop: the loop never waits for a query.
 *
 * A job is one statement with text parameters.  Jobs queue per database in
 * arrival order; a queue longer than MANA_POOL_QUEUE refuses new jobs (the
 * caller answers 503).  A connection's socket is adopted into lws (a dup)
 * while it runs a job, so the result wakes the loop; connecting is driven
 * from mana_pool_poll().  Every connection runs with
 * statement_timeout = mana_sync.statement_timeout.  A job whose HTTP client
 * went away is finished and its result dropped (the statement still
 * commits: that is what the client asked for).
 *
 * Nothing here raises an ERROR: it runs inside lws callbacks and the loop.
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "utils/guc.h"

#include "loop.h"
#include "pgconn.h"
#include "pool.h"

#define MANA_POOL_MAX 64		/* connections per database at most */
#define MANA_POOL_QUEUE 256		/* queued jobs per database at most */

typedef enum pconn_state
{
	PC_NONE,
	PC_CONNECTING,
	PC_IDLE,
	PC_BUSY
} pconn_state;

typedef struct pool_db pool_db;

/*
 * libpq never shrinks a connection's buffers: after a query or a result
 * of this size the connection is closed and opened again, so one big
 * request does not keep the worker's memory up.
 */
#define MANA_POOL_BIG (1024 * 1024)

typedef struct pool_conn
{
	mana_watch	watch;			/* the loop's handle on the socket: first */
	pconn_state state;
	PGconn	   *conn;
	struct lws *wsi;			/* adopted socket while busy */
	mana_pool_job *job;
	PGresult   *res;			/* the job's result, until the statement completes */
	bool		flushing;		/* libpq holds unsent query bytes */
	bool		big;			/* the job moved over MANA_POOL_BIG bytes */
	pool_db    *db;
	int64		next_at;		/* ms: earliest reconnect */
} pool_conn;

struct pool_db
{
	char		name[NAMEDATALEN];
	pool_conn	conns[MANA_POOL_MAX];
	mana_pool_job *head;
	mana_pool_job *tail;
	int			queued;
	pool_db    *next;
};

static int	pool_watch_event(mana_watch *w, struct lws *wsi, mana_watch_event ev);
static const mana_watch_ops pool_watch_ops = {"pool connection", pool_watch_event};

static pool_db *dbs = NULL;
static bool closing = false;	/* shutting down: fail jobs, run nothing again */

int			mana_http_pool_size = 4;
int			mana_statement_timeout_ms = 30000;

void
mana_pool_define_settings(void)
{
	DefineCustomIntVariable("mana_sync.http_pool_size",
							"Database connections per database for the HTTP sync endpoints.",
							NULL, &mana_http_pool_size, 4, 1, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.statement_timeout",
							"Longest an HTTP sync request may run in the database; longer ones are cancelled and answered 504.",
							NULL, &mana_statement_timeout_ms, 30000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

static pool_db *
get_db(const char *name)
{
	pool_db    *d;

	for (d = dbs; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	d = calloc(1, sizeof(pool_db));
	if (d == NULL)
		return NULL;
	strlcpy(d->name, name, sizeof(d->name));
	d->next = dbs;
	dbs = d;
	return d;
}

void
mana_pool_job_free(mana_pool_job *job)
{
	int			i;

	if (job == NULL)
		return;
	free(job->sql);
	for (i = 0; i < job->nparams; i++)
		free(job->params[i]);
	free(job);
}

static void
finish(pool_conn *pc, PGresult *res, const char *fallback_error)
{
	mana_pool_job *job = pc->job;
	mana_pool_result r;

	pc->job = NULL;
	if (job == NULL)
		return;
	memset(&r, 0, sizeof(r));
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		int			c;

		r.ok = true;
		for (c = 0; c < PQnfields(res) && c < 8 && PQntuples(res) > 0; c++)
			r.values[c] = PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c);
		r.value = r.values[0];
	}
	else if (res != NULL)
	{
		r.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		r.message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		r.detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	}
	else
	{
		r.sqlstate = "08006";
		r.message = fallback_error;
	}
	if (job->done != NULL && job->arg != NULL)
		job->done(job->arg, &r);
	mana_pool_job_free(job);
}

static void
drop_conn(pool_conn *pc, int retry_ms)
{
	mana_loop_unwatch(&pc->wsi);
	if (pc->job != NULL && pc->job->retries == 0 && pc->db != NULL && !closing)
	{
		/*
		 * The connection died under the job (typically an idle one that the
		 * server closed meanwhile).  Run it again once on a new connection:
		 * both statements are safe to repeat (a changeset applied twice
		 * changes nothing; a pull only reads).
		 */
		mana_pool_job *job = pc->job;

		pc->job = NULL;
		job->retries++;
		job->next = pc->db->head;
		pc->db->head = job;
		if (pc->db->tail == NULL)
			pc->db->tail = job;
		pc->db->queued++;
	}
	if (pc->job != NULL)
		finish(pc, NULL, "the database connection was lost");
	if (pc->res != NULL)
		PQclear(pc->res);
	pc->res = NULL;
	if (pc->conn != NULL)
		PQfinish(pc->conn);
	pc->conn = NULL;
	pc->flushing = false;
	pc->state = PC_NONE;
	pc->next_at = mana_loop_now_ms() + retry_ms;
}

static bool
adopt(pool_conn *pc)
{
	pc->watch.ops = &pool_watch_ops;
	pc->wsi = mana_loop_watch(PQsocket(pc->conn), &pc->watch);
	return pc->wsi != NULL;
}

/* hand the next queued job to an idle connection */
static void
dispatch(pool_conn *pc)
{
	pool_db    *d = pc->db;
	mana_pool_job *job;

	while (pc->state == PC_IDLE && d->head != NULL)
	{
		job = d->head;
		d->head = job->next;
		if (d->head == NULL)
			d->tail = NULL;
		d->queued--;
		if (job->arg == NULL)
		{
			mana_pool_job_free(job);	/* the client is gone and nothing ran yet */
			continue;
		}
		pc->job = job;
		if (!PQsendQueryParams(pc->conn, job->sql, job->nparams, NULL,
							   (const char *const *) job->params, NULL, NULL, 0))
		{
			elog(LOG, "mana_sync pool: could not send a query to \"%s\": %s", d->name,
				 PQerrorMessage(pc->conn));
			drop_conn(pc, 200);
			return;
		}
		pc->state = PC_BUSY;
		{
			size_t		bytes = strlen(job->sql);
			int			i;

			for (i = 0; i < job->nparams; i++)
				bytes += job->params[i] ? strlen(job->params[i]) : 0;
			pc->big = bytes > MANA_POOL_BIG;
		}
		if (pc->wsi == NULL && !adopt(pc))
		{
			drop_conn(pc, 200);
			return;
		}
		/*
		 * A large body does not fit the socket at once: libpq keeps the rest
		 * until flushed, and the server says nothing before it has it all.
		 * Flush as the socket becomes writable.
		 */
		switch (PQflush(pc->conn))
		{
			case 0:
				break;
			case 1:
				pc->flushing = true;
				lws_callback_on_writable(pc->wsi);
				break;
			default:
				drop_conn(pc, 200);
				break;
		}
		return;
	}
}

/* answer every queued job with an error (each job's done() runs once) */
static void
fail_queued(pool_db *d, const char *why)
{
	while (d->head != NULL)
	{
		mana_pool_job *job = d->head;
		pool_conn	tmp;

		d->head = job->next;
		if (d->head == NULL)
			d->tail = NULL;
		d->queued--;
		memset(&tmp, 0, sizeof(tmp));
		tmp.job = job;
		finish(&tmp, NULL, why);
	}
}

static void
start_conn(pool_db *d, pool_conn *pc)
{
	char		opts[64];

	snprintf(opts, sizeof(opts), "-c statement_timeout=%d", mana_statement_timeout_ms);
	pc->db = d;
	pc->conn = mana_pgconn_start(d->name, "mana_sync http", opts);
	if (pc->conn == NULL)
	{
		pc->state = PC_NONE;
		pc->next_at = mana_loop_now_ms() + 1000;
		return;
	}
	pc->state = PC_CONNECTING;
}

static void
step(pool_db *d)
{
	int			i;
	int			size = Min(Max(mana_http_pool_size, 1), MANA_POOL_MAX);
	int64		now = mana_loop_now_ms();
	bool		need = d->head != NULL;

	for (i = 0; i < MANA_POOL_MAX; i++)
	{
		pool_conn  *pc = &d->conns[i];

		switch (pc->state)
		{
			case PC_NONE:
				/* open connections only while there is work, up to the pool size */
				if (need && i < size && now >= pc->next_at)
					start_conn(d, pc);
				break;
			case PC_CONNECTING:
				switch (PQconnectPoll(pc->conn))
				{
					case PGRES_POLLING_OK:
						pc->state = PC_IDLE;
						break;
					case PGRES_POLLING_FAILED:
						elog(LOG, "mana_sync pool: cannot connect to \"%s\": %s", d->name,
							 PQerrorMessage(pc->conn));
						drop_conn(pc, 1000);
						/* nothing can run: fail what waits rather than hang */
						if (i == 0)
							fail_queued(d, "cannot connect to the database");
						break;
					default:
						break;
				}
				break;
			case PC_IDLE:
				if (PQstatus(pc->conn) == CONNECTION_BAD)
					drop_conn(pc, 200);
				else if (i >= size)
					drop_conn(pc, 0);	/* the pool shrank */
				break;
			case PC_BUSY:
				if (pc->flushing && pc->wsi != NULL)
					lws_callback_on_writable(pc->wsi);
				break;
		}
		if (pc->state == PC_IDLE)
			dispatch(pc);
	}
}

int
mana_pool_submit(const char *dbname, mana_pool_job *job)
{
	pool_db    *d = get_db(dbname);
	int			i;

	if (d == NULL || d->queued >= MANA_POOL_QUEUE)
		return -1;
	job->next = NULL;
	if (d->tail)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
	d->queued++;
	/* an idle connection takes it at once; otherwise the loop starts one */
	for (i = 0; i < MANA_POOL_MAX; i++)
		if (d->conns[i].state == PC_IDLE)
		{
			dispatch(&d->conns[i]);
			break;
		}
	return 0;
}

void
mana_pool_poll(void)
{
	pool_db    *d;

	for (d = dbs; d != NULL; d = d->next)
		step(d);
}

/* after a reload: idle connections reconnect with the new statement_timeout */
void
mana_pool_reload(void)
{
	pool_db    *d;
	int			i;

	for (d = dbs; d != NULL; d = d->next)
		for (i = 0; i < MANA_POOL_MAX; i++)
			if (d->conns[i].state == PC_IDLE)
				drop_conn(&d->conns[i], 0);
}

void
mana_pool_shutdown(void)
{
	closing = true;
	while (dbs != NULL)
	{
		pool_db    *d = dbs;
		int			i;

		dbs = d->next;
		/* every job is answered (its request forgets it) before it is freed */
		for (i = 0; i < MANA_POOL_MAX; i++)
			if (d->conns[i].state != PC_NONE)
				drop_conn(&d->conns[i], 0);
		fail_queued(d, "the server is shutting down");
		free(d);
	}
}

/* the socket of a busy connection: its query went out, its result came in */
static int
pool_watch_event(mana_watch *w, struct lws *wsi, mana_watch_event ev)
{
	pool_conn  *pc = mana_container_of(w, pool_conn, watch);
	PGresult   *res;

	switch (ev)
	{
		case MANA_WATCH_WRITABLE:
			if (pc->conn != NULL && pc->state == PC_BUSY)
			{
				int			f = PQflush(pc->conn);

				/*
				 * lws clears the writable request after this callback, so
				 * asking again here would be lost: mana_pool_poll() asks.
				 */
				pc->flushing = (f == 1);
				if (f < 0)
				{
					pc->wsi = NULL;
					drop_conn(pc, 200);
					return -1;
				}
			}
			return 0;
		case MANA_WATCH_READABLE:
			if (!PQconsumeInput(pc->conn))
			{
				pc->wsi = NULL;
				drop_conn(pc, 200);
				return -1;
			}
			while (pc->state == PC_BUSY && !PQisBusy(pc->conn))
			{
				res = PQgetResult(pc->conn);
				if (res == NULL)
				{
					/* the statement is done: answer, then take the next job */
					if (pc->res != NULL && PQresultStatus(pc->res) == PGRES_TUPLES_OK &&
						PQntuples(pc->res) > 0 && PQgetlength(pc->res, 0, 0) > MANA_POOL_BIG)
						pc->big = true;
					finish(pc, pc->res, "no result");
					if (pc->res)
						PQclear(pc->res);
					pc->res = NULL;
					if (pc->big)
					{
						/* a fresh connection instead of libpq's grown buffers */
						mana_loop_note_big_free();
						pc->wsi = NULL;
						drop_conn(pc, 0);
						return -1;
					}
					pc->state = PC_IDLE;
					dispatch(pc);
					break;
				}
				/* keep the first error, else the last result */
				if (pc->res != NULL && PQresultStatus(pc->res) == PGRES_FATAL_ERROR)
					PQclear(res);
				else
				{
					if (pc->res)
						PQclear(pc->res);
					pc->res = res;
				}
			}
			return 0;
		case MANA_WATCH_CLOSED:
			if (pc->wsi == wsi)
			{
				pc->wsi = NULL;
				drop_conn(pc, 200);
			}
			return 0;
	}
	return 0;
}
