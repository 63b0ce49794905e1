/*
 * request.c
 *     What every SQL function starts from: the user it acts for, and time
 *     in the wire format's milliseconds since 1970.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "access/xact.h"

#include "request.h"

/* ms since 1970 <-> TimestampTz (us since 2000), flooring toward -inf */
int64
mana_ts_to_ms(TimestampTz ts)
{
	int64		us = ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

	if (us >= 0)
		return us / 1000;
	return -((-us + 999) / 1000);
}

TimestampTz
mana_ms_to_ts(int64 ms)
{
	return ms * 1000 - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

int64
mana_now_ms(void)
{
	return mana_ts_to_ms(GetCurrentStatementStartTimestamp());
}

/*
 * The user a call acts for: the explicit argument, else "sub" of the
 * PostgREST claims setting.  Never silently anonymous.
 */
char *
mana_resolve_user(text *user_id)
{
	char	   *user = NULL;

	if (user_id != NULL)
		user = text_to_cstring(user_id);
	else
	{
		const char *claims = GetConfigOption("request.jwt.claims", true, false);

		if (claims != NULL && claims[0] != '\0')
		{
			Jsonb	   *jb;
			JsonbValue	key;
			JsonbValue *sub;

			jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
			if (JB_ROOT_IS_OBJECT(jb))
			{
				key.type = jbvString;
				key.val.string.val = "sub";
				key.val.string.len = 3;
				sub = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
				if (sub != NULL && sub->type == jbvString)
					user = pnstrdup(sub->val.string.val, sub->val.string.len);
			}
		}
		if (user == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("no user to act for"),
					 errdetail("user_id is NULL and request.jwt.claims has no \"sub\" string."),
					 errhint("Pass user_id, or set request.jwt.claims as PostgREST does.")));
	}
	if (user[0] == '\0' || strlen(user) > MANA_MAX_USER_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid user id"),
				 errdetail("A user id is a non-empty string of at most %d bytes.", MANA_MAX_USER_LEN)));
	return user;
}
