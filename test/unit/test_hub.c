/* Unit tests of the hint hub: routing, sparing the origin, coalescing, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub.h"

typedef struct dev
{
	const char *name;
	int			wakes;
	mana_hub_conn *conn;
} dev;

static void
wake(void *conn_data, void *hub_data)
{
	(void) hub_data;
	((dev *) conn_data)->wakes++;
}

/* the next message of a device, or "" */
static const char *
next_msg(mana_hub *hub, dev *d)
{
	static char buf[4096];
	size_t		n = mana_hub_take(hub, d->conn, buf, sizeof(buf));

	if (n == 0)
		return "";
	assert_true(n < sizeof(buf));
	return buf;
}

static void
test_routing(void **state)
{
	mana_hub   *hub = mana_hub_create(wake, NULL);
	dev			a1 = {"alice-laptop", 0, NULL},
				a2 = {"alice-phone", 0, NULL},
				b1 = {"bob-phone", 0, NULL},
				a3 = {"alice-notes", 0, NULL},
				aall = {"alice-all", 0, NULL};

	(void) state;
	assert_non_null(hub);
	a1.conn = mana_hub_join(hub, "alice", "todo", "alice-laptop", &a1);
	a2.conn = mana_hub_join(hub, "alice", "todo", "alice-phone", &a2);
	b1.conn = mana_hub_join(hub, "bob", "todo", "bob-phone", &b1);
	a3.conn = mana_hub_join(hub, "alice", "notes", "alice-notes", &a3);
	aall.conn = mana_hub_join(hub, "alice", "", "", &aall);

	/* the laptop writes: the phone and the all-apps connection hear, nobody else */
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "alice", "alice-laptop"), 2);
	assert_int_equal(a1.wakes, 0);
	assert_int_equal(a2.wakes, 1);
	assert_int_equal(b1.wakes, 0);
	assert_int_equal(a3.wakes, 0);
	assert_int_equal(aall.wakes, 1);
	assert_string_equal(next_msg(hub, &a2), "{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\"]}");
	assert_string_equal(next_msg(hub, &a2), "");
	assert_string_equal(next_msg(hub, &aall), "{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\"]}");
	assert_false(mana_hub_pending(a1.conn));
	assert_false(mana_hub_pending(b1.conn));

	/* a server write (no client) reaches every device of the user in that app */
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "alice", NULL), 3);
	assert_true(mana_hub_pending(a1.conn));
	assert_false(mana_hub_pending(a3.conn));
	/* another user's change reaches only that user */
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "bob", ""), 1);
	assert_true(mana_hub_pending(b1.conn));
	/* an unknown user: nobody */
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "carol", NULL), 0);
	/* owner NULL: every user of the app */
	assert_int_equal(mana_hub_change(hub, "notes", "pages", NULL, NULL), 2);	/* a3 and aall */
	mana_hub_destroy(hub);
}

static void
test_coalescing(void **state)
{
	mana_hub   *hub = mana_hub_create(wake, NULL);
	dev			d = {"d", 0, NULL};
	mana_hub_stats st;
	int			i;
	char		buf[64];

	(void) state;
	d.conn = mana_hub_join(hub, "u", "", "me", &d);
	for (i = 0; i < 1000; i++)
		mana_hub_change(hub, "todo", "tasks", "u", "other");
	mana_hub_change(hub, "todo", "lists", "u", "other");
	mana_hub_change(hub, "notes", "pages", "u", "other");
	mana_hub_change(hub, "todo", "tasks", "u", "other");
	mana_hub_get_stats(hub, &st);
	assert_int_equal(st.hints_queued, 3);
	assert_int_equal(st.hints_coalesced, 1000);
	assert_int_equal(d.wakes, 3);
	/* one message per app, tables in arrival order */
	assert_string_equal(next_msg(hub, &d), "{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\",\"lists\"]}");
	/* a buffer too small for even one table takes nothing */
	assert_true(mana_hub_take(hub, d.conn, buf, 10) >= 10);
	assert_true(mana_hub_pending(d.conn));
	assert_string_equal(next_msg(hub, &d), "{\"type\":\"sync-available\",\"appId\":\"notes\",\"tables\":[\"pages\"]}");
	assert_string_equal(next_msg(hub, &d), "");
	mana_hub_destroy(hub);
}

static void
test_bounded(void **state)
{
	mana_hub   *hub = mana_hub_create(NULL, NULL);
	mana_hub_conn *c = mana_hub_join(hub, "u", "app", "", NULL);
	mana_hub_stats st;
	char		t[32];
	int			i;

	(void) state;
	for (i = 0; i < MANA_HUB_MAX_PENDING + 50; i++)
	{
		snprintf(t, sizeof(t), "t%d", i);
		mana_hub_change(hub, "app", t, "u", NULL);
	}
	mana_hub_get_stats(hub, &st);
	assert_int_equal(st.hints_queued, MANA_HUB_MAX_PENDING);
	assert_int_equal(st.hints_dropped, 50);
	mana_hub_leave(hub, c);
	mana_hub_get_stats(hub, &st);
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.users, 0);
	mana_hub_destroy(hub);
}

