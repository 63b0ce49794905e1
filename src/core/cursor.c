/*
 * cursor.c
 *     Sync cursor tokens (pure C).
 *
 * Grammar (see cursor.h):
 *   token    := ISO [ '#' rest ]
 *   rest     := snap | base '~' snap '~' uint '~' b64url
 *   base     := 't' | snap
 *   snap     := uint ':' uint ':' [ uint { ',' uint } ]
 *   uint     := DIGIT { DIGIT }        (value < 2^64)
 *
 * A snapshot must satisfy xmin <= xmax and xmin <= xip[0] < xip[1] < ...
 * < xmax.
 */
#include <string.h>

#include "b64url.h"
#include "cursor.h"
#include "iso8601.h"

/* ---------------------------------------------------------------- parsing */

/*
 * Parses an unsigned decimal in s[*pos, end) (at least one digit) and
 * advances *pos past it.  Returns -1 when there is no digit or on overflow.
 */
static int
cursor_parse_u64(const char *s, size_t *pos, size_t end, uint64_t *out)
{
	size_t		p = *pos;
	uint64_t	v = 0;

	if (p >= end || s[p] < '0' || s[p] > '9')
		return -1;
	while (p < end && s[p] >= '0' && s[p] <= '9')
	{
		unsigned	d = (unsigned) (s[p] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		p++;
	}
	*pos = p;
	*out = v;
	return 0;
}

/* The whole of s[0, len) must be a uint. */
static int
cursor_parse_u64_whole(const char *s, size_t len, uint64_t *out)
{
	size_t		pos = 0;

	if (cursor_parse_u64(s, &pos, len, out) != 0 || pos != len)
		return -1;
	return 0;
}

int
mana_snapshot_parse(const char *s, size_t len, mana_snapshot *out,
					mana_alloc_fn alloc)
{
	size_t		pos = 0;
	size_t		list_start;
	uint64_t	xmin,
				xmax;
	uint64_t	nxip = 0;
	uint64_t	prev = 0;
	uint64_t   *xip = NULL;

	if (s == NULL || out == NULL)
		return -1;
	if (cursor_parse_u64(s, &pos, len, &xmin) != 0 || pos >= len || s[pos] != ':')
		return -1;
	pos++;
	if (cursor_parse_u64(s, &pos, len, &xmax) != 0 || pos >= len || s[pos] != ':')
		return -1;
	pos++;
	if (xmin > xmax)
		return -1;

	/* first pass: validate the xip list and count it */
	list_start = pos;
	while (pos < len)
	{
		uint64_t	v;

		if (cursor_parse_u64(s, &pos, len, &v) != 0)
			return -1;
		if (v < xmin || v >= xmax)
			return -1;
		if (nxip > 0 && v <= prev)
			return -1;
		prev = v;
		nxip++;
		if (pos < len)
		{
			if (s[pos] != ',')
				return -1;
			pos++;
			if (pos == len)
				return -1;		/* trailing ',' */
		}
	}
	if (nxip > UINT32_MAX || nxip > SIZE_MAX / sizeof(uint64_t))
		return -1;

	/* second pass: fill */
	if (nxip > 0)
	{
		uint64_t	i;

		if (alloc == NULL)
			return -1;
		xip = (uint64_t *) alloc((size_t) nxip * sizeof(uint64_t));
		if (xip == NULL)
			return -1;
		pos = list_start;
		for (i = 0; i < nxip; i++)
		{
			/* cannot fail: validated above */
			(void) cursor_parse_u64(s, &pos, len, &xip[i]);
			pos++;
		}
	}

	out->xmin = xmin;
	out->xmax = xmax;
	out->nxip = (uint32_t) nxip;
	out->xip = xip;
	return 0;
}

bool
mana_snapshot_visible(const mana_snapshot *snap, uint64_t xid)
{
	uint32_t	lo,
				hi;

	if (xid < snap->xmin)
		return true;
	if (xid >= snap->xmax)
		return false;
	if (snap->xip == NULL)
		return true;
	/* binary search in xip[lo, hi) */
	lo = 0;
	hi = snap->nxip;
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (snap->xip[mid] == xid)
			return false;
		if (snap->xip[mid] < xid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return true;
}

static int
cursor_snapshot_valid(const mana_snapshot *snap)
{
	uint32_t	i;

	if (snap->xmin > snap->xmax)
		return 0;
	if (snap->nxip > 0 && snap->xip == NULL)
		return 0;
	for (i = 0; i < snap->nxip; i++)
	{
		if (snap->xip[i] < snap->xmin || snap->xip[i] >= snap->xmax)
			return 0;
		if (i > 0 && snap->xip[i] <= snap->xip[i - 1])
			return 0;
	}
	return 1;
}

static const char *
cursor_memchr(const char *s, char c, size_t len)
{
	return (const char *) memchr(s, (unsigned char) c, len);
}

int
mana_cursor_decode(const char *s, size_t len, mana_cursor *out,
				   mana_alloc_fn alloc)
{
	const char *hash;
	size_t		iso_len;
	const char *rest;
	size_t		rest_len;
	const char *t1,
			   *t2,
			   *t3;
	const char *part;
	size_t		part_len;
	size_t		b64_len;
	unsigned char idbuf[MANA_B64URL_DECLEN(MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID))];
	long		idlen;
	char	   *id;

	if (s == NULL || out == NULL || len == 0 || len > MANA_CURSOR_MAX_LEN)
		return -1;
	memset(out, 0, sizeof(*out));

	hash = cursor_memchr(s, '#', len);
	iso_len = hash ? (size_t) (hash - s) : len;
	if (mana_iso8601_parse(s, iso_len, &out->ts_ms) != 0)
		return -1;
	if (hash == NULL)
		return 0;				/* bare timestamp */

	rest = hash + 1;
	rest_len = len - iso_len - 1;
	if (rest_len == 0)
		return -1;

	t1 = cursor_memchr(rest, '~', rest_len);
	if (t1 == NULL)
	{
		/* ISO#SNAP */
		if (mana_snapshot_parse(rest, rest_len, &out->snap, alloc) != 0)
			return -1;
		out->has_snap = true;
		return 0;
	}

	/* ISO#BASE~PAGESNAP~LASTXID~LASTID */
	t2 = cursor_memchr(t1 + 1, '~', (size_t) (rest + rest_len - (t1 + 1)));
	if (t2 == NULL)
		return -1;
	t3 = cursor_memchr(t2 + 1, '~', (size_t) (rest + rest_len - (t2 + 1)));
	if (t3 == NULL)
		return -1;

	/* BASE */
	part = rest;
	part_len = (size_t) (t1 - rest);
	if (part_len == 1 && part[0] == 't')
		out->has_snap = false;
	else
	{
		if (mana_snapshot_parse(part, part_len, &out->snap, alloc) != 0)
			return -1;
		out->has_snap = true;
	}

	/* PAGESNAP */
	part = t1 + 1;
	part_len = (size_t) (t2 - part);
	if (mana_snapshot_parse(part, part_len, &out->page, alloc) != 0)
		return -1;
	out->has_page = true;

	/* LASTXID */
	part = t2 + 1;
	part_len = (size_t) (t3 - part);
	if (cursor_parse_u64_whole(part, part_len, &out->last_xid) != 0)
		return -1;

	/* LASTID: the rest, base64url; a further '~' is not in the alphabet */
	part = t3 + 1;
	b64_len = (size_t) (rest + rest_len - part);
	if (b64_len == 0 || b64_len > MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID))
		return -1;
	idlen = mana_b64url_decode(part, b64_len, idbuf);
	if (idlen <= 0 || idlen > MANA_CURSOR_MAX_ID)
		return -1;
	if (memchr(idbuf, 0, (size_t) idlen) != NULL)
		return -1;
	if (alloc == NULL)
		return -1;
	id = (char *) alloc((size_t) idlen + 1);
	if (id == NULL)
		return -1;
	memcpy(id, idbuf, (size_t) idlen);
	id[idlen] = '\0';
	out->last_id = id;
	out->last_id_len = (size_t) idlen;
	return 0;
}

