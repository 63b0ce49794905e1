/*
 * fuzz_hub.c
 *     libFuzzer harness for src/core/hub.c (with wsproto.c and json.c).
 *
 * The input is a small program of hub operations on 8 connection slots,
 * run against a mana_hub and, in parallel, against a plain model of the
 * documented behaviour (hub.h).  Names come from a small pool (so users,
 * apps, tables and clients collide), from the input itself, or are long
 * (255..258 bytes, around MANA_HUB_MAX_NAME), or NULL.
 *
 *   op % 9   operation
 *     0      join a slot (leaving its connection first): user, app, client
 *     1      join a slot as the user of another slot
 *     2      leave a slot (an empty slot: mana_hub_leave(hub, NULL))
 *     3      change(app, table, owner or NULL, client or NULL)
 *     4      change with the owner and client of existing slots
 *     5      broadcast(app or NULL, 0..4 tables)
 *     6      take from a slot into a buffer of 0..65536 bytes
 *     7      flood: up to 63 distinct tables for one app, or (rarely,
 *            as it is slow) 250..278, past MANA_HUB_MAX_PENDING
 *     8      join up to 63 extra users, or (rarely) 2040..2280 so the
 *            user table grows, then leave them all again, forwards or
 *            backwards
 *
 * After every operation: the return values, the stats (queued, coalesced,
 * dropped, users, conns), mana_hub_pending and the wake calls per
 * connection match the model; take returns exactly the
 * mana_ws_sync_available message of the first pending app's first n tables
 * with n as large as fits (or nothing taken and the length needed), and the
 * message is valid JSON.  The hub is destroyed at the end with connections
 * and hints still in it: LeakSanitizer checks that everything is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "json.h"
#include "wsproto.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOT 8
#define MAX_OPS 2048

typedef struct pair
{
	char	   *app;
	char	   *table;
} pair;

typedef struct slot
{
	mana_hub_conn *conn;		/* NULL: empty */
	char	   *user;
	char	   *app;
	char	   *client;
	pair	   *pairs;
	int			npairs;
	long		wakes;			/* wake calls seen */
	long		wakes_want;		/* new pairs in the model */
} slot;

static slot slots[NSLOT];
static mana_hub_stats want;
static int	hub_tag;
static char *arena_mem;
#define ARENA_SIZE (1u << 20)

/* --------------------------------------------------------------- input */

typedef struct reader
{
	const uint8_t *d;
	size_t		n;
	size_t		pos;
} reader;

static unsigned
byte(reader *r)
{
	return r->pos < r->n ? r->d[r->pos++] : 0;
}

static const char *const pool[8] = {"", "a", "b", "todo", "notes", "u1", "u2", "c1"};

/* a name into buf (at least 260 bytes), or NULL when allow_null */
static const char *
name(reader *r, char *buf, int allow_null)
{
	unsigned	b = byte(r);

	if (b < 0xe0)
		return pool[b & 7];
	if (b < 0xf8)
	{
		size_t		len = byte(r) % 64;
		size_t		i;

		for (i = 0; i < len && r->pos < r->n; i++)
			buf[i] = (char) r->d[r->pos++];
		buf[i] = '\0';			/* an embedded NUL just ends it earlier */
		return buf;
	}
	if (b < 0xfc)
	{
		size_t		len = 255 + (b - 0xf8);
		char		fill = (char) ('a' + byte(r) % 3);

		memset(buf, fill, len);
		buf[len] = '\0';
		return buf;
	}
	return allow_null ? NULL : "";
}

/* --------------------------------------------------------------- model */

/*
 * The model's string comparisons are neither instrumented nor intercepted:
 * they cost time on every run and would only steer the fuzzer towards
 * comparisons the hub makes anyway.
 */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

NO_COVERAGE static int
streq(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b)
	{
		a++;
		b++;
	}
	return *a == *b;
}

static char *
xstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static void
slot_clear(slot *s)
{
	int			i;

	for (i = 0; i < s->npairs; i++)
	{
		free(s->pairs[i].app);
		free(s->pairs[i].table);
	}
	free(s->pairs);
	free(s->user);
	free(s->app);
	free(s->client);
	memset(s, 0, sizeof(*s));
}

