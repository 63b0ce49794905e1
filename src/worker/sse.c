/*
 * sse.c
 *     GET /sync/{appId}/stream?collections=a,b&since=: Server-Sent Events.
 *
 * The stream joins the fan-out like a WebSocket; a hint for its user makes
 * it pull every collection from its cursors (one statement on the pool)
 * and send the changes as one event whose id is the composite cursor
 * ('|' between collections), so EventSource resumes with Last-Event-ID.
 * The first event is sent even when empty; more pages follow at once; a
 * comment every MANA_STREAM_KEEPALIVE_S keeps proxies from dropping a
 * quiet stream.  The body is chunked; an error ends it with an error event
 * and the last chunk.
 */
#include "postgres.h"

#include <libwebsockets.h>

#include "backend/shmem.h"
#include "fanout.h"
#include "httpreq.h"
#include "sse.h"

#define MANA_STREAM_MAX_COLL 32
#define MANA_STREAM_KEEPALIVE_S 15

/* an event stream: GET /sync/{appId}/stream */
struct sse_stream
{
	mana_fanout_client fan;		/* hints wake it: first */
	http_req   *req;
	int			ncoll;
	char	   *colls[MANA_STREAM_MAX_COLL];
	char	   *cursors[MANA_STREAM_MAX_COLL];	/* NULL: from the beginning */
	bool		headers_sent;
	bool		need_pull;		/* a hint arrived, or more pages wait */
	bool		pulling;		/* a pull is in flight */
	bool		sent_first;
	bool		failed;			/* close after what is buffered */
	bool		ended;			/* the last chunk is queued */
	char	   *out;			/* chunk-framed bytes to write */
	size_t		outlen;
	size_t		outcap;
	struct mana_hub_conn *hub;
};

void
mana_sse_free(sse_stream *st)
{
	int			i;

	if (st == NULL)
		return;
	if (st->hub != NULL)
		mana_fanout_leave(st->hub);
	for (i = 0; i < st->ncoll; i++)
	{
		free(st->colls[i]);
		free(st->cursors[i]);
	}
	free(st->out);
	free(st);
}

