/*
 * sse.h
 *     The event stream (sse.c): GET /sync/{appId}/stream, a row of http.c's
 *     route table, and what http.c calls while the stream lives.
 */
#ifndef MANA_SSE_H
#define MANA_SSE_H

#include "httpreq.h"

extern int	mana_sse_start(struct lws *wsi, http_req *r);
extern int	mana_sse_writeable(struct lws *wsi, http_req *r);
extern void mana_sse_keepalive(struct lws *wsi, http_req *r);
extern void mana_sse_free(sse_stream *st);

#endif
