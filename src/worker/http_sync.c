/*
 * http_sync.c
 *     The HTTP sync endpoints, so the browser client needs no other server:
 *
 *       POST /sync/{appId}                                 -> mana_apply_changeset
 *       GET  /sync/{appId}/pull?collection=&since=&limit= -> mana_pull
 *
 * The statement runs on the pool of the database that registered the app
 * (pool.c), never blocking the loop; the answer is written when the result
 * arrives, with a status from the core's SQLSTATE (http.c).  The user is
 * the token's; X-Client-Id wins over the changeset's clientId.
 */
#include "postgres.h"

#include <libwebsockets.h>

#include "http_sync.h"
#include "httpreq.h"

/* GET /sync/{appId}/pull */
int
mana_http_pull(struct lws *wsi, http_req *r)
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
		mana_http_set_error(r, 400, "bad request", "collection is required");
		return 0;
	}
	params[0] = strdup(r->app);
	params[1] = strdup(c);
	params[2] = (s && s[0]) ? strdup(s) : NULL;
	params[3] = strdup(r->user);
	params[4] = r->client[0] ? strdup(r->client) : NULL;
	params[5] = (l && l[0]) ? strdup(l) : strdup("1000");
	return mana_http_submit(r, "SELECT mana_pull($1, $2, $3, $4, $5, $6::int)", 6, params,
							mana_http_job_done);
}

/* POST /sync/{appId}: the body follows, within mana_sync.request_timeout */
int
mana_http_push(struct lws *wsi, http_req *r)
{
	char		buf[256];

	r->body_pending = true;
	lws_set_timer_usecs(wsi, (lws_usec_t) mana_request_timeout_ms * 1000);
	if (mana_http_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, buf, 256) <= 0 ||
		strncasecmp(buf, "application/json", 16) != 0)
	{
		mana_http_set_error(r, 415, "unsupported media type", "send Content-Type: application/json");
		return 0;
	}
	if (mana_http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, buf, 32) > 0 && atoll(buf) > mana_max_body)
	{
		r->close_after = true;	/* do not read 10 MB to throw them away */
		mana_http_set_error(r, 413, "payload too large", "the body is over mana_sync.max_body");
		return 0;
	}
	return 0;
}

/* the push's body is in: run the changeset */
int
mana_http_push_body_done(struct lws *wsi, http_req *r)
{
	char	   *params[4];

	if (r->body == NULL || r->len == 0)
	{
		mana_http_set_error(r, 400, "bad request", "the body is empty");
		return 0;
	}
	r->body[r->len] = '\0';
	if (strlen(r->body) != r->len)
	{
		mana_http_set_error(r, 400, "bad request", "the body contains a NUL byte");
		return 0;
	}
	/* the path's app is the changeset's; X-Client-Id wins over its clientId */
	params[0] = r->body;
	r->body = NULL;
	params[1] = strdup(r->user);
	params[2] = strdup(r->app);
	params[3] = r->client[0] ? strdup(r->client) : NULL;
	return mana_http_submit(r,
							"SELECT mana_apply_changeset(CASE WHEN jsonb_typeof(c) = 'object' "
							"THEN c || jsonb_strip_nulls(jsonb_build_object('appId', $3::text, 'clientId', $4::text)) "
							"ELSE c END, $2) FROM (SELECT $1::jsonb AS c) s",
							4, params, mana_http_job_done);
}
