/*
 * names.c
 *     Client field names (camelCase) <-> column names (snake_case) (pure C).
 */
#include "names.h"

static int
names_is_lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

size_t
mana_snake_to_camel(const char *in, size_t len, char *out)
{
	size_t		i;
	size_t		o = 0;

	for (i = 0; i < len; i++)
	{
		char		c = in[i];

		/*
		 * An '_' is dropped only between a non-'_' character and a lowercase
		 * letter or digit: leading, trailing and doubled '_' stay.
		 */
		if (c == '_' && i > 0 && in[i - 1] != '_' && i + 1 < len &&
			names_is_lower_or_digit(in[i + 1]))
		{
			char		n = in[i + 1];

			if (n >= 'a' && n <= 'z')
				n = (char) (n - 'a' + 'A');
			out[o++] = n;
			i++;
			continue;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}

size_t
mana_camel_to_snake(const char *in, size_t len, char *out)
{
	size_t		i;
	size_t		o = 0;

	for (i = 0; i < len; i++)
	{
		char		c = in[i];

		if (c >= 'A' && c <= 'Z')
		{
			if (i > 0)
				out[o++] = '_';
			out[o++] = (char) (c - 'A' + 'a');
		}
		else
			out[o++] = c;
	}
	out[o] = '\0';
	return o;
}
