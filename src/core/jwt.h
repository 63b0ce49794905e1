/*
 * jwt.h
 *     JSON Web Token verification with OpenSSL 3 (pure C: libc, OpenSSL and
 *     json.h only; no PostgreSQL headers).
 *
 * Supported: EdDSA (Ed25519), ES256 (P-256, JOSE r||s signature), RS256
 * (RSA PKCS#1 v1.5 with SHA-256) with keys from a JWKS document chosen by
 * "kid"; HS256 with a shared secret (development).  "alg": "none", any other
 * algorithm, an algorithm that does not match the key's type, a missing
 * "kid" when the token is asymmetric and the key set has more than one key,
 * an unknown "kid", bad base64url, bad JSON, a payload that is not an
 * object, a "sub" that is not a non-empty string of at most 256 bytes: all
 * refused with a code, never a crash.  exp is required; exp and nbf are
 * checked with a leeway; iss and aud when configured (aud may be a string
 * or an array of strings).
 */
#ifndef MANA_JWT_H
#define MANA_JWT_H

#include <stddef.h>
#include <stdint.h>

#define MANA_JWT_MAX_TOKEN 8192	/* longer tokens are refused unread */
#define MANA_JWT_MAX_SUB 256

typedef enum mana_jwt_status
{
	MANA_JWT_OK = 0,
	MANA_JWT_MALFORMED,			/* not three base64url parts, bad JSON, too long */
	MANA_JWT_ALG_NONE,
	MANA_JWT_ALG_UNSUPPORTED,
	MANA_JWT_ALG_MISMATCH,		/* alg does not fit the key's type */
	MANA_JWT_NO_KEY,			/* no key of that kind configured */
	MANA_JWT_UNKNOWN_KID,		/* kid missing (when required) or not in the set */
	MANA_JWT_BAD_SIGNATURE,
	MANA_JWT_EXPIRED,
	MANA_JWT_NOT_YET_VALID,
	MANA_JWT_BAD_ISSUER,
	MANA_JWT_BAD_AUDIENCE,
	MANA_JWT_BAD_SUBJECT,
	MANA_JWT_NO_EXPIRY			/* exp is required */
} mana_jwt_status;

/* A parsed key set: OpenSSL keys with their kid and kty. */
typedef struct mana_jwks mana_jwks;

/*
 * Parse a JWKS document ({"keys": [...]}, as a JWKS endpoint serves it; a
 * single JWK object is accepted too).  Keys of kty OKP/crv Ed25519 (x), EC
 * P-256 (x, y) and RSA (n, e) are loaded; keys with "use" other than "sig"
 * or an unknown kty/crv are skipped; a key that claims a supported type but
 * is malformed fails the whole document.  Returns NULL on error with a short
 * reason in err (errlen bytes).  Free with mana_jwks_free.
 */
extern mana_jwks *mana_jwks_parse(const char *json, size_t len, char *err, size_t errlen);
extern void mana_jwks_free(mana_jwks *jwks);
extern int	mana_jwks_count(const mana_jwks *jwks);

typedef struct mana_jwt_config
{
	const mana_jwks *jwks;		/* may be NULL */
	const unsigned char *hs256_secret;	/* may be NULL: HS256 refused */
	size_t		hs256_secret_len;
	const char *issuer;			/* NULL: not checked */
	const char *audience;		/* NULL: not checked */
	int64_t		now;			/* seconds since the epoch */
	int			leeway;			/* seconds allowed on exp/nbf */
} mana_jwt_config;

typedef struct mana_jwt_claims
{
	char		sub[MANA_JWT_MAX_SUB + 1];
	int64_t		exp;			/* 0 when absent */
	int64_t		nbf;			/* 0 when absent */
} mana_jwt_claims;

/*
 * Verify a compact JWS (header.payload.signature, base64url without
 * padding).  On MANA_JWT_OK fills claims.  Checks, in this order: shape and
 * length, header JSON, alg, key selection, signature, then the claims (so
 * nothing of an unsigned payload is believed).
 */
extern mana_jwt_status mana_jwt_verify(const char *token, size_t len,
									   const mana_jwt_config *cfg,
									   mana_jwt_claims *claims);

extern const char *mana_jwt_strerror(mana_jwt_status status);

#endif
