/*
 * request.h
 *     What every SQL function starts from (request.c): the user it acts for,
 *     and time in the protocol's milliseconds since 1970.
 */
#ifndef MANA_REQUEST_H
#define MANA_REQUEST_H

#include "datatype/timestamp.h"
#include "fmgr.h"

/* limits of the wire format */
#define MANA_MAX_ID_LEN 256
#define MANA_MAX_USER_LEN 256
#define MANA_MAX_CLIENT_LEN 128

/* PostgreSQL TimestampTz (us since 2000) <-> protocol ms since 1970 */
extern int64 mana_ts_to_ms(TimestampTz ts);
extern TimestampTz mana_ms_to_ts(int64 ms);
/* statement time, truncated to the protocol's millisecond precision */
extern int64 mana_now_ms(void);

/* the explicit user_id, else "sub" of request.jwt.claims; raises if none */
extern char *mana_resolve_user(text *user_id);

#endif