/* --------------------------------------------------------------- encoding */

/* snprintf-like output: counts everything, stores what fits */
typedef struct cursor_writer
{
	char	   *buf;
	size_t		buflen;
	size_t		pos;
} cursor_writer;

static void
cursor_put(cursor_writer *w, const char *s, size_t n)
{
	if (w->buflen > 0 && w->pos < w->buflen - 1)
	{
		size_t		room = w->buflen - 1 - w->pos;

		memcpy(w->buf + w->pos, s, n < room ? n : room);
	}
	w->pos += n;
}

static void
cursor_put_u64(cursor_writer *w, uint64_t v)
{
	char		tmp[20];
	size_t		n = 0;

	do
	{
		tmp[sizeof(tmp) - 1 - n] = (char) ('0' + v % 10);
		v /= 10;
		n++;
	} while (v != 0);
	cursor_put(w, tmp + sizeof(tmp) - n, n);
}

static void
cursor_put_snapshot(cursor_writer *w, const mana_snapshot *snap)
{
	uint32_t	i;

	cursor_put_u64(w, snap->xmin);
	cursor_put(w, ":", 1);
	cursor_put_u64(w, snap->xmax);
	cursor_put(w, ":", 1);
	for (i = 0; i < snap->nxip; i++)
	{
		if (i > 0)
			cursor_put(w, ",", 1);
		cursor_put_u64(w, snap->xip[i]);
	}
}