static void
wake(void *conn_data, void *hub_data)
{
	slot	   *s = conn_data;

	if (hub_data != &hub_tag)
		abort();
	if (s == NULL)
		return;					/* the extra connections of op 8 */
	if (s < slots || s >= slots + NSLOT || s->conn == NULL)
		abort();
	s->wakes++;
}

/* hint of the model: 1 new, 0 coalesced, -1 dropped */
NO_COVERAGE static int
model_hint(slot *s, const char *app, const char *table)
{
	int			i;

	for (i = 0; i < s->npairs; i++)
		if (streq(s->pairs[i].app, app) && streq(s->pairs[i].table, table))
		{
			want.hints_coalesced++;
			return 0;
		}
	if (s->npairs >= MANA_HUB_MAX_PENDING || strlen(app) > MANA_HUB_MAX_NAME ||
		strlen(table) > MANA_HUB_MAX_NAME)
	{
		want.hints_dropped++;
		return -1;
	}
	if (s->pairs == NULL)
	{
		s->pairs = malloc(sizeof(pair) * MANA_HUB_MAX_PENDING);
		if (s->pairs == NULL)
			abort();
	}
	s->pairs[s->npairs].app = xstrdup(app);
	s->pairs[s->npairs].table = xstrdup(table);
	s->npairs++;
	want.hints_queued++;
	s->wakes_want++;
	return 1;
}

NO_COVERAGE static int
model_change(const char *app, const char *table, const char *owner, const char *client)
{
	int			n = 0;
	int			i;

	if (app == NULL || table == NULL || app[0] == '\0' || table[0] == '\0' ||
		strlen(app) > MANA_HUB_MAX_NAME || strlen(table) > MANA_HUB_MAX_NAME)
		return 0;
	for (i = 0; i < NSLOT; i++)
	{
		slot	   *s = &slots[i];

		if (s->conn == NULL)
			continue;
		if (owner != NULL && !streq(s->user, owner))
			continue;
		if (s->app[0] != '\0' && !streq(s->app, app))
			continue;
		if (client != NULL && client[0] != '\0' && streq(s->client, client))
			continue;
		if (model_hint(s, app, table) >= 0)
			n++;
	}
	return n;
}

NO_COVERAGE static int
model_broadcast(const char *app, const char *const *tables, int nt)
{
	int			n = 0;
	int			i,
				j;

	for (i = 0; i < NSLOT; i++)
	{
		slot	   *s = &slots[i];
		int			any = 0;

		if (s->conn == NULL)
			continue;
		if (app != NULL && s->app[0] != '\0' && !streq(s->app, app))
			continue;
		for (j = 0; j < nt; j++)
			if (model_hint(s, app != NULL ? app : s->app, tables[j]) >= 0)
				any = 1;
		n += any;
	}
	return n;
}

static void
check_state(mana_hub *hub)
{
	mana_hub_stats st;
	int			i,
				j;
	uint64_t	users = 0,
				conns = 0;

	for (i = 0; i < NSLOT; i++)
	{
		int			seen = 0;

		if (slots[i].conn == NULL)
			continue;
		conns++;
		for (j = 0; j < i; j++)
			if (slots[j].conn != NULL && streq(slots[j].user, slots[i].user))
				seen = 1;
		if (!seen)
			users++;
		if (mana_hub_pending(slots[i].conn) != (slots[i].npairs > 0))
			abort();
		if (slots[i].wakes != slots[i].wakes_want)
			abort();
	}
	want.users = users;
	want.conns = conns;
	mana_hub_get_stats(hub, &st);
	if (memcmp(&st, &want, sizeof(st)) != 0)
	{
		fprintf(stderr, "hub stats: queued %llu/%llu coalesced %llu/%llu dropped %llu/%llu "
				"users %llu/%llu conns %llu/%llu (hub/model)\n",
				(unsigned long long) st.hints_queued, (unsigned long long) want.hints_queued,
				(unsigned long long) st.hints_coalesced, (unsigned long long) want.hints_coalesced,
				(unsigned long long) st.hints_dropped, (unsigned long long) want.hints_dropped,
				(unsigned long long) st.users, (unsigned long long) want.users,
				(unsigned long long) st.conns, (unsigned long long) want.conns);
		abort();
	}
}

/* ------------------------------------------------------------ operations */

static void
op_leave(mana_hub *hub, slot *s)
{
	if (s->conn == NULL)
	{
		mana_hub_leave(hub, NULL);
		return;
	}
	mana_hub_leave(hub, s->conn);
	slot_clear(s);
}

