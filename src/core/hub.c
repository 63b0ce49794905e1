/*
 * hub.c
 *     Routing and coalescing of sync hints (see hub.h).
 *
 * Users live in a chained hash table keyed by name; each user holds the
 * doubly linked list of its connections.  All connections are also on one
 * list, for broadcasts.  Pending hints are a small array per connection,
 * searched linearly (a connection rarely has more than a few).
 */
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "wsproto.h"

typedef struct hub_user hub_user;

typedef struct hub_pair
{
	char	   *app;
	char	   *table;
} hub_pair;

struct mana_hub_conn
{
	hub_user   *user;
	mana_hub_conn *user_prev;
	mana_hub_conn *user_next;
	mana_hub_conn *all_prev;
	mana_hub_conn *all_next;
	char	   *app;			/* "" = every app */
	char	   *client;			/* "" = none */
	void	   *data;
	int			npending;
	int			cap;
	hub_pair   *pending;
};

struct hub_user
{
	char	   *name;
	uint32_t	hash;
	hub_user   *next;			/* hash chain */
	mana_hub_conn *conns;
};

struct mana_hub
{
	hub_user  **buckets;
	size_t		nbuckets;
	mana_hub_conn *all;
	mana_hub_wake_fn wake;
	void	   *data;
	mana_hub_stats stats;
};

static uint32_t
hub_hash(const char *s)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	while (*s)
	{
		h ^= (unsigned char) *s++;
		h *= 16777619u;
	}
	return h;
}

static char *
hub_strdup(const char *s)
{
	size_t		n = strlen(s);
	char	   *p;

	if (n > MANA_HUB_MAX_NAME)
		return NULL;
	p = malloc(n + 1);
	if (p != NULL)
		memcpy(p, s, n + 1);
	return p;
}

mana_hub *
mana_hub_create(mana_hub_wake_fn wake, void *hub_data)
{
	mana_hub   *hub = calloc(1, sizeof(mana_hub));

	if (hub == NULL)
		return NULL;
	hub->nbuckets = 1024;
	hub->buckets = calloc(hub->nbuckets, sizeof(hub_user *));
	if (hub->buckets == NULL)
	{
		free(hub);
		return NULL;
	}
	hub->wake = wake;
	hub->data = hub_data;
	return hub;
}

static void
free_pending(mana_hub_conn *c, int from, int to)
{
	int			i;

	for (i = from; i < to; i++)
	{
		free(c->pending[i].app);
		free(c->pending[i].table);
	}
}

static void
free_conn(mana_hub_conn *c)
{
	free_pending(c, 0, c->npending);
	free(c->pending);
	free(c->app);
	free(c->client);
	free(c);
}

void
mana_hub_destroy(mana_hub *hub)
{
	size_t		i;

	if (hub == NULL)
		return;
	while (hub->all != NULL)
		mana_hub_leave(hub, hub->all);
	for (i = 0; i < hub->nbuckets; i++)
	{
		while (hub->buckets[i] != NULL)
		{
			hub_user   *u = hub->buckets[i];

			hub->buckets[i] = u->next;
			free(u->name);
			free(u);
		}
	}
	free(hub->buckets);
	free(hub);
}

/* grow the table when users outnumber buckets 2:1 (best effort) */
static void
maybe_grow(mana_hub *hub)
{
	size_t		n = hub->nbuckets * 2;
	hub_user  **nb;
	size_t		i;

	if (hub->stats.users < hub->nbuckets * 2 || n > ((size_t) 1 << 24))
		return;
	nb = calloc(n, sizeof(hub_user *));
	if (nb == NULL)
		return;
	for (i = 0; i < hub->nbuckets; i++)
	{
		while (hub->buckets[i] != NULL)
		{
			hub_user   *u = hub->buckets[i];

			hub->buckets[i] = u->next;
			u->next = nb[u->hash & (n - 1)];
			nb[u->hash & (n - 1)] = u;
		}
	}
	free(hub->buckets);
	hub->buckets = nb;
	hub->nbuckets = n;
}

