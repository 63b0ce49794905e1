/*
 * fuzz_cursor.c
 *     libFuzzer harness for src/core/cursor.c (and b64url.c, iso8601.c).
 *
 * The same input goes to mana_cursor_decode and to mana_snapshot_parse.
 * Every allocation made through the alloc callback is tracked and freed at
 * the end of the run (also after a failed decode), so LeakSanitizer stays
 * quiet and ASan sees each array at its exact size.
 *
 * Checked on success:
 *  - decoded snapshots are well formed (xmin <= xmax, xip ascending within
 *    [xmin, xmax)), a last id is 1..MANA_CURSOR_MAX_ID bytes without NUL;
 *  - encode (snprintf-like: the NULL/0 size query, the full write and a
 *    truncated write agree) gives text that decodes to an equal cursor and
 *    encodes to the very same text again;
 *  - a snapshot formats to text that parses back equal; visibility agrees
 *    with the definition; mana_snapshot_include makes the xid visible and
 *    changes the visibility of nothing else.
 *
 * The same bytes are also read as a binary mana_cursor (mostly well formed,
 * sometimes not): mana_cursor_encode must write nothing (0) exactly when
 * the structure is not one the decoder would give back, and otherwise text
 * that decodes to an equal cursor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "iso8601.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------ tracking allocator */

static void **allocs;
static size_t nallocs;
static size_t capallocs;

static void *
track_alloc(size_t size)
{
	void	   *p;

	if (nallocs == capallocs)
	{
		size_t		ncap = capallocs ? capallocs * 2 : 16;
		void	  **n = realloc(allocs, ncap * sizeof(void *));

		if (n == NULL)
			return NULL;
		allocs = n;
		capallocs = ncap;
	}
	p = malloc(size ? size : 1);
	if (p != NULL)
		allocs[nallocs++] = p;
	return p;
}

static void
track_free_all(void)
{
	size_t		i;

	for (i = 0; i < nallocs; i++)
		free(allocs[i]);
	nallocs = 0;
}

/* ------------------------------------------------------------ checks */

static void
check_snapshot(const mana_snapshot *s)
{
	uint32_t	i;

	if (s->xmin > s->xmax)
		abort();
	if ((s->nxip == 0) != (s->xip == NULL))
		abort();
	for (i = 0; i < s->nxip; i++)
	{
		if (s->xip[i] < s->xmin || s->xip[i] >= s->xmax)
			abort();
		if (i > 0 && s->xip[i] <= s->xip[i - 1])
			abort();
	}
}

static int
snapshot_equal(const mana_snapshot *a, const mana_snapshot *b)
{
	return a->xmin == b->xmin && a->xmax == b->xmax && a->nxip == b->nxip &&
		(a->nxip == 0 || memcmp(a->xip, b->xip, a->nxip * sizeof(uint64_t)) == 0);
}

static int
cursor_equal(const mana_cursor *a, const mana_cursor *b)
{
	if (a->ts_ms != b->ts_ms || a->has_snap != b->has_snap || a->has_page != b->has_page)
		return 0;
	if (a->has_snap && !snapshot_equal(&a->snap, &b->snap))
		return 0;
	if (a->has_page)
	{
		if (!snapshot_equal(&a->page, &b->page) || a->last_xid != b->last_xid ||
			a->last_id_len != b->last_id_len ||
			memcmp(a->last_id, b->last_id, a->last_id_len) != 0)
			return 0;
	}
	return 1;
}

/* pg_visible_in_snapshot, spelled out */
static int
visible_ref(const mana_snapshot *s, uint64_t xid)
{
	uint32_t	i;

	if (xid < s->xmin)
		return 1;
	if (xid >= s->xmax)
		return 0;
	for (i = 0; i < s->nxip; i++)
		if (s->xip[i] == xid)
			return 0;
	return 1;
}