static void
op_join(mana_hub *hub, slot *s, const char *user, const char *app, const char *client)
{
	mana_hub_conn *c;
	int			ok;

	if (s->conn != NULL)
		op_leave(hub, s);
	ok = user != NULL && user[0] != '\0' && strlen(user) <= MANA_HUB_MAX_NAME &&
		(app == NULL || strlen(app) <= MANA_HUB_MAX_NAME) &&
		(client == NULL || strlen(client) <= MANA_HUB_MAX_NAME);
	c = mana_hub_join(hub, user, app, client, s);
	if ((c != NULL) != ok)
		abort();
	if (c == NULL)
		return;
	s->conn = c;
	s->user = xstrdup(user);
	s->app = xstrdup(app ? app : "");
	s->client = xstrdup(client ? client : "");
}

static size_t
sync_len(const char *app, const char **tables, int n)
{
	return mana_ws_sync_available(app, tables, n, NULL, 0);
}

static void
op_take(mana_hub *hub, slot *s, size_t buflen)
{
	char	   *buf = malloc(buflen ? buflen : 1);
	const char *tables[MANA_HUB_MAX_PENDING];
	int			idx[MANA_HUB_MAX_PENDING];
	int			m = 0;
	int			n;
	int			i,
				j,
				k;
	const char *app;
	size_t		got;
	size_t		need;

	if (buf == NULL)
		abort();
	got = mana_hub_take(hub, s->conn, buf, buflen);
	if (s->conn == NULL || s->npairs == 0)
	{
		if (got != 0)
			abort();
		free(buf);
		return;
	}
	app = s->pairs[0].app;
	for (i = 0; i < s->npairs; i++)
		if (streq(s->pairs[i].app, app))
		{
			idx[m] = i;
			tables[m++] = s->pairs[i].table;
		}
	/* the largest n whose message fits (the length grows with n) */
	{
		int			lo = 0,
					hi = m;

		while (lo < hi)
		{
			int			mid = lo + (hi - lo + 1) / 2;

			if (sync_len(app, tables, mid) < buflen)
				lo = mid;
			else
				hi = mid - 1;
		}
		n = lo;
	}
	if (n == 0)
	{
		/* nothing taken: the length needed for one table */
		if (got != sync_len(app, tables, 1))
			abort();
		free(buf);
		return;
	}
	need = sync_len(app, tables, n);
	if (got != need)
		abort();
	{
		char	   *exp = malloc(need + 1);
		mana_arena	a;
		const mana_json *r;

		if (exp == NULL)
			abort();
		mana_ws_sync_available(app, tables, n, exp, need + 1);
		if (memcmp(buf, exp, need + 1) != 0)
			abort();
		free(exp);
		a.buf = arena_mem;
		a.size = ARENA_SIZE;
		a.used = 0;
		r = mana_json_parse(buf, need, &a, NULL);
		if (r == NULL || r->type != MANA_JSON_OBJECT)
			abort();
		r = mana_json_get(r, "tables");
		if (r == NULL || r->type != MANA_JSON_ARRAY || r->count != (size_t) n)
			abort();
	}
	/* the model drops the first n pairs of that app, keeping the order */
	for (i = 0, j = 0, k = 0; i < s->npairs; i++)
	{
		if (k < n && i == idx[k])
		{
			free(s->pairs[i].app);
			free(s->pairs[i].table);
			k++;
			continue;
		}
		s->pairs[j++] = s->pairs[i];
	}
	s->npairs = j;
	free(buf);
}

