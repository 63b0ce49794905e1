/*
 * http.c
 *     The HTTP sync endpoints of the push worker, so the browser client needs
 *     no other server:
 *
 *       POST /sync/{appId}                 body: a changeset -> mana_apply_changeset
 *       GET  /sync/{appId}/pull?collection=&since=&limit=   -> mana_pull
 *       OPTIONS (CORS preflight)
 *
 * with "Authorization: Bearer <jwt>" (verified as for the WebSocket; sub is
 * the user) and X-Client-Id (else the changeset's clientId).  The query runs
 * on the pool of the database that registered the app (pool.c), never
 * blocking the loop; the answer is written when the result arrives.
 * Errors are JSON {"error": ..., "detail": ...} with a status from the
 * core's SQLSTATE.  Like every lws callback, nothing here raises an ERROR.
 */
#include "postgres.h"

#include <libwebsockets.h>

#include "core/chunked.h"
#include "core/json.h"
#include "core/jwt.h"
#include "worker.h"
#include "core/wsproto.h"

int			mana_max_body = 10 * 1024 * 1024;
int			mana_request_timeout_ms = 30000;
char	   *mana_cors_origins = NULL;

#define MANA_STREAM_MAX_COLL 32
#define MANA_STREAM_KEEPALIVE_S 15

/* an event stream: GET /sync/{appId}/stream */
typedef struct stream_state
{
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
} stream_state;

typedef struct http_req
{
	struct lws *wsi;
	int			kind;			/* MANA_PATH_SYNC_* */
	char		app[MANA_WS_MAX_APP + 1];
	char		user[MANA_JWT_MAX_SUB + 1];
	char		client[MANA_WS_MAX_CLIENT + 1];
	char		origin[256];	/* allowed Origin to echo, or "" */
	char	   *body;
	size_t		len;
	size_t		cap;
	mana_pool_job *job;			/* in flight */
	bool		body_pending;	/* a POST whose body is still arriving */
	bool		close_after;	/* answer, then close (the body is not read) */
	bool		unframed;		/* a POST without Content-Length: always close */
	bool		chunked;		/* Transfer-Encoding: chunked, decoded here */
	mana_chunked dechunk;
	/* the answer */
	bool		ready;
	int			status;
	char	   *out;
	size_t		outlen;
	const char *retry_after;	/* for 503 */
	stream_state *stream;		/* GET .../stream only */
} http_req;

/* ---------------------------------------------------------------- helpers */

/* s as a JSON string, malloc'd (json.c does the escaping) */
static char *
json_quote(const char *s)
{
	size_t		len = strlen(s);
	size_t		need = mana_json_quote(s, len, NULL, 0);
	char	   *q = malloc(need + 1);

	if (q != NULL)
		mana_json_quote(s, len, q, need + 1);
	return q;
}

static void
set_answer(http_req *r, int status, char *body)
{
	free(r->out);
	r->status = status;
	r->out = body;
	r->outlen = body ? strlen(body) : 0;
	r->ready = true;
	/* a POST is answered once its body is in (or when we will not read it) */
	if (r->wsi && (!r->body_pending || r->close_after))
		lws_callback_on_writable(r->wsi);
}

/* {"error", "detail"} and, for the core's errors, "sqlstate" */
static void
set_error_state(http_req *r, int status, const char *error, const char *detail,
				const char *sqlstate)
{
	char	   *e = json_quote(error ? error : "error");
	char	   *d = json_quote(detail ? detail : "");
	char	   *c = sqlstate ? json_quote(sqlstate) : NULL;
	char	   *body = NULL;

	if (e && d && (sqlstate == NULL || c != NULL) &&
		(body = malloc(strlen(e) + strlen(d) + (c ? strlen(c) : 0) + 48)) != NULL)
	{
		if (c)
			sprintf(body, "{\"error\":%s,\"detail\":%s,\"sqlstate\":%s}\n", e, d, c);
		else
			sprintf(body, "{\"error\":%s,\"detail\":%s}\n", e, d);
	}
	free(e);
	free(d);
	free(c);
	set_answer(r, status, body);
}