/* a PostgreSQL array literal of the strings (NULL elements as "") */
static char *
pg_array(char **items, int n)
{
	size_t		len = 3;
	int			i;
	char	   *out;
	char	   *p;

	for (i = 0; i < n; i++)
		len += (items[i] ? strlen(items[i]) * 2 : 0) + 3;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	for (i = 0; i < n; i++)
	{
		const char *s = items[i] ? items[i] : "";

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static void
stream_append(sse_stream *st, const char *data, size_t n)
{
	char		head[32];
	int			h = snprintf(head, sizeof(head), "%zx\r\n", n);
	size_t		need = st->outlen + (size_t) h + n + 2;

	if (need > st->outcap)
	{
		size_t		cap = Max(need, st->outcap * 2);
		char	   *o = realloc(st->out, cap);

		if (o == NULL)
		{
			st->failed = true;
			return;
		}
		st->out = o;
		st->outcap = cap;
	}
	memcpy(st->out + st->outlen, head, h);
	memcpy(st->out + st->outlen + h, data, n);
	memcpy(st->out + st->outlen + h + n, "\r\n", 2);
	st->outlen = need;
}

static void
stream_done(void *arg, const mana_pool_result *res)
{
	http_req   *r = arg;
	sse_stream *st = r->stream;

	r->job = NULL;
	st->pulling = false;
	if (!res->ok || res->values[0] == NULL || res->values[1] == NULL)
	{
		char	   *msg = mana_http_json_quote(res->message ? res->message : "pull failed");
		char		ev[1024];

		snprintf(ev, sizeof(ev), "event: error\ndata: {\"error\":%s}\n\n", msg ? msg : "\"error\"");
		free(msg);
		stream_append(st, ev, strlen(ev));
		st->failed = true;
	}
	else
	{
		const char *changes = res->values[0];
		const char *cursor = res->values[1];
		char	   *ev;
		int			i;
		const char *p = cursor;

		/* the composite cursor: one per collection, '|' between (cursors have none) */
		for (i = 0; i < st->ncoll; i++)
		{
			size_t		n = strcspn(p, "|");

			free(st->cursors[i]);
			st->cursors[i] = strndup(p, n);
			p += n;
			if (*p == '|')
				p++;
		}
		if (strcmp(changes, "[]") != 0 || !st->sent_first)
		{
			ev = malloc(strlen(changes) + 2 * strlen(cursor) + 64);
			if (ev == NULL)
				st->failed = true;
			else
			{
				sprintf(ev, "id: %s\ndata: {\"serverChanges\":%s,\"syncedUntil\":\"%s\"}\n\n",
						cursor, changes, cursor);
				stream_append(st, ev, strlen(ev));
				free(ev);
				st->sent_first = true;
			}
		}
		if (res->values[2] != NULL && res->values[2][0] == 't')
			st->need_pull = true;	/* more pages */
	}
	if (r->wsi)
		lws_callback_on_writable(r->wsi);
}

static void
stream_pull(http_req *r)
{
	sse_stream *st = r->stream;
	char	   *params[5];

	st->need_pull = false;
	st->pulling = true;
	params[0] = strdup(r->app);
	params[1] = pg_array(st->colls, st->ncoll);
	params[2] = strdup(r->user);
	params[3] = r->client[0] ? strdup(r->client) : NULL;
	params[4] = pg_array(st->cursors, st->ncoll);
	mana_http_submit(r,
				"WITH p AS (SELECT u.o, mana_pull($1, u.c, nullif(u.cur, ''), $3, $4, 500) AS r "
				"FROM unnest($2::text[], $5::text[]) WITH ORDINALITY AS u(c, cur, o)) "
				"SELECT (SELECT coalesce(jsonb_agg(e ORDER BY p.o), '[]'::jsonb) "
				"        FROM p, jsonb_array_elements(p.r->'serverChanges') e)::text, "
				"       (SELECT string_agg(p.r->>'syncedUntil', '|' ORDER BY p.o) FROM p), "
				"       (SELECT bool_or((p.r->>'hasMore')::boolean) FROM p)",
				5, params, stream_done);
	if (r->ready)
	{
		/* submit refused it (queue full, unknown app): end the stream */
		r->ready = false;
		st->pulling = false;
		st->failed = true;
	}
}

/* a hint for the stream's user: pull again */
static void
stream_wake(mana_fanout_client *fc)
{
	sse_stream *st = (sse_stream *) fc;
	http_req   *r = st->req;

	if (r == NULL || r->stream == NULL)
		return;
	r->stream->need_pull = true;
	if (r->wsi)
		lws_callback_on_writable(r->wsi);
}

int
mana_sse_start(struct lws *wsi, http_req *r)
{
	sse_stream *st = calloc(1, sizeof(sse_stream));
	char		buf[8192];
	const char *colls;
	const char *since;
	char		sincebuf[4096];
	int			i;

	if (st == NULL)
		return -1;
	st->req = r;
	st->fan.wake = stream_wake;
	r->stream = st;
	colls = lws_get_urlarg_by_name(wsi, "collections=", buf, sizeof(buf));
	if (colls == NULL || colls[0] == '\0')
	{
		mana_http_set_error(r, 400, "bad request", "collections is required (comma-separated)");
		mana_sse_free(st);
		r->stream = NULL;
		return 0;
	}
	while (*colls && st->ncoll < MANA_STREAM_MAX_COLL)
	{
		size_t		n = strcspn(colls, ",");

		if (n > 0 && n < 64)
			st->colls[st->ncoll++] = strndup(colls, n);
		colls += n;
		if (*colls == ',')
			colls++;
	}
	if (st->ncoll == 0 || *colls != '\0')
	{
		mana_http_set_error(r, 400, "bad request", "1 to 32 collections, names of 1 to 63 bytes");
		mana_sse_free(st);
		r->stream = NULL;
		return 0;
	}
	/* Last-Event-ID (what EventSource sends on reconnect) wins over since */
	i = lws_hdr_custom_length(wsi, "last-event-id:", 14);
	if (i > 0 && i < (int) sizeof(buf) &&
		lws_hdr_custom_copy(wsi, buf, sizeof(buf), "last-event-id:", 14) > 0)
	{
		const char *p = buf;
		int			n = 0;

		while (n < st->ncoll)
		{
			size_t		len = strcspn(p, "|");

			st->cursors[n++] = strndup(p, len);
			p += len;
			if (*p != '|')
				break;
			p++;
		}
		if (n != st->ncoll || *p != '\0')
		{
			/* not one of ours for these collections: start over from since */
			for (i = 0; i < n; i++)
			{
				free(st->cursors[i]);
				st->cursors[i] = NULL;
			}
		}
	}
	if (st->cursors[0] == NULL)
	{
		since = lws_get_urlarg_by_name(wsi, "since=", sincebuf, sizeof(sincebuf));
		for (i = 0; i < st->ncoll; i++)
			st->cursors[i] = (since && since[0]) ? strdup(since) : NULL;
	}
	st->hub = mana_fanout_join(r->user, r->app, r->client, &st->fan);
	if (st->hub == NULL)
	{
		mana_http_set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	lws_set_timer_usecs(wsi, (lws_usec_t) MANA_STREAM_KEEPALIVE_S * LWS_USEC_PER_SEC);
	lws_callback_on_writable(wsi);	/* the headers, then the first pull */
	return 0;
}

int
mana_sse_writeable(struct lws *wsi, http_req *r)
{
	sse_stream *st = r->stream;

	if (st->hub != NULL)
		mana_fanout_drain(st->hub);
	if (!st->headers_sent)
	{
		unsigned char hbuf[LWS_PRE + 1024];
		unsigned char *start = hbuf + LWS_PRE;
		unsigned char *p = start;
		unsigned char *end = hbuf + sizeof(hbuf) - 1;

		if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream",
										LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
			lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
										 (const unsigned char *) "no-store", 8, &p, end) ||
			lws_add_http_header_by_name(wsi, (const unsigned char *) "transfer-encoding:",
										(const unsigned char *) "chunked", 7, &p, end) ||
			lws_add_http_header_by_name(wsi, (const unsigned char *) "x-accel-buffering:",
										(const unsigned char *) "no", 2, &p, end))
			return -1;
		if (r->origin[0] != '\0' &&
			lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-origin:",
										(const unsigned char *) r->origin, (int) strlen(r->origin), &p, end))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		st->headers_sent = true;
		st->need_pull = true;
	}
	else if (st->outlen > 0)
	{
		char	   *buf = malloc(LWS_PRE + st->outlen);
		int			n;

		if (buf == NULL)
			return -1;
		memcpy(buf + LWS_PRE, st->out, st->outlen);
		n = lws_write(wsi, (unsigned char *) buf + LWS_PRE, st->outlen, LWS_WRITE_HTTP);
		free(buf);
		if (n < (int) st->outlen)
			return -1;
		st->outlen = 0;
		mana_stat_add(MANA_STAT_MESSAGES_SENT, 1);
	}
	else if (st->failed && st->ended)
		return -1;				/* the error event and the last chunk are out */
	if (st->failed && !st->ended && st->outlen == 0)
	{
		/* end the chunked body properly before closing */
		static const char last[] = "0\r\n\r\n";
		char		b[LWS_PRE + sizeof(last)];

		memcpy(b + LWS_PRE, last, sizeof(last) - 1);
		if (lws_write(wsi, (unsigned char *) b + LWS_PRE, sizeof(last) - 1, LWS_WRITE_HTTP) < (int) sizeof(last) - 1)
			return -1;
		st->ended = true;
	}
	if (st->outlen > 0 || st->failed)
		lws_callback_on_writable(wsi);
	else if (st->need_pull && !st->pulling)
		stream_pull(r);
	return 0;
}

/* the stream's keepalive comment, so proxies do not drop a quiet stream */
void
mana_sse_keepalive(struct lws *wsi, http_req *r)
{
	static const char ka[] = ": keepalive\n\n";

	if (r->stream->headers_sent)
	{
		stream_append(r->stream, ka, sizeof(ka) - 1);
		lws_callback_on_writable(wsi);
	}
	lws_set_timer_usecs(wsi, (lws_usec_t) MANA_STREAM_KEEPALIVE_S * LWS_USEC_PER_SEC);
}