/* xids worth probing around a snapshot (and one extra xid) */
static size_t
probe_points(const mana_snapshot *s, uint64_t extra, uint64_t *out, size_t cap)
{
	size_t		n = 0;
	uint64_t	base[8];
	size_t		nb = 0;
	size_t		i;
	int			d;

	base[nb++] = s->xmin;
	base[nb++] = s->xmax;
	base[nb++] = extra;
	if (s->nxip > 0)
	{
		base[nb++] = s->xip[0];
		base[nb++] = s->xip[s->nxip / 2];
		base[nb++] = s->xip[s->nxip - 1];
	}
	for (i = 0; i < nb; i++)
		for (d = -1; d <= 1; d++)
		{
			uint64_t	x = base[i] + (uint64_t) (int64_t) d;

			/* skip wrapped values */
			if ((d < 0 && base[i] == 0) || (d > 0 && base[i] == UINT64_MAX))
				continue;
			if (n < cap)
				out[n++] = x;
		}
	return n;
}

static void
check_visibility(const mana_snapshot *s, uint64_t extra)
{
	uint64_t	pts[32];
	size_t		n = probe_points(s, extra, pts, 32);
	size_t		i;

	for (i = 0; i < n; i++)
		if ((int) mana_snapshot_visible(s, pts[i]) != visible_ref(s, pts[i]))
			abort();
	for (i = 0; i < s->nxip; i++)
		if (mana_snapshot_visible(s, s->xip[i]))
			abort();
}

static void
check_snapshot_roundtrip(const mana_snapshot *s)
{
	size_t		need = mana_snapshot_format(s, NULL, 0);
	char	   *buf;
	mana_snapshot back;

	if (need == 0)
		abort();
	buf = malloc(need + 1);
	if (buf == NULL)
		return;
	if (mana_snapshot_format(s, buf, need + 1) != need || strlen(buf) != need)
		abort();
	if (mana_snapshot_parse(buf, need, &back, track_alloc) != 0)
		abort();
	if (!snapshot_equal(s, &back))
		abort();
	/* a truncated write is a NUL-terminated prefix */
	if (need > 1)
	{
		char	   *small = malloc(need / 2 + 1);

		if (small != NULL)
		{
			if (mana_snapshot_format(s, small, need / 2 + 1) != need ||
				strlen(small) != need / 2 || memcmp(small, buf, need / 2) != 0)
				abort();
			free(small);
		}
	}
	free(buf);
}

static void
check_include(const mana_snapshot *orig, const uint8_t *data, size_t size)
{
	mana_snapshot s = *orig;
	uint64_t	xid;
	uint32_t	max_added = 64;
	uint64_t	pts[32];
	size_t		n;
	size_t		i;
	int			before[32];
	unsigned	pick = size > 0 ? data[size - 1] : 0;

	switch (pick % 4)
	{
		case 0:
			xid = orig->nxip > 0 ? orig->xip[pick % orig->nxip] : orig->xmin;
			break;
		case 1:
			xid = orig->xmax + (pick >> 2);	/* may wrap: then visible, a no-op */
			break;
		case 2:
			xid = orig->xmin > 0 ? orig->xmin - 1 : 0;
			break;
		default:
			xid = orig->xmax + 1000;	/* over max_added: refused */
			break;
	}
	n = probe_points(orig, xid, pts, 32);
	for (i = 0; i < n; i++)
		before[i] = visible_ref(orig, pts[i]);
	if (mana_snapshot_include(&s, xid, max_added, track_alloc) != 0)
	{
		if (!snapshot_equal(&s, orig) || s.xip != orig->xip)
			abort();			/* refused: untouched */
		if (xid - orig->xmax <= max_added && xid >= orig->xmax && xid != UINT64_MAX)
			abort();			/* should have been accepted */
		return;
	}
	check_snapshot(&s);
	if (!mana_snapshot_visible(&s, xid))
		abort();
	for (i = 0; i < n; i++)
		if (pts[i] != xid && visible_ref(&s, pts[i]) != before[i])
			abort();
	/* the original's array is not modified in place */
	check_snapshot(orig);
	check_snapshot_roundtrip(&s);
}

