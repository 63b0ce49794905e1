/*
 * httpreq.c
 *     A request of the HTTP layer and its answer: the answer's status and
 *     JSON body (errors as {"error", "detail"} and, for the core's errors,
 *     "sqlstate"), running a statement on the app's database pool, and
 *     writing the answer.  Used by http.c and by the handlers in
 *     http_sync.c and sse.c.  Runs in lws callbacks: never an ERROR.
 */
#include "postgres.h"

#include <libwebsockets.h>

#include "utils/guc.h"

#include "backend/shmem.h"
#include "core/json.h"
#include "httpreq.h"
#include "intake.h"
#include "pool.h"

int			mana_max_body = 10 * 1024 * 1024;
int			mana_request_timeout_ms = 30000;
char	   *mana_cors_origins = NULL;

void
mana_httpreq_define_settings(void)
{
	DefineCustomIntVariable("mana_sync.request_timeout",
							"Time an HTTP request body has to arrive; slower ones get 408 and are closed.",
							NULL, &mana_request_timeout_ms, 30000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mana_sync.max_body",
							"Largest HTTP request body; larger ones get 413.",
							NULL, &mana_max_body, 10 * 1024 * 1024, 1024, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.cors_origins",
							   "Origins allowed to call the HTTP sync endpoints from a browser (comma-separated, or *).",
							   NULL, &mana_cors_origins, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/* s as a JSON string, malloc'd (json.c does the escaping) */
char *
mana_http_json_quote(const char *s)
{
	size_t		len = strlen(s);
	size_t		need = mana_json_quote(s, len, NULL, 0);
	char	   *q = malloc(need + 1);

	if (q != NULL)
		mana_json_quote(s, len, q, need + 1);
	return q;
}

void
mana_http_set_answer(http_req *r, int status, char *body)
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
void
mana_http_set_error_state(http_req *r, int status, const char *error, const char *detail,
				const char *sqlstate)
{
	char	   *e = mana_http_json_quote(error ? error : "error");
	char	   *d = mana_http_json_quote(detail ? detail : "");
	char	   *c = sqlstate ? mana_http_json_quote(sqlstate) : NULL;
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
	mana_http_set_answer(r, status, body);
}

void
mana_http_set_error(http_req *r, int status, const char *error, const char *detail)
{
	mana_http_set_error_state(r, status, error, detail, NULL);
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

void
mana_http_job_done(void *arg, const mana_pool_result *res)
{
	http_req   *r = arg;

	r->job = NULL;
	if (res->ok && res->value != NULL)
	{
		size_t		n = strlen(res->value);
		char	   *body = malloc(n + 2);

		if (body == NULL)
		{
			mana_http_set_error(r, 503, "unavailable", "out of memory");
			return;
		}
		memcpy(body, res->value, n);
		body[n] = '\n';
		body[n + 1] = '\0';
		mana_http_set_answer(r, 200, body);
		return;
	}
	if (res->ok)
	{
		mana_http_set_error(r, 500, "no result", "");
		return;
	}
	if (status_for(res->sqlstate) == 503)
		r->retry_after = "1";
	mana_http_set_error_state(r, status_for(res->sqlstate), res->message ? res->message : "error",
					res->detail ? res->detail : "", res->sqlstate);
}

int
mana_http_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, int len)
{
	int			n;

	buf[0] = '\0';
	if (lws_hdr_total_length(wsi, tok) >= len)
		return -1;				/* too long: treat as bad */
	n = lws_hdr_copy(wsi, buf, len, tok);
	return n < 0 ? -1 : n;
}

int
mana_http_write_answer(struct lws *wsi, http_req *r)
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

int
mana_http_submit(http_req *r, const char *sql, int nparams, char **params,
			void (*done) (void *, const mana_pool_result *))
{
	const char *db = mana_intake_app_database(r->app);
	mana_pool_job *job;
	int			i;

	if (db == NULL)
	{
		for (i = 0; i < nparams; i++)
			free(params[i]);
		mana_http_set_error(r, 404, "unknown app", r->app);
		return 0;
	}
	job = calloc(1, sizeof(mana_pool_job));
	if (job == NULL || (job->sql = strdup(sql)) == NULL)
	{
		free(job);
		for (i = 0; i < nparams; i++)
			free(params[i]);
		mana_http_set_error(r, 503, "unavailable", "out of memory");
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
		mana_http_set_error(r, 503, "busy", "too many requests queued for this database; retry");
		return 0;
	}
	r->job = job;
	return 0;
}