static size_t
cursor_finish(cursor_writer *w)
{
	if (w->buflen > 0)
		w->buf[w->pos < w->buflen ? w->pos : w->buflen - 1] = '\0';
	return w->pos;
}

size_t
mana_snapshot_format(const mana_snapshot *snap, char *buf, size_t buflen)
{
	cursor_writer w;

	w.buf = buf;
	w.buflen = buf ? buflen : 0;
	w.pos = 0;
	if (snap->nxip > 0 && snap->xip == NULL)
		return cursor_finish(&w);	/* nothing sensible to write */
	cursor_put_snapshot(&w, snap);
	return cursor_finish(&w);
}

size_t
mana_cursor_encode(const mana_cursor *c, char *buf, size_t buflen)
{
	cursor_writer w;
	char		iso[MANA_ISO_BUFLEN];

	w.buf = buf;
	w.buflen = buf ? buflen : 0;
	w.pos = 0;

	/* A cursor that would not decode again is not written: returns 0. */
	if (c == NULL || mana_iso8601_format(c->ts_ms, iso) < 0)
		return cursor_finish(&w);
	if (c->has_snap && !cursor_snapshot_valid(&c->snap))
		return cursor_finish(&w);
	if (c->has_page)
	{
		if (!cursor_snapshot_valid(&c->page) || c->last_id == NULL ||
			c->last_id_len == 0 || c->last_id_len > MANA_CURSOR_MAX_ID ||
			memchr(c->last_id, 0, c->last_id_len) != NULL)
			return cursor_finish(&w);
	}

	cursor_put(&w, iso, 24);
	if (c->has_page)
	{
		char		b64[MANA_B64URL_ENCLEN(MANA_CURSOR_MAX_ID) + 1];
		size_t		n;

		cursor_put(&w, "#", 1);
		if (c->has_snap)
			cursor_put_snapshot(&w, &c->snap);
		else
			cursor_put(&w, "t", 1);
		cursor_put(&w, "~", 1);
		cursor_put_snapshot(&w, &c->page);
		cursor_put(&w, "~", 1);
		cursor_put_u64(&w, c->last_xid);
		cursor_put(&w, "~", 1);
		n = mana_b64url_encode((const unsigned char *) c->last_id,
							   c->last_id_len, b64);
		cursor_put(&w, b64, n);
	}
	else if (c->has_snap)
	{
		cursor_put(&w, "#", 1);
		cursor_put_snapshot(&w, &c->snap);
	}
	if (w.pos > MANA_CURSOR_MAX_LEN)
	{
		/* the decoder would refuse it */
		w.pos = 0;
	}
	return cursor_finish(&w);
}

int
mana_snapshot_include(mana_snapshot *snap, uint64_t xid, uint32_t max_added, mana_alloc_fn alloc)
{
	uint64_t   *xip;
	uint64_t	added;
	uint32_t	i,
				n = 0;

	if (mana_snapshot_visible(snap, xid))
		return 0;
	if (xid < snap->xmax)
	{
		/* in xip: drop it */
		xip = snap->nxip > 1 ? alloc(sizeof(uint64_t) * (snap->nxip - 1)) : NULL;
		if (snap->nxip > 1 && xip == NULL)
			return -1;
		for (i = 0; i < snap->nxip; i++)
			if (snap->xip[i] != xid)
				xip[n++] = snap->xip[i];
		snap->xip = n > 0 ? xip : NULL;
		snap->nxip = n;
		return 0;
	}
	if (xid == UINT64_MAX)
		return -1;
	added = xid - snap->xmax;
	if (added > max_added || added > (uint64_t) (UINT32_MAX - snap->nxip))
		return -1;
	n = snap->nxip + (uint32_t) added;
	xip = n > 0 ? alloc(sizeof(uint64_t) * n) : NULL;
	if (n > 0 && xip == NULL)
		return -1;
	for (i = 0; i < snap->nxip; i++)
		xip[i] = snap->xip[i];
	for (i = 0; i < (uint32_t) added; i++)
		xip[snap->nxip + i] = snap->xmax + i;
	snap->xip = xip;
	snap->nxip = n;
	snap->xmax = xid + 1;
	return 0;
}
