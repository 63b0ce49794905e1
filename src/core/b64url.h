/*
 * b64url.h
 *     base64url (RFC 4648 section 5) without padding.  Pure C.
 */
#ifndef MANA_B64URL_H
#define MANA_B64URL_H

#include <stddef.h>

/* Encoded length for n input bytes (no padding, no NUL). */
#define MANA_B64URL_ENCLEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))
/* Upper bound of decoded length for n encoded characters. */
#define MANA_B64URL_DECLEN(n) ((((n) + 3) / 4) * 3)

/* Writes MANA_B64URL_ENCLEN(len) chars plus a NUL; returns chars written. */
extern size_t mana_b64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * Decodes; accepts no padding ('=' refused), no whitespace, and refuses a
 * final group of a single character and non-zero trailing bits.  out must
 * hold MANA_B64URL_DECLEN(len) bytes.  Returns decoded length or -1.
 */
extern long mana_b64url_decode(const char *in, size_t len, unsigned char *out);

#endif
