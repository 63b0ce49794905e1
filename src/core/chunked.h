/*
 * chunked.h
 *     An incremental decoder of the HTTP/1.1 chunked transfer coding
 *     (RFC 9112 section 7.1) for request bodies.  Pure C.
 *
 * libwebsockets 4.1 hands a POST body without Content-Length to the
 * application as raw bytes; this turns them back into the body.  It is
 * strict where leniency lets two parsers disagree about where a message
 * ends (request smuggling): CRLF only (no bare LF), no whitespace before
 * the size, at most 15 hex digits, and bounded chunk-extension and trailer
 * lines.  Extensions and trailer fields are read and ignored.
 */
#ifndef MANA_CHUNKED_H
#define MANA_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* longest chunk-size line (size + extensions) or trailer line */
#define MANA_CHUNKED_MAX_LINE 4096
/* most bytes of trailer section in all */
#define MANA_CHUNKED_MAX_TRAILER 16384

typedef enum mana_chunked_status
{
	MANA_CHUNKED_ERROR = -1,	/* malformed; d->error says why */
	MANA_CHUNKED_MORE = 0,		/* everything consumed, the body goes on */
	MANA_CHUNKED_DONE = 1		/* the last chunk and trailers are in */
} mana_chunked_status;

typedef struct mana_chunked
{
	int			state;
	int			ndigits;		/* hex digits of the current size */
	uint64_t	remain;			/* data bytes left in the current chunk */
	size_t		line;			/* bytes of the current line so far */
	size_t		trailer;		/* bytes of trailer section so far */
	const char *error;			/* set with MANA_CHUNKED_ERROR */
} mana_chunked;

extern void mana_chunked_init(mana_chunked *d);

/*
 * Decodes in[0..len).  The body's bytes go to out, which must have room
 * for len bytes (decoding never grows); *produced says how many.
 * *consumed is how much of in was used: all of it with MORE, up to the
 * end of the message with DONE (what follows belongs to the next request).
 * With ERROR, what was consumed and produced is unspecified.  After DONE
 * or ERROR, further calls return the same status and consume nothing.
 */
extern mana_chunked_status mana_chunked_feed(mana_chunked *d,
											 const char *in, size_t len,
											 char *out, size_t *consumed,
											 size_t *produced);

#endif
