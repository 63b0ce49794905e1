/*
 * fuzz_chunked.c
 *     libFuzzer harness for the chunked transfer coding decoder
 *     (src/core/chunked.c).
 *
 * The first input byte picks how the rest is split into pieces; the rest is
 * decoded once in one piece and once piece by piece (exact-size heap
 * copies).  Checked:
 *  - both ways give the same status and, unless it is ERROR, the same body
 *    and the same count of input used; produced <= consumed for every
 *    call; MORE uses all input;
 *  - after DONE or ERROR the decoder takes nothing more;
 *  - a body that decoded (DONE) re-encoded as chunks of 1..N bytes with an
 *    extension and a trailer decodes to itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mana_chunked_status
run(const char *in, size_t len, size_t step, char *out, size_t *outlen, size_t *used)
{
	mana_chunked d;
	mana_chunked_status st = MANA_CHUNKED_MORE;
	size_t		i = 0;

	mana_chunked_init(&d);
	*outlen = 0;
	*used = 0;
	while (i < len)
	{
		size_t		n = (step == 0 || len - i < step) ? len - i : step;
		char	   *piece = malloc(n);
		size_t		consumed,
					produced;

		if (piece == NULL)
			abort();
		memcpy(piece, in + i, n);
		st = mana_chunked_feed(&d, piece, n, out + *outlen, &consumed, &produced);
		free(piece);
		if (produced > consumed || consumed > n)
			abort();
		*outlen += produced;
		*used += consumed;
		if (st == MANA_CHUNKED_MORE && consumed != n)
			abort();
		if (st != MANA_CHUNKED_MORE)
		{
			char		x[4];

			if (st == MANA_CHUNKED_ERROR && d.error == NULL)
				abort();
			if (mana_chunked_feed(&d, "0\r\n\r\n", 5, x, &consumed, &produced) != st ||
				consumed != 0 || produced != 0)
				abort();
			return st;
		}
		i += n;
	}
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		step;
	const char *in;
	size_t		len;
	char	   *a,
			   *b;
	size_t		alen,
				aused,
				blen,
				bused;
	mana_chunked_status sa,
				sb;

	if (size < 1)
		return 0;
	step = data[0] % 17 + 1;
	in = (const char *) data + 1;
	len = size - 1;
	a = malloc(len + 1);
	b = malloc(len + 1);
	if (a == NULL || b == NULL)
		abort();
	sa = run(in, len, 0, a, &alen, &aused);
	sb = run(in, len, step, b, &blen, &bused);
	if (sa != sb)
		abort();
	/* what an ERROR call took and gave is not specified */
	if (sa != MANA_CHUNKED_ERROR &&
		(alen != blen || aused != bused || memcmp(a, b, alen) != 0))
		abort();

	if (sa == MANA_CHUNKED_DONE)
	{
		/* re-encode the body and decode it again */
		size_t		cap = alen * 16 + 64;
		char	   *enc = malloc(cap);
		char	   *dec = malloc(cap);
		size_t		n = 0,
					i = 0,
					dlen,
					dused;

		if (enc == NULL || dec == NULL)
			abort();
		while (i < alen)
		{
			size_t		c = alen - i < step ? alen - i : step;

			n += (size_t) sprintf(enc + n, "%zx;e=1\r\n", c);
			memcpy(enc + n, a + i, c);
			n += c;
			memcpy(enc + n, "\r\n", 2);
			n += 2;
			i += c;
		}
		memcpy(enc + n, "0\r\nT: v\r\n\r\n", 11);
		n += 11;
		if (run(enc, n, 0, dec, &dlen, &dused) != MANA_CHUNKED_DONE ||
			dlen != alen || dused != n || memcmp(dec, a, alen) != 0)
			abort();
		free(enc);
		free(dec);
	}
	free(a);
	free(b);
	return 0;
}
