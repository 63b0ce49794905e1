/*
 * intake.c
 *     Change intake of the push worker: LISTEN mana_sync in every database
 *     where the extension is installed, over non-blocking libpq.
 *
 * A catalog connection (to "postgres", else "template1") lists the
 * databases every few seconds.  Each database gets a small state machine:
 * connect, check for the extension, then LISTEN and read the registry
 * (for the tables to hint after a reconnect).  A database without the
 * extension is checked again every MANA_RECHECK_MS, so a later CREATE
 * EXTENSION is served within that time.  A listening connection's socket
 * is adopted into lws (as a dup: lws closes what it adopts), so a
 * notification wakes the loop at once; everything else is driven from
 * mana_intake_poll(), which the loop calls at least every 200 ms.
 *
 * A lost connection is re-established with backoff and LISTENs again;
 * since notifications may have been missed meanwhile, every connection of
 * that database's apps is then told to pull.
 *
 * The connections are ordinary clients (pgconn.c): they keep `pg_ctl stop
 * -m smart` waiting, and DROP DATABASE of a listened database needs WITH
 * (FORCE).
 */
#include "postgres.h"

#include <unistd.h>

#include "libpq-fe.h"

#include "backend/shmem.h"
#include "core/wsproto.h"
#include "fanout.h"
#include "intake.h"
#include "loop.h"
#include "pgconn.h"

#define MANA_SCAN_MS 2000		/* how often the database list is read */
#define MANA_RECHECK_MS 3000	/* how often a database without the extension is checked */
#define MANA_BACKOFF_MAX_MS 5000
#define MANA_MAX_DBS 4096

typedef enum db_state
{
	DB_IDLE,					/* not connected; (re)try at next_at */
	DB_CONNECTING,
	DB_CHECK,					/* extension check sent */
	DB_LISTEN,					/* LISTEN + registry read sent */
	DB_LISTENING,
	DB_REFRESH					/* listening; registry read again */
} db_state;

typedef struct intake_db
{
	mana_watch	watch;			/* the loop's handle on the socket */
	char		name[NAMEDATALEN];
	db_state	state;
	PGconn	   *conn;
	struct lws *wsi;			/* adopted socket while listening */
	int64		next_at;		/* ms */
	int			backoff_ms;
	bool		in_catalog;
	bool		listened_before;	/* a reconnect must hint everyone */
	bool		counted;
	bool		warned;			/* a query failure was logged */
	bool		down_logged;	/* this outage was logged (once, not per retry) */
	int64		refresh_at;		/* ms: next registry read */
	char		registry[2 * NAMEDATALEN + 32];	/* quoted schema.mana_sync_registry */
	/* the registry: (app, table) pairs, for hints after a reconnect and app lookup */
	int			npairs;
	char	  **apps;
	char	  **tables;
} intake_db;

static int	intake_watch_event(mana_watch *w, struct lws *wsi, mana_watch_event ev);
static const mana_watch_ops intake_watch_ops = {"intake connection", intake_watch_event};

static intake_db *dbs[MANA_MAX_DBS];
static int	ndbs = 0;

static PGconn *catalog = NULL;
static bool catalog_busy = false;
static bool catalog_connecting = false;
static int64 catalog_next_at = 0;
static int	catalog_db = 0;		/* 0: postgres, 1: template1 */

static PGconn *
start_connect(const char *dbname)
{
	return mana_pgconn_start(dbname, "mana_sync push worker", NULL);
}

/* 1: all results read (last non-NULL result left in *last), 0: busy, -1: error */
static int
drain_results(PGconn *conn, PGresult **last)
{
	PGresult   *res;
	bool		ok = true;

	if (!PQconsumeInput(conn))
		return -1;
	if (PQisBusy(conn))
		return 0;
	*last = NULL;
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(res);

		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		{
			elog(LOG, "mana_sync intake: query failed: %s", PQresultErrorMessage(res));
			ok = false;
		}
		if (*last)
			PQclear(*last);
		*last = res;
		if (PQisBusy(conn))
		{
			/* more to come later; keep what we have */
			if (!PQconsumeInput(conn))
				return -1;
			if (PQisBusy(conn))
				return 0;
		}
	}
	return ok ? 1 : -1;
}

static void
free_pairs(intake_db *db)
{
	int			i;

	for (i = 0; i < db->npairs; i++)
	{
		free(db->apps[i]);
		free(db->tables[i]);
	}
	free(db->apps);
	free(db->tables);
	db->apps = db->tables = NULL;
	db->npairs = 0;
}

