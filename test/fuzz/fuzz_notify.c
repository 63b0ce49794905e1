/*
 * fuzz_notify.c
 *     libFuzzer harness for src/core/notify_payload.c.
 *
 * The input is a NOTIFY payload.  The decoder gets a scratch buffer of
 * exactly len + 1 bytes (as notify_payload.h requires; ASan catches any
 * write past it).  On success the fields are checked (lengths within the
 * limits, NUL-terminated, no embedded NUL), encoded into a buffer of exactly
 * MANA_NOTIFY_MAX_PAYLOAD bytes, decoded again (same fields), and encoded
 * again (same bytes: the encoding is canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify_payload.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t len, size_t max, int required)
{
	if (s == NULL)
	{
		if (required)
			abort();
		return;
	}
	if (len > max || (required && len == 0))
		abort();
	if (s[len] != '\0' || strlen(s) != len)
		abort();
}

static int
same_str(const char *a, size_t alen, const char *b, size_t blen)
{
	if ((a == NULL) != (b == NULL))
		return 0;
	if (a == NULL)
		return 1;
	return alen == blen && memcmp(a, b, alen) == 0;
}

static int
same_msg(const mana_notify_msg *a, const mana_notify_msg *b)
{
	return same_str(a->db, a->db_len, b->db, b->db_len) &&
		same_str(a->app, a->app_len, b->app, b->app_len) &&
		same_str(a->table, a->table_len, b->table, b->table_len) &&
		same_str(a->owner, a->owner_len, b->owner, b->owner_len) &&
		same_str(a->client, a->client_len, b->client, b->client_len);
}

static void
check_msg(const mana_notify_msg *m)
{
	check_str(m->db, m->db_len, MANA_NOTIFY_MAX_NAME, 1);
	check_str(m->app, m->app_len, MANA_NOTIFY_MAX_NAME, 1);
	check_str(m->table, m->table_len, MANA_NOTIFY_MAX_NAME, 1);
	check_str(m->owner, m->owner_len, MANA_NOTIFY_MAX_OWNER, 0);
	check_str(m->client, m->client_len, MANA_NOTIFY_MAX_CLIENT, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size ? size : 1);
	char	   *scratch = malloc(size + 1);
	char	   *enc = malloc(MANA_NOTIFY_MAX_PAYLOAD);
	char	   *enc2 = malloc(MANA_NOTIFY_MAX_PAYLOAD);
	char	   *scratch2 = malloc(MANA_NOTIFY_MAX_PAYLOAD);
	mana_notify_msg m;
	mana_notify_msg m2;
	int			n;
	int			n2;

	if (s == NULL || scratch == NULL || enc == NULL || enc2 == NULL || scratch2 == NULL)
		goto done;
	memcpy(s, data, size);

	if (mana_notify_decode(s, size, &m, scratch) != 0)
		goto done;
	check_msg(&m);

	n = mana_notify_encode(&m, enc);
	if (n <= 0 || n >= MANA_NOTIFY_MAX_PAYLOAD || strlen(enc) != (size_t) n)
		abort();
	/* decode needs len + 1 bytes of scratch: n + 1 <= MANA_NOTIFY_MAX_PAYLOAD */
	if (mana_notify_decode(enc, (size_t) n, &m2, scratch2) != 0)
		abort();
	check_msg(&m2);
	if (!same_msg(&m, &m2))
		abort();
	n2 = mana_notify_encode(&m2, enc2);
	if (n2 != n || memcmp(enc, enc2, (size_t) n + 1) != 0)
		abort();

done:
	free(s);
	free(scratch);
	free(enc);
	free(enc2);
	free(scratch2);
	return 0;
}
