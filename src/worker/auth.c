/*
 * auth.c
 *     Token verification for the push worker: the keys (mana_sync.jwks_file,
 *     mana_sync.jwt_secret for HS256 in development) and the claims it
 *     requires (mana_sync.jwt_issuer, mana_sync.jwt_audience).  The JWT
 *     itself is checked by core/jwt.c; this file holds the settings and the
 *     loaded keys, and reloads them on SIGHUP.
 */
#include "postgres.h"

#include <time.h>

#include "utils/guc.h"

#include "auth.h"

#define MANA_JWT_LEEWAY 30		/* seconds of clock skew allowed on exp/nbf */

char	   *mana_jwks_file = NULL;
char	   *mana_jwt_secret = NULL;
char	   *mana_jwt_issuer = NULL;
char	   *mana_jwt_audience = NULL;

static mana_jwks *jwks = NULL;

void
mana_auth_define_settings(void)
{
	DefineCustomStringVariable("mana_sync.jwks_file",
							   "JSON Web Key Set file with the keys that sign client tokens (EdDSA, ES256, RS256).",
							   "Re-read on reload (SIGHUP).",
							   &mana_jwks_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_secret",
							   "Shared secret for HS256 client tokens (development only).",
							   NULL, &mana_jwt_secret, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_issuer",
							   "Required \"iss\" of client tokens; empty: not checked.",
							   NULL, &mana_jwt_issuer, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mana_sync.jwt_audience",
							   "Required \"aud\" of client tokens; empty: not checked.",
							   NULL, &mana_jwt_audience, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/*
 * (Re)load the JWKS file.  A file that cannot be read or parsed keeps the
 * keys loaded before and says so in the log: a typo in a reload must not
 * lock every client out.
 */
void
mana_auth_reload(void)
{
	FILE	   *f;
	char	   *buf;
	long		n;
	char		err[256];
	mana_jwks  *k;

	if (mana_jwks_file == NULL || mana_jwks_file[0] == '\0')
	{
		mana_jwks_free(jwks);
		jwks = NULL;
		return;
	}
	f = fopen(mana_jwks_file, "rb");
	if (f == NULL)
	{
		elog(LOG, "mana_sync: could not open mana_sync.jwks_file \"%s\": %m; keeping the previous keys",
			 mana_jwks_file);
		return;
	}
	buf = malloc(1024 * 1024 + 1);
	n = buf ? (long) fread(buf, 1, 1024 * 1024 + 1, f) : -1;
	fclose(f);
	if (n < 0 || n > 1024 * 1024)
	{
		free(buf);
		elog(LOG, "mana_sync: mana_sync.jwks_file \"%s\" is larger than 1 MB; keeping the previous keys",
			 mana_jwks_file);
		return;
	}
	k = mana_jwks_parse(buf, (size_t) n, err, sizeof(err));
	free(buf);
	if (k == NULL)
	{
		elog(LOG, "mana_sync: mana_sync.jwks_file \"%s\" is not a valid JWKS (%s); keeping the previous keys",
			 mana_jwks_file, err);
		return;
	}
	mana_jwks_free(jwks);
	jwks = k;
	elog(LOG, "mana_sync: loaded %d key(s) from \"%s\"", mana_jwks_count(jwks), mana_jwks_file);
}

mana_jwt_status
mana_auth_verify(const char *token, mana_jwt_claims *claims)
{
	mana_jwt_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.jwks = jwks;
	if (mana_jwt_secret != NULL && mana_jwt_secret[0] != '\0')
	{
		cfg.hs256_secret = (const unsigned char *) mana_jwt_secret;
		cfg.hs256_secret_len = strlen(mana_jwt_secret);
	}
	cfg.issuer = (mana_jwt_issuer && mana_jwt_issuer[0]) ? mana_jwt_issuer : NULL;
	cfg.audience = (mana_jwt_audience && mana_jwt_audience[0]) ? mana_jwt_audience : NULL;
	cfg.now = (int64_t) time(NULL);
	cfg.leeway = MANA_JWT_LEEWAY;
	return mana_jwt_verify(token, strlen(token), &cfg, claims);
}

void
mana_auth_shutdown(void)
{
	mana_jwks_free(jwks);
	jwks = NULL;
}