static void
add_pair(intake_db *db, const char *app, const char *table)
{
	int			i;
	char	  **na;
	char	  **nt;

	for (i = 0; i < db->npairs; i++)
		if (strcmp(db->apps[i], app) == 0 && strcmp(db->tables[i], table) == 0)
			return;
	if (db->npairs >= 10000)
		return;
	na = realloc(db->apps, sizeof(char *) * (db->npairs + 1));
	if (na == NULL)
		return;
	db->apps = na;
	nt = realloc(db->tables, sizeof(char *) * (db->npairs + 1));
	if (nt == NULL)
		return;
	db->tables = nt;
	db->apps[db->npairs] = strdup(app);
	db->tables[db->npairs] = strdup(table);
	if (db->apps[db->npairs] == NULL || db->tables[db->npairs] == NULL)
	{
		free(db->apps[db->npairs]);
		free(db->tables[db->npairs]);
		return;
	}
	db->npairs++;
}

/* every connection of this database's apps should pull */
static void
broadcast_db(intake_db *db)
{
	int			i;
	int			j;

	for (i = 0; i < db->npairs; i++)
	{
		const char *tables[256];
		int			n = 0;
		bool		first = true;

		/* group by app (first occurrence handles it) */
		for (j = 0; j < i; j++)
			if (strcmp(db->apps[j], db->apps[i]) == 0)
				first = false;
		if (!first)
			continue;
		for (j = i; j < db->npairs && n < 256; j++)
			if (strcmp(db->apps[j], db->apps[i]) == 0)
				tables[n++] = db->tables[j];
		mana_fanout_broadcast(db->apps[i], tables, n);
	}
}

/*
 * Hints were lost for this database (NULL: for every database): every
 * connection of its apps should pull.
 */
void
mana_intake_broadcast_db(const char *dbname)
{
	int			i;

	for (i = 0; i < ndbs; i++)
		if (dbs[i] != NULL && (dbname == NULL || strcmp(dbs[i]->name, dbname) == 0))
			broadcast_db(dbs[i]);
}

static void
set_listening(intake_db *db, bool on)
{
	if (on && !db->counted)
	{
		db->counted = true;
		mana_stat_add(MANA_STAT_DATABASES, 1);
	}
	else if (!on && db->counted)
	{
		db->counted = false;
		mana_stat_add(MANA_STAT_DATABASES, -1);
	}
}

/* drop the connection; try again after backoff_ms (or recheck_ms) */
static void
disconnect(intake_db *db, int retry_ms)
{
	mana_loop_unwatch(&db->wsi);
	if (db->conn != NULL)
	{
		PQfinish(db->conn);
		db->conn = NULL;
	}
	set_listening(db, false);
	db->state = DB_IDLE;
	db->next_at = mana_loop_now_ms() + retry_ms;
}

static void
lost(intake_db *db)
{
	/*
	 * Once per outage: a database being dropped or restarted would
	 * otherwise log every retry until the next catalog scan.
	 */
	ereport(db->down_logged ? DEBUG1 : LOG,
			(errmsg("mana_sync intake: lost the connection to database \"%s\"; reconnecting", db->name)));
	db->down_logged = true;
	db->backoff_ms = db->backoff_ms ? Min(db->backoff_ms * 2, MANA_BACKOFF_MAX_MS) : 100;
	disconnect(db, db->backoff_ms);
}

static void
read_notifies(intake_db *db)
{
	PGnotify   *n;

	while ((n = PQnotifies(db->conn)) != NULL)
	{
		mana_stat_add(MANA_STAT_NOTIFICATIONS, 1);
		/*
		 * Any role may NOTIFY on this channel.  A hint only makes clients
		 * pull (they get nothing that is not theirs), but a payload must at
		 * least name this database, and only the registry (never a payload)
		 * says which apps a database serves.
		 */
		if (!mana_fanout_hint(n->extra, strlen(n->extra), db->name))
			elog(DEBUG1, "mana_sync intake: ignoring a malformed notification in \"%s\"", db->name);
		PQfreemem(n);
	}
}

static bool
adopt(intake_db *db)
{
	db->watch.ops = &intake_watch_ops;
	db->wsi = mana_loop_watch(PQsocket(db->conn), &db->watch);
	return db->wsi != NULL;
}

/*
 * The result of the statement sent last: 1 (in *res), 0 (not yet), -1 (the
 * connection is gone; lost() has been called).
 */
static int
db_result(intake_db *db, PGresult **res)
{
	int			r = drain_results(db->conn, res);

	if (r == 0)
		return 0;
	if (r < 0 || *res == NULL)
	{
		if (*res)
			PQclear(*res);
		*res = NULL;
		if (PQstatus(db->conn) == CONNECTION_OK)
		{
			/*
			 * The server refused the query (say the worker's role may not read
			 * the registry): not a lost connection.  Say so once and try
			 * again slowly rather than reconnecting in a loop.
			 */
			if (!db->warned)
				elog(LOG, "mana_sync intake: cannot listen in database \"%s\": %s(retrying every 30 s)",
					 db->name, PQerrorMessage(db->conn));
			db->warned = true;
			disconnect(db, 30000);
		}
		else
			lost(db);
		return -1;
	}
	db->warned = false;
	return 1;
}

