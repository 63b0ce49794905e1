/*
 * notify_payload.c
 *     The payload of NOTIFY mana_sync (pure C).
 */
#include <string.h>

#include "notify_payload.h"

/* ---------------------------------------------------------------- encoder */

static const char notify_hex[] = "0123456789abcdef";

/* Appends s[0, len) as a JSON string (with quotes) at buf + pos. */
static size_t
notify_put_string(char *buf, size_t pos, const char *s, size_t len)
{
	size_t		i;

	buf[pos++] = '"';
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				buf[pos++] = '\\';
				buf[pos++] = '"';
				break;
			case '\\':
				buf[pos++] = '\\';
				buf[pos++] = '\\';
				break;
			case '\b':
				buf[pos++] = '\\';
				buf[pos++] = 'b';
				break;
			case '\f':
				buf[pos++] = '\\';
				buf[pos++] = 'f';
				break;
			case '\n':
				buf[pos++] = '\\';
				buf[pos++] = 'n';
				break;
			case '\r':
				buf[pos++] = '\\';
				buf[pos++] = 'r';
				break;
			case '\t':
				buf[pos++] = '\\';
				buf[pos++] = 't';
				break;
			default:
				if (c < 0x20 || c == 0x7f)
				{
					buf[pos++] = '\\';
					buf[pos++] = 'u';
					buf[pos++] = '0';
					buf[pos++] = '0';
					buf[pos++] = notify_hex[c >> 4];
					buf[pos++] = notify_hex[c & 15];
				}
				else
					buf[pos++] = (char) c;
				break;
		}
	}
	buf[pos++] = '"';
	return pos;
}

static size_t
notify_put_raw(char *buf, size_t pos, const char *s)
{
	size_t		n = strlen(s);

	memcpy(buf + pos, s, n);
	return pos + n;
}

static int
notify_name_ok(const char *s, size_t len)
{
	return s != NULL && len > 0 && len <= MANA_NOTIFY_MAX_NAME;
}

int
mana_notify_encode(const mana_notify_msg *m, char *buf)
{
	size_t		pos = 0;

	if (m == NULL || buf == NULL)
		return -1;
	if (!notify_name_ok(m->db, m->db_len) ||
		!notify_name_ok(m->app, m->app_len) ||
		!notify_name_ok(m->table, m->table_len))
	{
		buf[0] = '\0';
		return -1;
	}

	/*
	 * Worst case: 58 bytes of structure + 6 * (3 * 256 + 256 + 128) bytes of
	 * escaped text + NUL = 6971 < MANA_NOTIFY_MAX_PAYLOAD.
	 */
	pos = notify_put_raw(buf, pos, "{\"v\":1,\"db\":");
	pos = notify_put_string(buf, pos, m->db, m->db_len);
	pos = notify_put_raw(buf, pos, ",\"app\":");
	pos = notify_put_string(buf, pos, m->app, m->app_len);
	pos = notify_put_raw(buf, pos, ",\"table\":");
	pos = notify_put_string(buf, pos, m->table, m->table_len);
	if (m->owner != NULL && m->owner_len <= MANA_NOTIFY_MAX_OWNER)
	{
		pos = notify_put_raw(buf, pos, ",\"owner\":");
		pos = notify_put_string(buf, pos, m->owner, m->owner_len);
	}
	if (m->client != NULL && m->client_len <= MANA_NOTIFY_MAX_CLIENT)
	{
		pos = notify_put_raw(buf, pos, ",\"client\":");
		pos = notify_put_string(buf, pos, m->client, m->client_len);
	}
	buf[pos++] = '}';
	buf[pos] = '\0';
	return (int) pos;
}

/* ---------------------------------------------------------------- decoder */

typedef struct notify_parser
{
	const char *s;
	size_t		len;
	size_t		pos;
	char	   *scratch;
	size_t		spos;			/* next free byte of scratch */
} notify_parser;

