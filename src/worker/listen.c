/*
 * listen.c
 *     The push worker's listening sockets: bound exactly where
 *     mana_sync.listen_address says, accepted here, handed to lws.
 *
 * libwebsockets 4.1 binds its own listener to every address of the machine
 * when it is given an IPv4 address on a build with IPv6 (its vhost socket
 * is AF_INET6 and the address is dropped), and it takes one address only.
 * So lws runs without a listener of its own (CONTEXT_PORT_NO_LISTEN_SERVER)
 * and this file opens the sockets: every address of every entry of the
 * comma-separated setting (a host name can give several, "*" or an empty
 * setting gives every address of the machine, IPv4 and IPv6), each with
 * IPV6_V6ONLY so an IPv6 socket never answers for IPv4.  Accepted
 * connections go to the caller (the worker adopts them into lws as HTTP
 * connections).
 *
 * When the process is out of file descriptors, accept() fails without
 * taking the connection off the queue: the sockets are then not watched
 * for a moment (LISTEN_PAUSE_SEC) instead of spinning on them.
 */
#include "postgres.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "utils/guc.h"

#include "listen.h"

#define LISTEN_MAX_SOCKETS 16
#define LISTEN_ACCEPTS_PER_WAKE 64	/* then let other sockets have a turn */
#define LISTEN_PAUSE_SEC 0.1

typedef struct listen_sock
{
	ev_io		io;
	int			fd;
	struct sockaddr_storage addr;
	socklen_t	addrlen;
} listen_sock;

char	   *mana_listen_address = NULL;
int			mana_port = 3010;

static listen_sock socks[LISTEN_MAX_SOCKETS];
static int	nsocks = 0;
static struct ev_loop *listen_loop = NULL;
static mana_listen_accept_fn accept_fn = NULL;
static ev_timer pause_timer;
static bool paused = false;

void
mana_listen_define_settings(void)
{
	DefineCustomStringVariable("mana_sync.listen_address",
							   "Addresses the push worker listens on: IP addresses or host names, comma-separated.",
							   "* or empty: every address of the machine, IPv4 and IPv6.",
							   &mana_listen_address, "127.0.0.1",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.port",
							"Port of the push worker's WebSocket and HTTP server.",
							NULL, &mana_port, 3010, 1, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/* "127.0.0.1:3010" or "[::1]:3010" */
static void
format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	char		host[NI_MAXHOST];
	char		serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
					NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, outlen, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(out, outlen, "[%s]:%s", host, serv);
	else
		snprintf(out, outlen, "%s:%s", host, serv);
}

static void
set_watching(bool on)
{
	for (int i = 0; i < nsocks; i++)
	{
		if (on)
			ev_io_start(listen_loop, &socks[i].io);
		else
			ev_io_stop(listen_loop, &socks[i].io);
	}
}

static void
pause_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	paused = false;
	set_watching(true);
}

static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	listen_sock *ls = (listen_sock *) w;

	for (int i = 0; i < LISTEN_ACCEPTS_PER_WAKE; i++)
	{
		int			fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int			one = 1;

		if (fd < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
			{
				/*
				 * Out of descriptors or memory (or anything unexpected):
				 * the connection stays queued and the socket readable, so
				 * stop watching for a moment instead of spinning.
				 */
				static time_t last_logged = 0;
				time_t		now = time(NULL);

				if (now != last_logged)
					elog(LOG, "mana_sync: could not accept a connection: %m; not accepting for %.0f ms",
						 LISTEN_PAUSE_SEC * 1000);
				last_logged = now;
				if (!paused)
				{
					paused = true;
					set_watching(false);
					ev_timer_set(&pause_timer, LISTEN_PAUSE_SEC, 0.);
					ev_timer_start(listen_loop, &pause_timer);
				}
			}
			return;				/* EAGAIN: the queue is empty; or paused */
		}
		/* small frames: send them at once */
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		accept_fn(fd);
	}
}

/* bind and listen on one address; false (and a LOG line) if it fails */
static bool
open_one(const struct addrinfo *ai)
{
	char		name[NI_MAXHOST + NI_MAXSERV + 4];
	int			fd;
	int			one = 1;
	listen_sock *ls;

	format_addr(ai->ai_addr, ai->ai_addrlen, name, sizeof(name));
	/* the same address twice ("localhost,127.0.0.1"): once is enough */
	for (int i = 0; i < nsocks; i++)
		if (socks[i].addrlen == ai->ai_addrlen &&
			memcmp(&socks[i].addr, ai->ai_addr, ai->ai_addrlen) == 0)
			return true;
	if (nsocks >= LISTEN_MAX_SOCKETS)
	{
		elog(WARNING, "mana_sync: not listening on %s: more than %d addresses", name,
			 LISTEN_MAX_SOCKETS);
		return false;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
	{
		elog(WARNING, "mana_sync: could not create a socket for %s: %m", name);
		return false;
	}
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
	{
		elog(WARNING, "mana_sync: could not listen on %s: %m", name);
		close(fd);
		return false;
	}
	ls = &socks[nsocks++];
	ls->fd = fd;
	memcpy(&ls->addr, ai->ai_addr, ai->ai_addrlen);
	ls->addrlen = ai->ai_addrlen;
	ev_io_init(&ls->io, on_readable, fd, EV_READ);
	elog(LOG, "mana_sync: push worker listening on %s", name);
	return true;
}

int
mana_listen_open(struct ev_loop *loop, const char *addresses, int port, mana_listen_accept_fn fn)
{
	char	   *list;
	char	   *save = NULL;
	char		portstr[16];

	listen_loop = loop;
	accept_fn = fn;
	snprintf(portstr, sizeof(portstr), "%d", port);
	/* an empty setting: every address */
	list = pstrdup(addresses && addresses[strspn(addresses, " \t,")] ? addresses : "*");
	for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		struct addrinfo hints;
		struct addrinfo *res = NULL;
		size_t		len;
		int			rc;

		tok += strspn(tok, " \t");
		len = strlen(tok);
		while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
			tok[--len] = '\0';
		if (len == 0)
			continue;
		/* "[::1]" as well as "::1" */
		if (len >= 2 && tok[0] == '[' && tok[len - 1] == ']')
		{
			tok[len - 1] = '\0';
			tok++;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		rc = getaddrinfo(strcmp(tok, "*") == 0 ? NULL : tok, portstr, &hints, &res);
		if (rc != 0)
		{
			elog(WARNING, "mana_sync: could not resolve mana_sync.listen_address entry \"%s\": %s",
				 tok, gai_strerror(rc));
			continue;
		}
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
			if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
				(void) open_one(ai);
		freeaddrinfo(res);
	}
	pfree(list);
	ev_timer_init(&pause_timer, pause_done, LISTEN_PAUSE_SEC, 0.);
	set_watching(true);
	return nsocks;
}

void
mana_listen_close(void)
{
	if (paused && listen_loop != NULL)
		ev_timer_stop(listen_loop, &pause_timer);
	paused = false;
	for (int i = 0; i < nsocks; i++)
	{
		if (listen_loop != NULL)
			ev_io_stop(listen_loop, &socks[i].io);
		close(socks[i].fd);
	}
	nsocks = 0;
}