/* the registry's (app, table) pairs from a result, which is then freed */
static void
load_pairs(intake_db *db, PGresult *res)
{
	int			i;

	free_pairs(db);
	for (i = 0; i < PQntuples(res); i++)
		add_pair(db, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
}

/*
 * One step of a database's state machine.  Long (about 125 lines) for a
 * reason: one case per state, read top to bottom as the life of an intake
 * connection.
 */
static void
step_db(intake_db *db, int64 now)
{
	PGresult   *res = NULL;
	int			r;

	switch (db->state)
	{
		case DB_IDLE:
			if (now < db->next_at)
				return;
			db->conn = start_connect(db->name);
			if (db->conn == NULL)
			{
				lost(db);
				return;
			}
			db->state = DB_CONNECTING;
			/* fall through */
		case DB_CONNECTING:
			r = mana_pgconn_poll(db->conn);
			if (r < 0)
			{
				elog(DEBUG1, "mana_sync intake: cannot connect to \"%s\": %s", db->name,
					 PQerrorMessage(db->conn));
				lost(db);
				return;
			}
			if (r == 0)
				return;
			if (!PQsendQuery(db->conn,
							 "SELECT n.nspname FROM pg_catalog.pg_extension e "
							 "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
							 "WHERE e.extname = 'mana_sync'"))
			{
				lost(db);
				return;
			}
			db->state = DB_CHECK;
			return;
		case DB_CHECK:
			if (db_result(db, &res) <= 0)
				return;
			if (PQntuples(res) == 0)
			{
				PQclear(res);
				disconnect(db, MANA_RECHECK_MS);	/* not installed (yet) */
				return;
			}
			{
				char		sql[512];
				char	   *nsp = PQescapeIdentifier(db->conn, PQgetvalue(res, 0, 0),
													 strlen(PQgetvalue(res, 0, 0)));

				PQclear(res);
				if (nsp == NULL)
				{
					lost(db);
					return;
				}
				snprintf(db->registry, sizeof(db->registry), "%s.mana_sync_registry", nsp);
				snprintf(sql, sizeof(sql),
						 "LISTEN mana_sync; SELECT r.app_id, r.collection FROM %s r", db->registry);
				PQfreemem(nsp);
				if (!PQsendQuery(db->conn, sql))
				{
					lost(db);
					return;
				}
			}
			db->state = DB_LISTEN;
			return;
		case DB_LISTEN:
			if (db_result(db, &res) <= 0)
				return;
			load_pairs(db, res);
			if (!adopt(db))
			{
				lost(db);
				return;
			}
			db->state = DB_LISTENING;
			db->refresh_at = now + MANA_SCAN_MS;
			db->backoff_ms = 0;
			if (db->down_logged)
				elog(LOG, "mana_sync intake: listening in database \"%s\" again", db->name);
			db->down_logged = false;
			set_listening(db, true);
			if (db->listened_before)
			{
				/* notifications may have been missed while we were away */
				mana_stat_add(MANA_STAT_LISTENER_RECONNECTS, 1);
				broadcast_db(db);
			}
			db->listened_before = true;
			read_notifies(db);
			return;
		case DB_LISTENING:
			if (PQstatus(db->conn) == CONNECTION_BAD)
			{
				lost(db);
				return;
			}
			if (now >= db->refresh_at)
			{
				/* tables registered since: for app lookups and reconnect hints */
				char		sql[256];

				snprintf(sql, sizeof(sql), "SELECT r.app_id, r.collection FROM %s r", db->registry);
				if (!PQsendQuery(db->conn, sql))
				{
					lost(db);
					return;
				}
				db->state = DB_REFRESH;
			}
			return;
		case DB_REFRESH:
			if (db_result(db, &res) <= 0)
				return;
			load_pairs(db, res);
			read_notifies(db);
			db->state = DB_LISTENING;
			db->refresh_at = now + MANA_SCAN_MS;
			return;
	}
}

static intake_db *
find_db(const char *name)
{
	int			i;

	for (i = 0; i < ndbs; i++)
		if (strcmp(dbs[i]->name, name) == 0)
			return dbs[i];
	return NULL;
}

static void
remove_db(int i)
{
	intake_db  *db = dbs[i];

	disconnect(db, 0);
	free_pairs(db);
	free(db);
	dbs[i] = dbs[--ndbs];
}

static void
step_catalog(int64 now)
{
	PGresult   *res = NULL;
	int			r;

	if (catalog == NULL)
	{
		if (now < catalog_next_at)
			return;
		catalog = start_connect(catalog_db == 0 ? "postgres" : "template1");
		catalog_connecting = true;
		catalog_busy = false;
		if (catalog == NULL)
		{
			catalog_next_at = now + 1000;
			return;
		}
	}
	if (catalog_connecting)
	{
		r = mana_pgconn_poll(catalog);
		if (r == 0)
			return;
		if (r < 0)
		{
			elog(DEBUG1, "mana_sync intake: catalog connection failed: %s", PQerrorMessage(catalog));
			PQfinish(catalog);
			catalog = NULL;
			catalog_db = 1 - catalog_db;	/* try the other database next time */
			catalog_next_at = now + 1000;
			return;
		}
		catalog_connecting = false;
		catalog_next_at = now;
	}
	if (!catalog_busy)
	{
		if (now < catalog_next_at)
			return;
		if (!PQsendQuery(catalog, "SELECT datname FROM pg_catalog.pg_database "
						 "WHERE datallowconn AND NOT datistemplate"))
		{
			PQfinish(catalog);
			catalog = NULL;
			catalog_next_at = now + 1000;
			return;
		}
		catalog_busy = true;
		return;
	}
	r = drain_results(catalog, &res);
	if (r == 0)
		return;
	catalog_busy = false;
	catalog_next_at = now + MANA_SCAN_MS;
	if (r < 0 || res == NULL)
	{
		if (res)
			PQclear(res);
		PQfinish(catalog);
		catalog = NULL;
		return;
	}
	{
		int			i;

		for (i = 0; i < ndbs; i++)
			dbs[i]->in_catalog = false;
		for (i = 0; i < PQntuples(res); i++)
		{
			const char *name = PQgetvalue(res, i, 0);
			intake_db  *db = find_db(name);

			if (db == NULL && ndbs < MANA_MAX_DBS && strlen(name) < NAMEDATALEN)
			{
				db = calloc(1, sizeof(intake_db));
				if (db == NULL)
					continue;
				strlcpy(db->name, name, sizeof(db->name));
				db->state = DB_IDLE;
				db->next_at = now;
				dbs[ndbs++] = db;
			}
			if (db)
				db->in_catalog = true;
		}
		PQclear(res);
		for (i = ndbs - 1; i >= 0; i--)
			if (!dbs[i]->in_catalog)
				remove_db(i);
	}
}

/*
 * The database that registered app (the first one found, in discovery
 * order), or NULL.  App ids are meant to be unique in the cluster.
 */
const char *
mana_intake_app_database(const char *app)
{
	int			i;
	int			j;
	const char *found = NULL;
	static char warned[MANA_WS_MAX_APP + 1];

	for (i = 0; i < ndbs; i++)
	{
		if (dbs[i]->state != DB_LISTENING && dbs[i]->state != DB_REFRESH)
			continue;
		for (j = 0; j < dbs[i]->npairs; j++)
			if (strcmp(dbs[i]->apps[j], app) == 0)
			{
				if (found == NULL)
					found = dbs[i]->name;
				else if (strcmp(warned, app) != 0)
				{
					elog(LOG, "mana_sync: app \"%s\" is registered in databases \"%s\" and \"%s\"; HTTP requests go to \"%s\"",
						 app, found, dbs[i]->name, found);
					strlcpy(warned, app, sizeof(warned));
				}
				break;
			}
	}
	return found;
}

void
mana_intake_start(void)
{
	catalog_next_at = 0;
	mana_intake_poll();
}

void
mana_intake_poll(void)
{
	int64		now = mana_loop_now_ms();
	int			i;

	step_catalog(now);
	for (i = 0; i < ndbs; i++)
		step_db(dbs[i], now);
}

void
mana_intake_shutdown(void)
{
	while (ndbs > 0)
		remove_db(ndbs - 1);
	if (catalog != NULL)
	{
		PQfinish(catalog);
		catalog = NULL;
	}
}

/* the socket of a listening connection: notifications, or the end */
static int
intake_watch_event(mana_watch *w, struct lws *wsi, mana_watch_event ev)
{
	intake_db  *db = mana_container_of(w, intake_db, watch);

	switch (ev)
	{
		case MANA_WATCH_READABLE:
			if (db->conn == NULL)
				return -1;
			if (!PQconsumeInput(db->conn))
			{
				db->wsi = NULL;	/* lws closes it as we return -1 */
				lost(db);
				return -1;
			}
			read_notifies(db);
			return 0;
		case MANA_WATCH_CLOSED:
			if (db->wsi == wsi)
			{
				db->wsi = NULL;
				lost(db);
			}
			return 0;
		default:
			return 0;
	}
}