static void
check_cursor(const mana_cursor *c)
{
	size_t		need;
	char	   *buf;
	char	   *buf2;
	mana_cursor back;

	if (c->ts_ms < MANA_ISO_MIN_MS || c->ts_ms > MANA_ISO_MAX_MS)
		abort();
	if (c->has_snap)
		check_snapshot(&c->snap);
	if (c->has_page)
	{
		check_snapshot(&c->page);
		if (c->last_id == NULL || c->last_id_len == 0 ||
			c->last_id_len > MANA_CURSOR_MAX_ID ||
			c->last_id[c->last_id_len] != '\0' ||
			strlen(c->last_id) != c->last_id_len)
			abort();
	}
	else if (c->last_id != NULL)
		abort();

	need = mana_cursor_encode(c, NULL, 0);
	if (need < 24)
		abort();				/* every decoded cursor must encode */
	buf = malloc(need + 1);
	buf2 = malloc(need + 1);
	if (buf == NULL || buf2 == NULL)
	{
		free(buf);
		free(buf2);
		return;
	}
	if (mana_cursor_encode(c, buf, need + 1) != need || strlen(buf) != need)
		abort();
	if (mana_cursor_decode(buf, need, &back, track_alloc) != 0)
		abort();
	if (!cursor_equal(c, &back))
		abort();
	/* the encoding is canonical: encoding the decoded text again is a fixpoint */
	if (mana_cursor_encode(&back, buf2, need + 1) != need || memcmp(buf, buf2, need + 1) != 0)
		abort();
	/* truncated output: NUL-terminated prefix, same return value */
	{
		size_t		cut = need / 3;
		char	   *small = malloc(cut + 1);

		if (small != NULL)
		{
			if (mana_cursor_encode(c, small, cut + 1) != need || strlen(small) != cut ||
				memcmp(small, buf, cut) != 0)
				abort();
			free(small);
		}
	}
	free(buf);
	free(buf2);
}

/* ------------------------------------------- encoding arbitrary structs */

typedef struct breader
{
	const uint8_t *d;
	size_t		n;
	size_t		pos;
} breader;

static unsigned
rd8(breader *r)
{
	return r->pos < r->n ? r->d[r->pos++] : 0;
}

static uint64_t
rd64(breader *r)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | rd8(r);
	return v;
}

/* a snapshot, well formed unless raw (then anything, even xip NULL) */
static void
rd_snapshot(breader *r, int raw, mana_snapshot *s)
{
	uint32_t	i;

	s->xmin = rd64(r);
	s->nxip = rd8(r) % 6;
	if (raw)
	{
		s->xmax = rd64(r);
		if (s->nxip > 0 && (rd8(r) & 1))
		{
			s->xip = NULL;
			return;
		}
	}
	else
		s->xmax = s->xmin + rd8(r);	/* may wrap: then not well formed */
	s->xip = s->nxip ? track_alloc(s->nxip * sizeof(uint64_t)) : NULL;
	if (s->nxip > 0 && s->xip == NULL)
		abort();
	for (i = 0; i < s->nxip; i++)
		s->xip[i] = raw ? rd64(r) : (i ? s->xip[i - 1] : s->xmin) + rd8(r) % 3;
}

static int
snapshot_ok(const mana_snapshot *s)
{
	uint32_t	i;

	if (s->xmin > s->xmax || (s->nxip > 0 && s->xip == NULL))
		return 0;
	for (i = 0; i < s->nxip; i++)
		if (s->xip[i] < s->xmin || s->xip[i] >= s->xmax ||
			(i > 0 && s->xip[i] <= s->xip[i - 1]))
			return 0;
	return 1;
}

