/*
 * b64url.c
 *     base64url (RFC 4648 section 5) without padding (pure C).
 */
#include <limits.h>

#include "b64url.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
mana_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t		i = 0;
	size_t		o = 0;

	while (len - i >= 3)
	{
		unsigned long v = ((unsigned long) in[i] << 16) |
		((unsigned long) in[i + 1] << 8) | in[i + 2];

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
		i += 3;
	}
	if (len - i == 1)
	{
		unsigned long v = (unsigned long) in[i] << 16;

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		unsigned long v = ((unsigned long) in[i] << 16) |
		((unsigned long) in[i + 1] << 8);

		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* value of one base64url character, or -1 */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
mana_b64url_decode(const char *in, size_t len, unsigned char *out)
{
	size_t		i = 0;
	size_t		o = 0;
	size_t		tail = len % 4;

	if (tail == 1)
		return -1;
	/* the decoded length must be representable as a long */
	if (len / 4 > (size_t) (LONG_MAX / 3) - 1)
		return -1;

	while (len - i >= 4)
	{
		int			a = b64url_value((unsigned char) in[i]);
		int			b = b64url_value((unsigned char) in[i + 1]);
		int			c = b64url_value((unsigned char) in[i + 2]);
		int			d = b64url_value((unsigned char) in[i + 3]);
		unsigned long v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -1;
		v = ((unsigned long) a << 18) | ((unsigned long) b << 12) |
			((unsigned long) c << 6) | (unsigned long) d;
		out[o++] = (unsigned char) (v >> 16);
		out[o++] = (unsigned char) (v >> 8);
		out[o++] = (unsigned char) v;
		i += 4;
	}
	if (tail == 2)
	{
		int			a = b64url_value((unsigned char) in[i]);
		int			b = b64url_value((unsigned char) in[i + 1]);

		if (a < 0 || b < 0 || (b & 0x0f) != 0)
			return -1;
		out[o++] = (unsigned char) ((a << 2) | (b >> 4));
	}
	else if (tail == 3)
	{
		int			a = b64url_value((unsigned char) in[i]);
		int			b = b64url_value((unsigned char) in[i + 1]);
		int			c = b64url_value((unsigned char) in[i + 2]);
		unsigned long v;

		if (a < 0 || b < 0 || c < 0 || (c & 0x03) != 0)
			return -1;
		v = ((unsigned long) a << 18) | ((unsigned long) b << 12) |
			((unsigned long) c << 6);
		out[o++] = (unsigned char) (v >> 16);
		out[o++] = (unsigned char) (v >> 8);
	}
	return (long) o;
}