static void
set_error(http_req *r, int status, const char *error, const char *detail)
{
	set_error_state(r, status, error, detail, NULL);
}

/* SQLSTATE of the core -> HTTP status */
static int
status_for(const char *sqlstate)
{
	if (sqlstate == NULL)
		return 500;
	if (strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "42P01") == 0 ||
		strcmp(sqlstate, "42703") == 0 || strcmp(sqlstate, "42804") == 0 ||
		strcmp(sqlstate, "23502") == 0 || strncmp(sqlstate, "23", 2) == 0)
		return 400;
	if (strcmp(sqlstate, "28000") == 0)
		return 401;
	if (strcmp(sqlstate, "42501") == 0)
		return 403;
	if (strcmp(sqlstate, "54000") == 0)
		return 413;
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
		return 409;
	if (strcmp(sqlstate, "57014") == 0)
		return 504;				/* statement_timeout */
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
		strncmp(sqlstate, "57P", 3) == 0)
		return 503;
	return 500;
}

static void
job_done(void *arg, const mana_pool_result *res)
{
	http_req   *r = arg;

	r->job = NULL;
	if (res->ok && res->value != NULL)
	{
		size_t		n = strlen(res->value);
		char	   *body = malloc(n + 2);

		if (body == NULL)
		{
			set_error(r, 503, "unavailable", "out of memory");
			return;
		}
		memcpy(body, res->value, n);
		body[n] = '\n';
		body[n + 1] = '\0';
		set_answer(r, 200, body);
		return;
	}
	if (res->ok)
	{
		set_error(r, 500, "no result", "");
		return;
	}
	if (status_for(res->sqlstate) == 503)
		r->retry_after = "1";
	set_error_state(r, status_for(res->sqlstate), res->message ? res->message : "error",
					res->detail ? res->detail : "", res->sqlstate);
}

static bool
origin_allowed(const char *origin)
{
	const char *p = mana_cors_origins;
	size_t		olen = strlen(origin);

	if (p == NULL || *p == '\0' || olen == 0)
		return false;
	while (*p)
	{
		size_t		n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if ((n == 1 && p[0] == '*') || (n == olen && strncmp(p, origin, n) == 0))
			return true;
		p += n;
	}
	return false;
}

static int
header(struct lws *wsi, enum lws_token_indexes tok, char *buf, int len)
{
	int			n;

	buf[0] = '\0';
	if (lws_hdr_total_length(wsi, tok) >= len)
		return -1;				/* too long: treat as bad */
	n = lws_hdr_copy(wsi, buf, len, tok);
	return n < 0 ? -1 : n;
}

static int
write_answer(struct lws *wsi, http_req *r)
{
	unsigned char hbuf[LWS_PRE + 2048];
	unsigned char *start = hbuf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = hbuf + sizeof(hbuf) - 1;
	char	   *out;
	int			n;

	if (lws_add_http_common_headers(wsi, (unsigned int) r->status, "application/json",
									(lws_filepos_t) r->outlen, &p, end))
		return -1;
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
									 (const unsigned char *) "no-store", 8, &p, end))
		return -1;
	if (r->origin[0] != '\0')
	{
		if (lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-origin:",
										(const unsigned char *) r->origin, (int) strlen(r->origin), &p, end) ||
			lws_add_http_header_by_name(wsi, (const unsigned char *) "vary:",
										(const unsigned char *) "Origin", 6, &p, end))
			return -1;
	}
	if (r->retry_after != NULL &&
		lws_add_http_header_by_name(wsi, (const unsigned char *) "retry-after:",
									(const unsigned char *) r->retry_after, (int) strlen(r->retry_after), &p, end))
		return -1;
	if ((r->close_after || r->unframed) &&
		lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
									 (const unsigned char *) "close", 5, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (r->outlen > 0)
	{
		out = malloc(LWS_PRE + r->outlen);
		if (out == NULL)
			return -1;
		memcpy(out + LWS_PRE, r->out, r->outlen);
		n = lws_write(wsi, (unsigned char *) out + LWS_PRE, r->outlen, LWS_WRITE_HTTP_FINAL);
		free(out);
		if (n < (int) r->outlen)
			return -1;
	}
	mana_stat_add(MANA_STAT_MESSAGES_SENT, 1);
	return 0;
}

