/*
 * fuzz_util.h
 *     Helpers shared by the fuzz harnesses.
 */
#ifndef MANA_FUZZ_UTIL_H
#define MANA_FUZZ_UTIL_H

#include <stddef.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF) */
static inline int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		need,
					k;
		unsigned char lo = 0x80,
					hi = 0xbf;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 2;
		else if (c >= 0xe0 && c <= 0xef)
		{
			need = 3;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			need = 4;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		}
		else
			return 0;
		if (n - i < need || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (k = 2; k < need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += need;
	}
	return 1;
}

#endif
