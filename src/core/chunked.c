/*
 * chunked.c
 *     Incremental decoder of the chunked transfer coding (pure C); see
 *     chunked.h for what it accepts.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*"0" [ chunk-ext ] CRLF
 */
#include <string.h>

#include "chunked.h"

enum
{
	S_SIZE_FIRST,				/* the first hex digit of a size */
	S_SIZE,						/* more hex digits, or what ends them */
	S_EXT,						/* chunk extensions up to CR */
	S_SIZE_LF,					/* LF after the size line */
	S_DATA,						/* chunk data */
	S_DATA_CR,					/* CR after the data */
	S_DATA_LF,					/* LF after the data */
	S_TRAILER_START,			/* a trailer line, or the final CRLF */
	S_TRAILER,					/* inside a trailer field line */
	S_TRAILER_LF,				/* LF ending a trailer line */
	S_FINAL_LF,					/* LF of the final CRLF */
	S_DONE,
	S_ERROR
};

void
mana_chunked_init(mana_chunked *d)
{
	memset(d, 0, sizeof(*d));
	d->state = S_SIZE_FIRST;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* visible characters, space and tab: what a field or extension line holds */
static int
line_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static mana_chunked_status
fail(mana_chunked *d, const char *why)
{
	d->state = S_ERROR;
	d->error = why;
	return MANA_CHUNKED_ERROR;
}

mana_chunked_status
mana_chunked_feed(mana_chunked *d, const char *in, size_t len,
				  char *out, size_t *consumed, size_t *produced)
{
	size_t		i = 0;
	size_t		o = 0;

	*consumed = 0;
	*produced = 0;
	if (d->state == S_DONE)
		return MANA_CHUNKED_DONE;
	if (d->state == S_ERROR)
		return MANA_CHUNKED_ERROR;

	while (i < len)
	{
		unsigned char c = (unsigned char) in[i];
		int			h;

		switch (d->state)
		{
			case S_SIZE_FIRST:
			case S_SIZE:
				h = hexval(c);
				if (h >= 0)
				{
					if (++d->ndigits > 15)
						return fail(d, "chunk size too large");
					d->remain = (d->remain << 4) | (uint64_t) h;
					d->state = S_SIZE;
					d->line++;
					i++;
					break;
				}
				if (d->state == S_SIZE_FIRST)
					return fail(d, "chunk size expected");
				if (c == '\r')
					d->state = S_SIZE_LF;
				else if (c == ';' || c == ' ' || c == '\t')
					d->state = S_EXT;
				else
					return fail(d, "bad character after the chunk size");
				d->line++;
				i++;
				break;

			case S_EXT:
				if (c == '\r')
					d->state = S_SIZE_LF;
				else if (!line_char(c))
					return fail(d, "bad character in a chunk extension");
				if (++d->line > MANA_CHUNKED_MAX_LINE)
					return fail(d, "chunk size line too long");
				i++;
				break;

			case S_SIZE_LF:
				if (c != '\n')
					return fail(d, "CRLF expected after the chunk size");
				i++;
				d->line = 0;
				d->ndigits = 0;
				if (d->remain == 0)
					d->state = S_TRAILER_START;
				else
					d->state = S_DATA;
				break;

			case S_DATA:
				{
					size_t		n = len - i;

					if ((uint64_t) n > d->remain)
						n = (size_t) d->remain;
					memcpy(out + o, in + i, n);
					o += n;
					i += n;
					d->remain -= n;
					if (d->remain == 0)
						d->state = S_DATA_CR;
				}
				break;

			case S_DATA_CR:
				if (c != '\r')
					return fail(d, "CRLF expected after the chunk data");
				d->state = S_DATA_LF;
				i++;
				break;

			case S_DATA_LF:
				if (c != '\n')
					return fail(d, "CRLF expected after the chunk data");
				d->state = S_SIZE_FIRST;
				i++;
				break;

			case S_TRAILER_START:
				if (c == '\r')
				{
					d->state = S_FINAL_LF;
					i++;
					break;
				}
				/* a field line: not empty, no leading whitespace (obs-fold) */
				if (c == ' ' || c == '\t' || !line_char(c))
					return fail(d, "bad trailer field");
				d->state = S_TRAILER;
				d->line = 0;
				/* FALLTHROUGH */
			case S_TRAILER:
				if (c == '\r')
					d->state = S_TRAILER_LF;
				else if (!line_char(c))
					return fail(d, "bad character in a trailer field");
				if (++d->line > MANA_CHUNKED_MAX_LINE)
					return fail(d, "trailer field too long");
				if (++d->trailer > MANA_CHUNKED_MAX_TRAILER)
					return fail(d, "trailer section too long");
				i++;
				break;

			case S_TRAILER_LF:
				if (c != '\n')
					return fail(d, "CRLF expected after a trailer field");
				if (++d->trailer > MANA_CHUNKED_MAX_TRAILER)
					return fail(d, "trailer section too long");
				d->state = S_TRAILER_START;
				i++;
				break;

			case S_FINAL_LF:
				if (c != '\n')
					return fail(d, "CRLF expected at the end of the body");
				i++;
				d->state = S_DONE;
				*consumed = i;
				*produced = o;
				return MANA_CHUNKED_DONE;

			default:
				return fail(d, "decoder state");
		}
	}
	*consumed = i;
	*produced = o;
	return MANA_CHUNKED_MORE;
}