static void
stream_free(stream_state *st)
{
	int			i;

	if (st == NULL)
		return;
	if (st->hub != NULL)
		mana_worker_leave(st->hub);
	for (i = 0; i < st->ncoll; i++)
	{
		free(st->colls[i]);
		free(st->cursors[i]);
	}
	free(st->out);
	free(st);
}

static void
req_free(http_req *r)
{
	if (r == NULL)
		return;
	stream_free(r->stream);
	if (r->job != NULL)
		r->job->arg = NULL;		/* finishes without us */
	free(r->body);
	free(r->out);
	free(r);
}

static int
submit_with(http_req *r, const char *sql, int nparams, char **params,
			void (*done) (void *, const mana_pool_result *))
{
	const char *db = mana_intake_app_database(r->app);
	mana_pool_job *job;
	int			i;

	if (db == NULL)
	{
		for (i = 0; i < nparams; i++)
			free(params[i]);
		set_error(r, 404, "unknown app", r->app);
		return 0;
	}
	job = calloc(1, sizeof(mana_pool_job));
	if (job == NULL || (job->sql = strdup(sql)) == NULL)
	{
		free(job);
		for (i = 0; i < nparams; i++)
			free(params[i]);
		set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	job->nparams = nparams;
	for (i = 0; i < nparams; i++)
		job->params[i] = params[i];
	job->done = done;
	job->arg = r;
	if (mana_pool_submit(db, job) != 0)
	{
		mana_pool_job_free(job);
		r->retry_after = "1";
		set_error(r, 503, "busy", "too many requests queued for this database; retry");
		return 0;
	}
	r->job = job;
	return 0;
}

static int
submit(http_req *r, const char *sql, int nparams, char **params)
{
	return submit_with(r, sql, nparams, params, job_done);
}

/* ---------------------------------------------------------------- event stream */

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
stream_append(stream_state *st, const char *data, size_t n)
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
	stream_state *st = r->stream;

	r->job = NULL;
	st->pulling = false;
	if (!res->ok || res->values[0] == NULL || res->values[1] == NULL)
	{
		char	   *msg = json_quote(res->message ? res->message : "pull failed");
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
	stream_state *st = r->stream;
	char	   *params[5];

	st->need_pull = false;
	st->pulling = true;
	params[0] = strdup(r->app);
	params[1] = pg_array(st->colls, st->ncoll);
	params[2] = strdup(r->user);
	params[3] = r->client[0] ? strdup(r->client) : NULL;
	params[4] = pg_array(st->cursors, st->ncoll);
	submit_with(r,
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

void
mana_http_stream_hint(void *slot_value)
{
	http_req   *r = slot_value;

	if (r == NULL || r->stream == NULL)
		return;
	r->stream->need_pull = true;
	if (r->wsi)
		lws_callback_on_writable(r->wsi);
}

static int
stream_start(struct lws *wsi, http_req *r, void *conn)
{
	stream_state *st = calloc(1, sizeof(stream_state));
	char		buf[8192];
	const char *colls;
	const char *since;
	char		sincebuf[4096];
	int			i;

	if (st == NULL)
		return -1;
	r->stream = st;
	colls = lws_get_urlarg_by_name(wsi, "collections=", buf, sizeof(buf));
	if (colls == NULL || colls[0] == '\0')
	{
		set_error(r, 400, "bad request", "collections is required (comma-separated)");
		stream_free(st);
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
		set_error(r, 400, "bad request", "1 to 32 collections, names of 1 to 63 bytes");
		stream_free(st);
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
	st->hub = mana_worker_join(r->user, r->app, r->client, conn);
	if (st->hub == NULL)
	{
		set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	lws_set_timer_usecs(wsi, (lws_usec_t) MANA_STREAM_KEEPALIVE_S * LWS_USEC_PER_SEC);
	lws_callback_on_writable(wsi);	/* the headers, then the first pull */
	return 0;
}

static int
stream_writeable(struct lws *wsi, http_req *r)
{
	stream_state *st = r->stream;

	if (st->hub != NULL)
		mana_worker_drain(st->hub);
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
static void
stream_keepalive(struct lws *wsi, http_req *r)
{
	static const char ka[] = ": keepalive\n\n";

	if (r->stream->headers_sent)
	{
		stream_append(r->stream, ka, sizeof(ka) - 1);
		lws_callback_on_writable(wsi);
	}
	lws_set_timer_usecs(wsi, (lws_usec_t) MANA_STREAM_KEEPALIVE_S * LWS_USEC_PER_SEC);
}

/* ---------------------------------------------------------------- entry points */

/*
 * A request on a /sync route (or an OPTIONS anywhere).  *slot holds our
 * state for the connection's current request.  Returns what the lws
 * callback returns.
 */
int
mana_http_request(struct lws *wsi, void **slot, const mana_path *path, void *conn)
{
	http_req   *r;
	char		buf[MANA_JWT_MAX_TOKEN + 16];
	mana_jwt_claims claims;
	mana_jwt_status st;
	bool		is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	bool		is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	bool		is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;

	req_free(*slot);
	r = calloc(1, sizeof(http_req));
	*slot = r;
	if (r == NULL)
		return -1;
	r->wsi = wsi;
	r->kind = path->kind;
	strlcpy(r->app, path->app_id, sizeof(r->app));

	if (header(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(r->origin)) > 0 && origin_allowed(buf))
		strlcpy(r->origin, buf, sizeof(r->origin));

	/*
	 * How the body is framed.  lws reads a POST without Content-Length as
	 * up to 100 MB of raw body, so a chunked body is decoded here
	 * (chunked.c), and such a connection is closed after the answer: lws
	 * would take whatever follows for more body.  A length and a coding
	 * together are refused, as two parsers could disagree about where
	 * the request ends.
	 */
	if (is_post)
	{
		bool		has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
		int			n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);

		r->unframed = !has_length;
		if (n > 0)
		{
			r->close_after = true;
			if (has_length)
			{
				set_error(r, 400, "bad request", "send Content-Length or Transfer-Encoding, not both");
				return 0;
			}
			if (header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, buf, 64) <= 0 ||
				strcasecmp(buf, "chunked") != 0)
			{
				set_error(r, 501, "not implemented", "the only transfer coding accepted is chunked");
				return 0;
			}
			r->close_after = false;
			r->chunked = true;
			mana_chunked_init(&r->dechunk);
		}
		else if (!has_length)
		{
			r->close_after = true;
			set_error(r, 411, "length required", "send Content-Length or a chunked body");
			return 0;
		}
	}

	if (is_options)
	{
		/* CORS preflight */
		unsigned char hbuf[LWS_PRE + 1024];
		unsigned char *start = hbuf + LWS_PRE;
		unsigned char *p = start;
		unsigned char *end = hbuf + sizeof(hbuf) - 1;
		static const char methods[] = "GET, POST, OPTIONS";
		static const char headers[] = "Authorization, Content-Type, X-Client-Id, Last-Event-ID";

		if (lws_add_http_common_headers(wsi, 204, "text/plain", 0, &p, end))
			return -1;
		if (r->origin[0] != '\0' &&
			(lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-origin:",
										 (const unsigned char *) r->origin, (int) strlen(r->origin), &p, end) ||
			 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-methods:",
										 (const unsigned char *) methods, (int) strlen(methods), &p, end) ||
			 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-allow-headers:",
										 (const unsigned char *) headers, (int) strlen(headers), &p, end) ||
			 lws_add_http_header_by_name(wsi, (const unsigned char *) "access-control-max-age:",
										 (const unsigned char *) "600", 3, &p, end) ||
			 lws_add_http_header_by_name(wsi, (const unsigned char *) "vary:",
										 (const unsigned char *) "Origin", 6, &p, end)))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		req_free(r);
		*slot = NULL;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}

	if ((r->kind == MANA_PATH_SYNC_PUSH && !is_post) ||
		((r->kind == MANA_PATH_SYNC_PULL || r->kind == MANA_PATH_SYNC_STREAM) && !is_get))
	{
		set_error(r, 405, "method not allowed",
				  r->kind == MANA_PATH_SYNC_PUSH ? "use POST" : "use GET");
		return 0;
	}

	/* the token */
	if (header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof(buf)) <= 0 ||
		strncasecmp(buf, "Bearer ", 7) != 0)
	{
		mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
		set_error(r, 401, "unauthorized", "send Authorization: Bearer <token>");
		return 0;
	}
	st = mana_worker_verify(buf + 7, &claims);
	if (st != MANA_JWT_OK)
	{
		mana_stat_add(MANA_STAT_AUTH_FAILURES, 1);
		set_error(r, 401, "unauthorized", mana_jwt_strerror(st));
		return 0;
	}
	strlcpy(r->user, claims.sub, sizeof(r->user));
	{
		int			n = lws_hdr_custom_length(wsi, "x-client-id:", 12);

		if (n > 0 && n <= MANA_WS_MAX_CLIENT &&
			lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-client-id:", 12) > 0)
			strlcpy(r->client, buf, sizeof(r->client));
		else if (n > MANA_WS_MAX_CLIENT)
		{
			set_error(r, 400, "bad request", "X-Client-Id is longer than 128 bytes");
			return 0;
		}
	}
	if (mana_intake_app_database(r->app) == NULL)
	{
		set_error(r, 404, "unknown app", r->app);
		return 0;
	}

	if (r->kind == MANA_PATH_SYNC_STREAM)
		return stream_start(wsi, r, conn);

	if (r->kind == MANA_PATH_SYNC_PULL)
	{
		char		coll[256];
		char		since[4096];
		char		limit[32];
		const char *c = lws_get_urlarg_by_name(wsi, "collection=", coll, sizeof(coll));
		const char *s = lws_get_urlarg_by_name(wsi, "since=", since, sizeof(since));
		const char *l = lws_get_urlarg_by_name(wsi, "limit=", limit, sizeof(limit));
		char	   *params[6];

		if (c == NULL || c[0] == '\0')
		{
			set_error(r, 400, "bad request", "collection is required");
			return 0;
		}
		params[0] = strdup(r->app);
		params[1] = strdup(c);
		params[2] = (s && s[0]) ? strdup(s) : NULL;
		params[3] = strdup(r->user);
		params[4] = r->client[0] ? strdup(r->client) : NULL;
		params[5] = (l && l[0]) ? strdup(l) : strdup("1000");
		return submit(r, "SELECT mana_pull($1, $2, $3, $4, $5, $6::int)", 6, params);
	}

	/* POST /sync/{appId}: the body follows, within mana_sync.request_timeout */
	r->body_pending = true;
	lws_set_timer_usecs(wsi, (lws_usec_t) mana_request_timeout_ms * 1000);
	if (header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, buf, 256) <= 0 ||
		strncasecmp(buf, "application/json", 16) != 0)
	{
		set_error(r, 415, "unsupported media type", "send Content-Type: application/json");
		return 0;
	}
	if (header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, buf, 32) > 0 && atoll(buf) > mana_max_body)
	{
		r->close_after = true;	/* do not read 10 MB to throw them away */
		set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	return 0;
}

