/*
 * iso8601.c
 *     ISO-8601 instants <-> milliseconds since the Unix epoch (pure C).
 *
 * Proleptic Gregorian calendar, years 0000..9999, using the days-from-civil
 * algorithms of H. Hinnant (public domain).  Every intermediate value is far
 * from the int64 limits: |days| < 3e6, |ms| < 3e14.
 */
#include "iso8601.h"

#define MS_PER_SEC	INT64_C(1000)
#define MS_PER_MIN	INT64_C(60000)
#define MS_PER_HOUR INT64_C(3600000)
#define MS_PER_DAY	INT64_C(86400000)

static int
iso_is_leap(int y)
{
	return (y % 4 == 0) && (y % 100 != 0 || y % 400 == 0);
}

static int
iso_days_in_month(int y, int m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && iso_is_leap(y))
		return 29;
	return dim[m - 1];
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t
iso_days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= (m <= 2);
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;		/* [0, 399] */
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;	/* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	/* [0, 146096] */
	return era * 146097 + doe - 719468;
}

static void
iso_civil_from_days(int64_t z, int *y_out, int *m_out, int *d_out)
{
	int64_t		era;
	int64_t		doe;
	int64_t		yoe;
	int64_t		y;
	int64_t		doy;
	int64_t		mp;
	int64_t		d;
	int64_t		m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;		/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;	/* [0, 399] */
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);	/* [0, 365] */
	mp = (5 * doy + 2) / 153;	/* [0, 11] */
	d = doy - (153 * mp + 2) / 5 + 1;	/* [1, 31] */
	m = mp < 10 ? mp + 3 : mp - 9;	/* [1, 12] */
	y += (m <= 2);
	*y_out = (int) y;
	*m_out = (int) m;
	*d_out = (int) d;
}

/* Reads exactly n ASCII digits at s; -1 if any is not a digit. */
static int
iso_digits(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
mana_iso8601_parse(const char *s, size_t len, int64_t *ms_out)
{
	int			year,
				mon,
				day,
				hour,
				min,
				sec;
	int64_t		frac_ms = 0;
	int64_t		offset_ms = 0;
	int64_t		ms;
	size_t		pos;

	if (s == NULL || ms_out == NULL)
		return -1;
	/* "YYYY-MM-DDTHH:MM:SS" and at least a zone designator */
	if (len < 20)
		return -1;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	year = iso_digits(s, 4);
	mon = iso_digits(s + 5, 2);
	day = iso_digits(s + 8, 2);
	hour = iso_digits(s + 11, 2);
	min = iso_digits(s + 14, 2);
	sec = iso_digits(s + 17, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 ||
		day > iso_days_in_month(year, mon) ||
		hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 59)
		return -1;

	pos = 19;
	if (s[pos] == '.')
	{
		int			ndig = 0;

		pos++;
		while (pos < len && s[pos] >= '0' && s[pos] <= '9')
		{
			if (ndig < 3)
				frac_ms = frac_ms * 10 + (s[pos] - '0');
			ndig++;
			pos++;
			if (ndig > 9)
				return -1;
		}
		if (ndig == 0)
			return -1;
		while (ndig < 3)
		{
			frac_ms *= 10;
			ndig++;
		}
	}

	if (pos >= len)
		return -1;
	if (s[pos] == 'Z')
	{
		pos++;
	}
	else if (s[pos] == '+' || s[pos] == '-')
	{
		int			sign = (s[pos] == '-') ? -1 : 1;
		int			oh,
					om;
		size_t		rest = len - pos - 1;

		pos++;
		if (rest == 5 && s[pos + 2] == ':')
		{
			oh = iso_digits(s + pos, 2);
			om = iso_digits(s + pos + 3, 2);
			pos += 5;
		}
		else if (rest == 4)
		{
			oh = iso_digits(s + pos, 2);
			om = iso_digits(s + pos + 2, 2);
			pos += 4;
		}
		else
			return -1;
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		offset_ms = sign * (oh * MS_PER_HOUR + om * MS_PER_MIN);
	}
	else
		return -1;
	if (pos != len)
		return -1;

	ms = iso_days_from_civil(year, mon, day) * MS_PER_DAY
		+ hour * MS_PER_HOUR + min * MS_PER_MIN + sec * MS_PER_SEC + frac_ms;
	/* local time = UTC + offset */
	ms -= offset_ms;
	if (ms < MANA_ISO_MIN_MS || ms > MANA_ISO_MAX_MS)
		return -1;
	*ms_out = ms;
	return 0;
}

static void
iso_put(char *p, int v, int n)
{
	while (n-- > 0)
	{
		p[n] = (char) ('0' + v % 10);
		v /= 10;
	}
}

int
mana_iso8601_format(int64_t ms, char *buf)
{
	int64_t		days;
	int64_t		rem;
	int			y,
				m,
				d;

	if (buf == NULL)
		return -1;
	if (ms < MANA_ISO_MIN_MS || ms > MANA_ISO_MAX_MS)
	{
		buf[0] = '\0';
		return -1;
	}
	/* floor division: times before 1970 belong to the earlier day */
	days = ms / MS_PER_DAY;
	rem = ms % MS_PER_DAY;
	if (rem < 0)
	{
		rem += MS_PER_DAY;
		days -= 1;
	}
	iso_civil_from_days(days, &y, &m, &d);

	iso_put(buf, y, 4);
	buf[4] = '-';
	iso_put(buf + 5, m, 2);
	buf[7] = '-';
	iso_put(buf + 8, d, 2);
	buf[10] = 'T';
	iso_put(buf + 11, (int) (rem / MS_PER_HOUR), 2);
	buf[13] = ':';
	iso_put(buf + 14, (int) (rem / MS_PER_MIN % 60), 2);
	buf[16] = ':';
	iso_put(buf + 17, (int) (rem / MS_PER_SEC % 60), 2);
	buf[19] = '.';
	iso_put(buf + 20, (int) (rem % MS_PER_SEC), 3);
	buf[23] = 'Z';
	buf[24] = '\0';
	return 24;
}