static void
notify_skip_ws(notify_parser *p)
{
	while (p->pos < p->len)
	{
		char		c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

/* Reads 4 hex digits at p->pos; -1 if not there. */
static long
notify_hex4(notify_parser *p)
{
	long		v = 0;
	size_t		i;

	if (p->len - p->pos < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		char		c = p->s[p->pos + i];
		int			d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	p->pos += 4;
	return v;
}

/*
 * Parses a JSON string starting at the opening quote, unescaping it into
 * scratch (NUL-terminated).  The output never outgrows the input: a raw byte
 * gives one byte, a 2-char escape one byte, "\uXXXX" at most 3 bytes, a
 * surrogate pair (12 chars) 4 bytes, and the NUL takes the place of the
 * closing quote.  Returns 0 and sets *out / *out_len, or -1.  About 100
 * lines: a byte-level decoder in one loop, fuzzed as a whole.
 */
static int
notify_parse_string(notify_parser *p, const char **out, size_t *out_len)
{
	char	   *dst = p->scratch + p->spos;
	size_t		n = 0;

	if (p->pos >= p->len || p->s[p->pos] != '"')
		return -1;
	p->pos++;
	for (;;)
	{
		unsigned char c;

		if (p->pos >= p->len)
			return -1;
		c = (unsigned char) p->s[p->pos++];
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;			/* raw control characters are not JSON */
		if (c != '\\')
		{
			dst[n++] = (char) c;
			continue;
		}
		if (p->pos >= p->len)
			return -1;
		c = (unsigned char) p->s[p->pos++];
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				dst[n++] = (char) c;
				break;
			case 'b':
				dst[n++] = '\b';
				break;
			case 'f':
				dst[n++] = '\f';
				break;
			case 'n':
				dst[n++] = '\n';
				break;
			case 'r':
				dst[n++] = '\r';
				break;
			case 't':
				dst[n++] = '\t';
				break;
			case 'u':
				{
					long		cp = notify_hex4(p);

					if (cp < 0 || cp == 0)
						return -1;
					if (cp >= 0xDC00 && cp <= 0xDFFF)
						return -1;	/* lone low surrogate */
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						long		lo;

						if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
							p->s[p->pos + 1] != 'u')
							return -1;
						p->pos += 2;
						lo = notify_hex4(p);
						if (lo < 0xDC00 || lo > 0xDFFF)
							return -1;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					if (cp < 0x80)
						dst[n++] = (char) cp;
					else if (cp < 0x800)
					{
						dst[n++] = (char) (0xC0 | (cp >> 6));
						dst[n++] = (char) (0x80 | (cp & 0x3F));
					}
					else if (cp < 0x10000)
					{
						dst[n++] = (char) (0xE0 | (cp >> 12));
						dst[n++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						dst[n++] = (char) (0x80 | (cp & 0x3F));
					}
					else
					{
						dst[n++] = (char) (0xF0 | (cp >> 18));
						dst[n++] = (char) (0x80 | ((cp >> 12) & 0x3F));
						dst[n++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						dst[n++] = (char) (0x80 | (cp & 0x3F));
					}
					break;
				}
			default:
				return -1;
		}
	}
	dst[n] = '\0';
	p->spos += n + 1;
	*out = dst;
	*out_len = n;
	return 0;
}

/*
 * Skips a JSON number (RFC 8259 grammar).  If is_one is not NULL, sets it
 * to whether the number was written exactly as "1".
 */
static int
notify_skip_number(notify_parser *p, int *is_one)
{
	size_t		start = p->pos;

#define NP_DIGIT() (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (!NP_DIGIT())
		return -1;
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		while (NP_DIGIT())
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		if (!NP_DIGIT())
			return -1;
		while (NP_DIGIT())
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!NP_DIGIT())
			return -1;
		while (NP_DIGIT())
			p->pos++;
	}
#undef NP_DIGIT
	if (is_one)
		*is_one = (p->pos - start == 1 && p->s[start] == '1');
	return 0;
}

enum
{
	NK_V = 0, NK_DB, NK_APP, NK_TABLE, NK_OWNER, NK_CLIENT, NK_COUNT, NK_UNKNOWN = -1
};

static int
notify_key(const char *k, size_t n)
{
	static const char *const names[NK_COUNT] = {"v", "db", "app", "table", "owner", "client"};
	int			i;

	for (i = 0; i < NK_COUNT; i++)
	{
		if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
			return i;
	}
	return NK_UNKNOWN;
}

int
mana_notify_decode(const char *s, size_t len, mana_notify_msg *out,
				   char *scratch)
{
	notify_parser p;
	mana_notify_msg m;
	int			seen[NK_COUNT] = {0};

	if (s == NULL || out == NULL || scratch == NULL)
		return -1;
	memset(&m, 0, sizeof(m));
	p.s = s;
	p.len = len;
	p.pos = 0;
	p.scratch = scratch;
	p.spos = 0;

	notify_skip_ws(&p);
	if (p.pos >= p.len || p.s[p.pos] != '{')
		return -1;
	p.pos++;
	notify_skip_ws(&p);
	if (p.pos < p.len && p.s[p.pos] == '}')
		return -1;				/* an empty object lacks the required keys */

	for (;;)
	{
		const char *key;
		size_t		key_len;
		size_t		key_spos = p.spos;
		int			k;

		if (notify_parse_string(&p, &key, &key_len) != 0)
			return -1;
		k = notify_key(key, key_len);
		p.spos = key_spos;		/* the key's text is not kept */
		notify_skip_ws(&p);
		if (p.pos >= p.len || p.s[p.pos] != ':')
			return -1;
		p.pos++;
		notify_skip_ws(&p);
		if (p.pos >= p.len)
			return -1;

		if (k == NK_UNKNOWN)
		{
			if (p.s[p.pos] == '"')
			{
				const char *v;
				size_t		vl;
				size_t		v_spos = p.spos;

				if (notify_parse_string(&p, &v, &vl) != 0)
					return -1;
				p.spos = v_spos;
			}
			else if (notify_skip_number(&p, NULL) != 0)
				return -1;
		}
		else
		{
			if (seen[k])
				return -1;		/* duplicate key */
			seen[k] = 1;
			if (k == NK_V)
			{
				int			is_one = 0;

				if (p.s[p.pos] == '"' || notify_skip_number(&p, &is_one) != 0 || !is_one)
					return -1;
			}
			else
			{
				const char *v;
				size_t		vl;

				if (notify_parse_string(&p, &v, &vl) != 0)
					return -1;
				switch (k)
				{
					case NK_DB:
						m.db = v;
						m.db_len = vl;
						break;
					case NK_APP:
						m.app = v;
						m.app_len = vl;
						break;
					case NK_TABLE:
						m.table = v;
						m.table_len = vl;
						break;
					case NK_OWNER:
						m.owner = v;
						m.owner_len = vl;
						break;
					default:
						m.client = v;
						m.client_len = vl;
						break;
				}
			}
		}

		notify_skip_ws(&p);
		if (p.pos >= p.len)
			return -1;
		if (p.s[p.pos] == ',')
		{
			p.pos++;
			notify_skip_ws(&p);
			continue;
		}
		if (p.s[p.pos] == '}')
		{
			p.pos++;
			break;
		}
		return -1;
	}
	notify_skip_ws(&p);
	if (p.pos != p.len)
		return -1;

	/* what the encoder can produce, and nothing else */
	if (!seen[NK_V] || !seen[NK_DB] || !seen[NK_APP] || !seen[NK_TABLE])
		return -1;
	if (m.db_len == 0 || m.db_len > MANA_NOTIFY_MAX_NAME ||
		m.app_len == 0 || m.app_len > MANA_NOTIFY_MAX_NAME ||
		m.table_len == 0 || m.table_len > MANA_NOTIFY_MAX_NAME ||
		(m.owner && m.owner_len > MANA_NOTIFY_MAX_OWNER) ||
		(m.client && m.client_len > MANA_NOTIFY_MAX_CLIENT))
		return -1;
	*out = m;
	return 0;
}