static void
op_many(mana_hub *hub, int count, int backwards)
{
	mana_hub_conn **extra = calloc((size_t) count + 1, sizeof(*extra));
	char		user[32];
	int			i;
	mana_hub_stats st;

	if (extra == NULL)
		abort();
	for (i = 0; i < count; i++)
	{
		/* distinct from every pool and slot name that has no '#' */
		snprintf(user, sizeof(user), "#many%d", i);
		extra[i] = mana_hub_join(hub, user, "", "", NULL);
		if (extra[i] == NULL)
			abort();
	}
	mana_hub_get_stats(hub, &st);
	if (st.conns != want.conns + (uint64_t) count)
		abort();
	for (i = 0; i < count; i++)
		mana_hub_leave(hub, extra[backwards ? count - 1 - i : i]);
	free(extra);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reader		r = {data, size, 0};
	mana_hub   *hub;
	char		nb[4][260];
	int			ops = 0;
	int			i;

	if (arena_mem == NULL && (arena_mem = malloc(ARENA_SIZE)) == NULL)
		abort();
	memset(&want, 0, sizeof(want));
	memset(slots, 0, sizeof(slots));
	hub = mana_hub_create(wake, &hub_tag);
	if (hub == NULL)
		abort();

	while (r.pos < r.n && ops++ < MAX_OPS)
	{
		unsigned	op = byte(&r) % 9;

		switch (op)
		{
			case 0:
				{
					slot	   *s = &slots[byte(&r) % NSLOT];
					const char *u = name(&r, nb[0], 1);
					const char *a = name(&r, nb[1], 1);
					const char *c = name(&r, nb[2], 1);

					op_join(hub, s, u, a, c);
					break;
				}
			case 1:
				{
					slot	   *s = &slots[byte(&r) % NSLOT];
					slot	   *o = &slots[byte(&r) % NSLOT];
					const char *a = name(&r, nb[1], 1);
					const char *c = name(&r, nb[2], 1);

					if (o->conn == NULL || o == s)
						break;
					snprintf(nb[0], sizeof(nb[0]), "%s", o->user);
					op_join(hub, s, nb[0], a, c);
					break;
				}
			case 2:
				op_leave(hub, &slots[byte(&r) % NSLOT]);
				break;
			case 3:
				{
					const char *a = name(&r, nb[0], 1);
					const char *t = name(&r, nb[1], 1);
					const char *o = name(&r, nb[2], 1);
					const char *c = name(&r, nb[3], 1);
					int			w = model_change(a, t, o, c);

					if (mana_hub_change(hub, a, t, o, c) != w)
						abort();
					break;
				}
			case 4:
				{
					const char *a = name(&r, nb[0], 0);
					const char *t = name(&r, nb[1], 0);
					slot	   *os = &slots[byte(&r) % NSLOT];
					slot	   *cs = &slots[byte(&r) % NSLOT];
					const char *o = os->conn ? os->user : NULL;
					const char *c = cs->conn ? cs->client : NULL;
					int			w = model_change(a, t, o, c);

					if (mana_hub_change(hub, a, t, o, c) != w)
						abort();
					break;
				}
			case 5:
				{
					const char *a = name(&r, nb[0], 1);
					int			nt = (int) (byte(&r) % 5);
					const char *tables[4];
					char		own[4][260];
					int			w;

					for (i = 0; i < nt; i++)
						tables[i] = name(&r, own[i], 0);
					w = model_broadcast(a, tables, nt);
					if (mana_hub_broadcast(hub, a, tables, nt) != w)
						abort();
					break;
				}
			case 6:
				{
					slot	   *s = &slots[byte(&r) % NSLOT];
					unsigned	b = byte(&r);
					size_t		buflen;

					if (b < 0x80)
						buflen = b;
					else if (b < 0xf0)
						buflen = 128 + (size_t) (b - 0x80) * 16;
					else
						buflen = 65536;
					op_take(hub, s, buflen);
					break;
				}
			case 7:
				{
					const char *a = name(&r, nb[0], 0);
					unsigned	b = byte(&r);
					/* past MANA_HUB_MAX_PENDING only for b >= 0xf8 (slow) */
					int			count = b >= 0xf8 ? 250 + (int) (b & 7) * 4 : (int) (b & 0x3f);
					char		t[32];

					for (i = 0; i < count; i++)
					{
						int			w;

						snprintf(t, sizeof(t), "t%d", i);
						w = model_change(a, t, NULL, NULL);
						if (mana_hub_change(hub, a, t, NULL, NULL) != w)
							abort();
					}
					break;
				}
			case 8:
				{
					unsigned	b = byte(&r);
					/* past 2048 users (the table grows) only for b >= 0xf0 */
					int			count = b >= 0xf0 ? 2040 + (int) (b & 15) * 16 : (int) (b & 0x3f);

					op_many(hub, count, (int) (byte(&r) & 1));
					break;
				}
		}
		check_state(hub);
	}

	/* destroy with whatever is still joined and pending */
	mana_hub_destroy(hub);
	for (i = 0; i < NSLOT; i++)
		slot_clear(&slots[i]);
	return 0;
}
