/*
 * http.h
 *     The push worker's HTTP layer, as the rest of the worker sees it: lws
 *     hands each request's events to http.c, which routes them by a table
 *     (one row per route) to their handlers:
 *
 *       http.c       request framing, routing, CORS, the token; /health,
 *                    /metrics, and /ws without an upgrade (426)
 *       httpreq.c    the request state and its answer, statements on the pool
 *       http_sync.c  POST /sync/{appId} and GET /sync/{appId}/pull
 *       sse.c        GET /sync/{appId}/stream: Server-Sent Events
 *
 * Everything here runs in lws callbacks: memory only, never an ERROR.
 */
#ifndef MANA_HTTP_H
#define MANA_HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

#include "httpreq.h"

/* ---- for the lws callback (worker.c): slot is the connection's request */
extern int	mana_http_on_request(struct lws *wsi, void **slot, const char *uri);
extern int	mana_http_on_body(struct lws *wsi, void **slot, const void *in, size_t len);
extern int	mana_http_on_body_done(struct lws *wsi, void **slot);
extern int	mana_http_on_writeable(struct lws *wsi, void **slot);
extern void mana_http_on_timer(struct lws *wsi, void **slot);
extern void mana_http_on_closed(void **slot);

/* ---- for ws.c: the route of a request target (NULL: none; *status 400 or 404) */
extern const mana_route *mana_http_route_find(const char *target, size_t len,
											  char app[MANA_WS_MAX_APP + 1], int *status);

#endif