static void
test_broadcast_and_limits(void **state)
{
	mana_hub   *hub = mana_hub_create(wake, NULL);
	dev			a = {"a", 0, NULL},
				b = {"b", 0, NULL},
				c = {"c", 0, NULL};
	const char *tables[] = {"tasks", "lists"};
	char		longname[MANA_HUB_MAX_NAME + 2];

	(void) state;
	a.conn = mana_hub_join(hub, "u1", "todo", "a", &a);
	b.conn = mana_hub_join(hub, "u2", "", "b", &b);
	c.conn = mana_hub_join(hub, "u3", "notes", "c", &c);
	/* after a lost intake: everyone of the app, origin or not */
	assert_int_equal(mana_hub_broadcast(hub, "todo", tables, 2), 2);
	assert_string_equal(next_msg(hub, &a), "{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\",\"lists\"]}");
	assert_string_equal(next_msg(hub, &b), "{\"type\":\"sync-available\",\"appId\":\"todo\",\"tables\":[\"tasks\",\"lists\"]}");
	assert_false(mana_hub_pending(c.conn));

	/* names over the limit are refused, never truncated */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(mana_hub_join(hub, longname, "", "", NULL));
	assert_null(mana_hub_join(hub, "", "", "", NULL));
	assert_null(mana_hub_join(hub, "u", longname, "", NULL));
	assert_int_equal(mana_hub_change(hub, longname, "t", "u1", NULL), 0);
	assert_int_equal(mana_hub_change(hub, "todo", "", "u1", NULL), 0);

	/* leaving in any order keeps the lists sound */
	mana_hub_leave(hub, b.conn);
	mana_hub_leave(hub, a.conn);
	assert_int_equal(mana_hub_change(hub, "notes", "p", "u3", NULL), 1);
	mana_hub_leave(hub, c.conn);
	mana_hub_destroy(hub);
}

/* many long table names: split over several messages, none lost */
static void
test_split_messages(void **state)
{
	mana_hub   *hub = mana_hub_create(NULL, NULL);
	mana_hub_conn *c = mana_hub_join(hub, "u", "", "", NULL);
	char		t[MANA_HUB_MAX_NAME + 1];
	char		buf[2048];
	int			i;
	int			msgs = 0;
	int			tables = 0;
	size_t		n;

	(void) state;
	for (i = 0; i < 40; i++)
	{
		memset(t, 'a' + (i % 26), MANA_HUB_MAX_NAME);
		snprintf(t + MANA_HUB_MAX_NAME - 4, 5, "%04d", i);
		assert_int_equal(mana_hub_change(hub, "app", t, "u", NULL), 1);
	}
	while ((n = mana_hub_take(hub, c, buf, sizeof(buf))) > 0)
	{
		char		suffix[8];

		assert_true(n < sizeof(buf));
		msgs++;
		/* each name ends with its number and a quote */
		for (i = 0; i < 40; i++)
		{
			snprintf(suffix, sizeof(suffix), "%04d\"", i);
			if (strstr(buf, suffix) != NULL)
				tables++;
		}
	}
	assert_false(mana_hub_pending(c));
	assert_true(msgs > 1);
	assert_int_equal(tables, 40);
	mana_hub_destroy(hub);
}

static void
test_many_users(void **state)
{
	mana_hub   *hub = mana_hub_create(NULL, NULL);
	mana_hub_conn *conns[5000];
	mana_hub_stats st;
	char		name[32];
	int			i;

	(void) state;
	for (i = 0; i < 5000; i++)
	{
		snprintf(name, sizeof(name), "user%d", i % 2500);	/* two devices each */
		conns[i] = mana_hub_join(hub, name, "todo", "", NULL);
		assert_non_null(conns[i]);
	}
	mana_hub_get_stats(hub, &st);
	assert_int_equal(st.users, 2500);
	assert_int_equal(st.conns, 5000);
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "user1234", NULL), 2);
	/* every user loses one of its two devices */
	for (i = 0; i < 2500; i++)
		mana_hub_leave(hub, conns[i]);
	mana_hub_get_stats(hub, &st);
	assert_int_equal(st.users, 2500);
	assert_int_equal(st.conns, 2500);
	assert_int_equal(mana_hub_change(hub, "todo", "tasks", "user1234", NULL), 1);
	mana_hub_destroy(hub);		/* frees the rest (LeakSanitizer checks) */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_broadcast_and_limits),
		cmocka_unit_test(test_split_messages),
		cmocka_unit_test(test_many_users),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