/* room for len more bytes and a NUL in r->body; false when out of memory */
static bool
body_reserve(http_req *r, size_t len)
{
	if (r->len + len + 1 > r->cap)
	{
		size_t		ncap = Max(r->cap * 2, r->len + len + 1);
		char	   *nb;

		ncap = Max(ncap, 4096);
		nb = realloc(r->body, ncap);
		if (nb == NULL)
			return false;
		r->body = nb;
		r->cap = ncap;
	}
	return true;
}

/* raw bytes of a chunked body: decode; at its end, run the push */
static int
chunked_body(struct lws *wsi, void **slot, http_req *r, const void *in, size_t len)
{
	size_t		consumed,
				produced;
	mana_chunked_status st;

	if (!body_reserve(r, len))
	{
		r->close_after = true;
		set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	st = mana_chunked_feed(&r->dechunk, in, len, r->body + r->len, &consumed, &produced);
	r->len += produced;
	if (r->len > (size_t) mana_max_body)
	{
		free(r->body);
		r->body = NULL;
		r->close_after = true;
		set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	if (st == MANA_CHUNKED_ERROR)
	{
		char		detail[128];

		snprintf(detail, sizeof(detail), "bad chunked body: %s", r->dechunk.error);
		r->close_after = true;
		set_error(r, 400, "bad request", detail);
		return 0;
	}
	if (st == MANA_CHUNKED_DONE)
		return mana_http_body_done(wsi, slot);
	return 0;
}

int
mana_http_body(struct lws *wsi, void **slot, const void *in, size_t len)
{
	http_req   *r = *slot;

	if (r == NULL || r->ready || !r->body_pending)
		return 0;				/* already answered (error), or complete: ignore */
	if (r->chunked)
		return chunked_body(wsi, slot, r, in, len);
	if (r->len + len > (size_t) mana_max_body)
	{
		/* more than Content-Length said (lws should not let this happen) */
		free(r->body);
		r->body = NULL;
		r->close_after = true;
		set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	if (!body_reserve(r, len))
	{
		set_error(r, 503, "unavailable", "out of memory");
		return 0;
	}
	memcpy(r->body + r->len, in, len);
	r->len += len;
	return 0;
}

int
mana_http_body_done(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;
	char	   *params[4];

	if (r == NULL)
		return -1;
	r->body_pending = false;
	lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
	if (r->ready)
	{
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (r->body == NULL || r->len == 0)
	{
		set_error(r, 400, "bad request", "the body is empty");
		return 0;
	}
	r->body[r->len] = '\0';
	if (strlen(r->body) != r->len)
	{
		set_error(r, 400, "bad request", "the body contains a NUL byte");
		return 0;
	}
	/* the path's app is the changeset's; X-Client-Id wins over its clientId */
	params[0] = r->body;
	r->body = NULL;
	params[1] = strdup(r->user);
	params[2] = strdup(r->app);
	params[3] = r->client[0] ? strdup(r->client) : NULL;
	return submit(r,
				  "SELECT mana_apply_changeset(CASE WHEN jsonb_typeof(c) = 'object' "
				  "THEN c || jsonb_strip_nulls(jsonb_build_object('appId', $3::text, 'clientId', $4::text)) "
				  "ELSE c END, $2) FROM (SELECT $1::jsonb AS c) s",
				  4, params);
}

int
mana_http_writeable(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;
	int			rc;

	bool		close_after;

	if (r != NULL && r->stream != NULL && !r->ready)
		return stream_writeable(wsi, r);
	if (r == NULL || !r->ready || (r->body_pending && !r->close_after))
		return 0;
	close_after = r->close_after || r->unframed;
	rc = write_answer(wsi, r);
	req_free(r);
	*slot = NULL;
	if (rc < 0 || close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* the body did not arrive in time (a slow or stalled client): 408, close */
void
mana_http_timeout(struct lws *wsi, void **slot)
{
	http_req   *r = *slot;

	if (r != NULL && r->stream != NULL && !r->ready)
	{
		stream_keepalive(wsi, r);
		return;
	}
	if (r == NULL || !r->body_pending)
		return;
	free(r->body);
	r->body = NULL;
	r->close_after = true;
	set_error(r, 408, "request timeout", "the body did not arrive within mana_sync.request_timeout");
}

void
mana_http_closed(void **slot)
{
	req_free(*slot);
	*slot = NULL;
}