static hub_user *
find_user(const mana_hub *hub, const char *name, uint32_t h)
{
	hub_user   *u;

	for (u = hub->buckets[h & (hub->nbuckets - 1)]; u != NULL; u = u->next)
		if (u->hash == h && strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

mana_hub_conn *
mana_hub_join(mana_hub *hub, const char *user, const char *app, const char *client,
			  void *conn_data)
{
	uint32_t	h;
	hub_user   *u;
	mana_hub_conn *c;

	if (user == NULL || user[0] == '\0' || strlen(user) > MANA_HUB_MAX_NAME)
		return NULL;
	c = calloc(1, sizeof(mana_hub_conn));
	if (c == NULL)
		return NULL;
	c->app = hub_strdup(app ? app : "");
	c->client = hub_strdup(client ? client : "");
	if (c->app == NULL || c->client == NULL)
	{
		free_conn(c);
		return NULL;
	}
	h = hub_hash(user);
	u = find_user(hub, user, h);
	if (u == NULL)
	{
		u = calloc(1, sizeof(hub_user));
		if (u == NULL || (u->name = hub_strdup(user)) == NULL)
		{
			free(u);
			free_conn(c);
			return NULL;
		}
		u->hash = h;
		u->next = hub->buckets[h & (hub->nbuckets - 1)];
		hub->buckets[h & (hub->nbuckets - 1)] = u;
		hub->stats.users++;
		maybe_grow(hub);
	}
	c->user = u;
	c->data = conn_data;
	c->user_next = u->conns;
	if (u->conns)
		u->conns->user_prev = c;
	u->conns = c;
	c->all_next = hub->all;
	if (hub->all)
		hub->all->all_prev = c;
	hub->all = c;
	hub->stats.conns++;
	return c;
}

void
mana_hub_leave(mana_hub *hub, mana_hub_conn *c)
{
	hub_user   *u;

	if (c == NULL)
		return;
	u = c->user;
	if (c->user_prev)
		c->user_prev->user_next = c->user_next;
	else
		u->conns = c->user_next;
	if (c->user_next)
		c->user_next->user_prev = c->user_prev;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		hub->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	hub->stats.conns--;

	if (u->conns == NULL)
	{
		/* last connection of the user: drop the user */
		hub_user  **pp = &hub->buckets[u->hash & (hub->nbuckets - 1)];

		while (*pp != u)
			pp = &(*pp)->next;
		*pp = u->next;
		free(u->name);
		free(u);
		hub->stats.users--;
	}
	free_conn(c);
}

/* 1: a new pending pair, 0: coalesced, -1: dropped */
static int
hint(mana_hub *hub, mana_hub_conn *c, const char *app, const char *table)
{
	int			i;
	hub_pair	p;

	for (i = 0; i < c->npending; i++)
		if (strcmp(c->pending[i].table, table) == 0 && strcmp(c->pending[i].app, app) == 0)
		{
			hub->stats.hints_coalesced++;
			return 0;
		}
	if (c->npending >= MANA_HUB_MAX_PENDING)
	{
		hub->stats.hints_dropped++;
		return -1;
	}
	if (c->npending == c->cap)
	{
		int			ncap = c->cap ? c->cap * 2 : 4;
		hub_pair   *np = realloc(c->pending, sizeof(hub_pair) * (size_t) ncap);

		if (np == NULL)
		{
			hub->stats.hints_dropped++;
			return -1;
		}
		c->pending = np;
		c->cap = ncap;
	}
	p.app = hub_strdup(app);
	p.table = hub_strdup(table);
	if (p.app == NULL || p.table == NULL)
	{
		free(p.app);
		free(p.table);
		hub->stats.hints_dropped++;
		return -1;
	}
	c->pending[c->npending++] = p;
	hub->stats.hints_queued++;
	if (hub->wake)
		hub->wake(c->data, hub->data);
	return 1;
}

static bool
wants(const mana_hub_conn *c, const char *app, const char *client)
{
	if (c->app[0] != '\0' && strcmp(c->app, app) != 0)
		return false;
	if (client != NULL && client[0] != '\0' && strcmp(c->client, client) == 0)
		return false;			/* the change came from this connection's client */
	return true;
}

int
mana_hub_change(mana_hub *hub, const char *app, const char *table, const char *owner,
				const char *client)
{
	mana_hub_conn *c;
	int			n = 0;

	if (app == NULL || table == NULL || app[0] == '\0' || table[0] == '\0' ||
		strlen(app) > MANA_HUB_MAX_NAME || strlen(table) > MANA_HUB_MAX_NAME)
		return 0;
	if (owner == NULL)
	{
		for (c = hub->all; c != NULL; c = c->all_next)
			if (wants(c, app, client) && hint(hub, c, app, table) >= 0)
				n++;
		return n;
	}
	{
		hub_user   *u = find_user(hub, owner, hub_hash(owner));

		if (u == NULL)
			return 0;
		for (c = u->conns; c != NULL; c = c->user_next)
			if (wants(c, app, client) && hint(hub, c, app, table) >= 0)
				n++;
	}
	return n;
}

int
mana_hub_broadcast(mana_hub *hub, const char *app, const char *const *tables, int ntables)
{
	mana_hub_conn *c;
	int			n = 0;
	int			i;

	for (c = hub->all; c != NULL; c = c->all_next)
	{
		bool		any = false;

		if (app != NULL && c->app[0] != '\0' && strcmp(c->app, app) != 0)
			continue;
		for (i = 0; i < ntables; i++)
			if (hint(hub, c, app != NULL ? app : c->app, tables[i]) >= 0)
				any = true;
		if (any)
			n++;
	}
	return n;
}

bool
mana_hub_pending(const mana_hub_conn *c)
{
	return c != NULL && c->npending > 0;
}

size_t
mana_hub_take(mana_hub *hub, mana_hub_conn *c, char *buf, size_t buflen)
{
	const char *tables[MANA_HUB_MAX_PENDING] = {0};
	int			idx[MANA_HUB_MAX_PENDING] = {0};
	const char *app;
	int			n = 0;
	int			i;
	int			j;
	int			k;
	size_t		len;

	(void) hub;
	if (c == NULL || c->npending == 0)
		return 0;
	app = c->pending[0].app;
	for (i = 0; i < c->npending; i++)
		if (strcmp(c->pending[i].app, app) == 0)
		{
			idx[n] = i;
			tables[n++] = c->pending[i].table;
		}
	/* as many of the app's tables as fit; the rest wait for the next message */
	len = mana_ws_sync_available(app, tables, n, buf, buflen);
	while (len >= buflen && n > 1)
		len = mana_ws_sync_available(app, tables, --n, buf, buflen);
	if (len >= buflen)
		return len;				/* not even one table fits: keep everything */

	/* drop the taken pairs (the first n of that app), keeping the rest in order */
	for (i = 0, j = 0, k = 0; i < c->npending; i++)
	{
		if (k < n && i == idx[k])
		{
			free(c->pending[i].table);
			free(c->pending[i].app);
			k++;
			continue;
		}
		c->pending[j++] = c->pending[i];
	}
	c->npending = j;
	return len;
}

void
mana_hub_get_stats(const mana_hub *hub, mana_hub_stats *out)
{
	*out = hub->stats;
}
