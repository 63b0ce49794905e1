/*
 * http_sync.h
 *     The HTTP sync endpoints' handlers (http_sync.c), rows of http.c's
 *     route table.
 */
#ifndef MANA_HTTP_SYNC_H
#define MANA_HTTP_SYNC_H

#include "httpreq.h"

extern int	mana_http_push(struct lws *wsi, http_req *r);
extern int	mana_http_push_body_done(struct lws *wsi, http_req *r);
extern int	mana_http_pull(struct lws *wsi, http_req *r);

#endif