static void
check_encode_struct(const uint8_t *data, size_t size)
{
	breader		r = {data, size, 0};
	mana_cursor c;
	mana_cursor back;
	unsigned	flags;
	uint64_t	u;
	int			valid;
	size_t		need;
	char	   *buf;

	memset(&c, 0, sizeof(c));
	u = rd64(&r);
	/* mostly near the valid range of instants */
	if (u & 1)
		c.ts_ms = (int64_t) (u % (uint64_t) (MANA_ISO_MAX_MS - MANA_ISO_MIN_MS + 3))
			+ MANA_ISO_MIN_MS - 1;
	else
		c.ts_ms = (int64_t) u;
	flags = rd8(&r);
	c.has_snap = flags & 1;
	c.has_page = (flags & 2) != 0;
	if (c.has_snap)
		rd_snapshot(&r, flags & 4, &c.snap);
	if (c.has_page)
	{
		unsigned	len = rd8(&r);

		rd_snapshot(&r, flags & 8, &c.page);
		c.last_xid = rd64(&r);
		if (len >= 0xfe)
		{
			/* at and over the limit */
			c.last_id_len = MANA_CURSOR_MAX_ID + (len - 0xfe);
			c.last_id = track_alloc(c.last_id_len + 1);
			if (c.last_id == NULL)
				abort();
			memset(c.last_id, 'x', c.last_id_len);
		}
		else
		{
			size_t		i;

			c.last_id_len = len % 16;	/* 0: refused */
			c.last_id = track_alloc(c.last_id_len + 1);
			if (c.last_id == NULL)
				abort();
			for (i = 0; i < c.last_id_len; i++)
				c.last_id[i] = (char) rd8(&r);	/* a NUL: refused */
		}
		c.last_id[c.last_id_len] = '\0';
		if (flags & 16)
			c.last_id = NULL;	/* refused */
	}

	valid = c.ts_ms >= MANA_ISO_MIN_MS && c.ts_ms <= MANA_ISO_MAX_MS &&
		(!c.has_snap || snapshot_ok(&c.snap)) &&
		(!c.has_page || (snapshot_ok(&c.page) && c.last_id != NULL &&
						 c.last_id_len > 0 && c.last_id_len <= MANA_CURSOR_MAX_ID &&
						 memchr(c.last_id, 0, c.last_id_len) == NULL));

	/* the snapshot formatter: snprintf-like on anything */
	if (c.has_snap)
	{
		size_t		n = mana_snapshot_format(&c.snap, NULL, 0);
		char	   *t = malloc(n + 1);

		if (t == NULL)
			abort();
		if (mana_snapshot_format(&c.snap, t, n + 1) != n || strlen(t) != n)
			abort();
		free(t);
	}

	need = mana_cursor_encode(&c, NULL, 0);
	if (!valid)
	{
		char		tiny[4] = "xyz";

		if (need != 0 || mana_cursor_encode(&c, tiny, sizeof(tiny)) != 0 || tiny[0] != '\0')
			abort();
		return;
	}
	if (need < 24)
		abort();
	buf = malloc(need + 1);
	if (buf == NULL)
		abort();
	if (mana_cursor_encode(&c, buf, need + 1) != need || strlen(buf) != need)
		abort();
	if (mana_cursor_decode(buf, need, &back, track_alloc) != 0 || !cursor_equal(&c, &back))
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	mana_cursor c;
	mana_snapshot snap;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);

	if (mana_cursor_decode(s, size, &c, track_alloc) == 0)
		check_cursor(&c);
	track_free_all();

	if (mana_snapshot_parse(s, size, &snap, track_alloc) == 0)
	{
		check_snapshot(&snap);
		check_visibility(&snap, snap.xmax + 1);
		check_snapshot_roundtrip(&snap);
		check_include(&snap, data, size);
	}
	track_free_all();

	check_encode_struct(data, size);
	track_free_all();

	free(s);
	return 0;
}
