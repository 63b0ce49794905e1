/*
 * notify_payload.h
 *     The payload of NOTIFY mana_sync (pure C).
 *
 * One JSON object, keys in this order, every value a JSON string:
 *   {"v":1,"db":"...","app":"...","table":"...","owner":"...","client":"..."}
 * "db" is the database name (so the worker can tell intake sources apart
 * once there are several); "owner" is omitted when longer than
 * MANA_NOTIFY_MAX_OWNER bytes (receivers then hint every user of the app),
 * "client" is omitted when NULL or longer than MANA_NOTIFY_MAX_CLIENT (then
 * nobody is spared the hint).  app, table and db are at most 256 bytes
 * each.  With every string escaped at worst 6x, the payload stays below
 * MANA_NOTIFY_MAX_PAYLOAD, far under NOTIFY's 8000-byte limit.
 */
#ifndef MANA_NOTIFY_PAYLOAD_H
#define MANA_NOTIFY_PAYLOAD_H

#include <stddef.h>

#define MANA_NOTIFY_MAX_NAME 256
#define MANA_NOTIFY_MAX_OWNER 256
#define MANA_NOTIFY_MAX_CLIENT 128
#define MANA_NOTIFY_MAX_PAYLOAD 7000

typedef struct mana_notify_msg
{
	const char *db;			size_t db_len;
	const char *app;		size_t app_len;
	const char *table;		size_t table_len;
	const char *owner;		size_t owner_len;		/* NULL: every user */
	const char *client;		size_t client_len;		/* NULL: no origin */
} mana_notify_msg;

/*
 * Encode into buf (at least MANA_NOTIFY_MAX_PAYLOAD bytes), NUL-terminated.
 * Control characters, '"' and '\\' are escaped (\uXXXX or the short forms);
 * other bytes are copied as they are.  Returns the length, or -1 when db,
 * app or table is NULL, empty or over MANA_NOTIFY_MAX_NAME.
 */
extern int	mana_notify_encode(const mana_notify_msg *m, char *buf);

/*
 * Decode a payload.  Keys may come in any order; unknown keys with string
 * or number values are skipped; "v" must be 1; db, app and table are
 * required.  Strings are unescaped (\uXXXX including surrogate pairs to
 * UTF-8; an unpaired surrogate or \u0000 is refused) into scratch, which must
 * hold len + 1 bytes; the message's pointers point into it, each string
 * NUL-terminated.  Returns 0 or -1.
 */
extern int	mana_notify_decode(const char *s, size_t len, mana_notify_msg *out,
							   char *scratch);

#endif
