/*
 * pgconn.c
 *     The worker's libpq connections to its own server, for the intake
 *     (intake.c) and the HTTP pool (pool.c).
 *
 * The worker has no database connection of its own (a background worker
 * gets one, in one database); it reaches every database through libpq over
 * the first unix_socket_directories entry, as mana_sync.worker_user
 * (default: the OS user running PostgreSQL, which Debian's peer
 * authentication accepts).  Connections are non-blocking and started with
 * PQconnectStartParams; the caller drives them from the loop.
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "pgconn.h"

char	   *mana_worker_user = NULL;

void
mana_pgconn_define_settings(void)
{
	DefineCustomStringVariable("mana_sync.worker_user",
							   "Database role the push worker connects as; empty: the operating system user running PostgreSQL.",
							   NULL, &mana_worker_user, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

static void
notice_to_log(void *arg, const char *message)
{
	elog(LOG, "mana_sync push worker (libpq): %.*s", (int) strcspn(message, "\n"), message);
}

/* first unix_socket_directories entry, else localhost */
static const char *
socket_host(void)
{
	static char host[MAXPGPATH];
	const char *s = Unix_socket_directories;
	size_t		n;

	if (host[0] != '\0')
		return host;
	if (s == NULL || s[0] == '\0')
	{
		strlcpy(host, "localhost", sizeof(host));
		return host;
	}
	while (*s == ' ')
		s++;
	if (*s == '"')
	{
		s++;
		n = strcspn(s, "\"");
	}
	else
		n = strcspn(s, ", ");
	if (n >= sizeof(host))
		n = sizeof(host) - 1;
	memcpy(host, s, n);
	host[n] = '\0';
	return host;
}

PGconn *
mana_pgconn_start(const char *dbname, const char *appname, const char *options)
{
	const char *keys[9];
	const char *vals[9];
	char		port[16];
	int			i = 0;
	PGconn	   *conn;

	snprintf(port, sizeof(port), "%d", PostPortNumber);
	keys[i] = "host";
	vals[i++] = socket_host();
	keys[i] = "port";
	vals[i++] = port;
	keys[i] = "dbname";
	vals[i++] = dbname;
	keys[i] = "application_name";
	vals[i++] = appname;
	if (options != NULL)
	{
		keys[i] = "options";
		vals[i++] = options;
	}
	keys[i] = "connect_timeout";
	vals[i++] = "10";
	if (mana_worker_user != NULL && mana_worker_user[0] != '\0')
	{
		keys[i] = "user";
		vals[i++] = mana_worker_user;
	}
	keys[i] = NULL;
	vals[i] = NULL;
	conn = PQconnectStartParams(keys, vals, 0);
	if (conn == NULL)
		return NULL;
	if (PQstatus(conn) == CONNECTION_BAD)
	{
		PQfinish(conn);
		return NULL;
	}
	PQsetnonblocking(conn, 1);
	PQsetNoticeProcessor(conn, notice_to_log, NULL);
	return conn;
}

/* 1: connected, 0: still going, -1: failed */
int
mana_pgconn_poll(PGconn *conn)
{
	switch (PQconnectPoll(conn))
	{
		case PGRES_POLLING_OK:
			return 1;
		case PGRES_POLLING_FAILED:
			return -1;
		default:
			return 0;
	}
}

