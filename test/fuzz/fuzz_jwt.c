/*
 * fuzz_jwt.c
 *     libFuzzer harness for src/core/jwt.c (with json.c and b64url.c).
 *
 * The first input byte is a control byte, the rest is the data.
 *   bits 0-2  mode
 *     0  the data as a JWKS document (mana_jwks_parse, result freed) and
 *        as a compact token verified against the built-in key set
 *     1  the data as a JWKS document; when it parses, a few fixed valid
 *        tokens (EdDSA, ES256, RS256, HS256, with and without kid) are
 *        verified against it
 *     2  data = header '\n' payload (JSON texts; without '\n' the data is
 *        the header and a valid payload is used): the harness encodes
 *        them, signs with HS256 and verifies
 *     3  the same, signed with the built-in Ed25519 key
 *     4  the same, signed with the built-in P-256 key (ES256)
 *     5  data = payload, header {"alg":"HS256","typ":"JWT"}, HS256
 *     6  data = payload, header {"alg":"EdDSA","kid":"ed1"}, EdDSA
 *     7  data = "header.payload" as base64url text, HS256 signature appended
 *   bit 3     require an issuer, bit 4 an audience
 *   bits 5-6  leeway 0, 60, -5 or INT_MAX
 *   bit 7     key set: all four keys and the HS256 secret, or one Ed25519
 *             key without kid and no secret
 *
 * In the signing modes (2-7) the exact status is predicted by a reference
 * model written from jwt.c's documented rules (shape, header, key
 * selection, signature, then the claims exp, nbf, iss, aud, sub) and must
 * match, with the claims on MANA_JWT_OK.  In every mode: no crash, no leak,
 * the OpenSSL error queue is left empty, and an OK always carries a sane
 * subject.
 *
 * The key material below is test-only and public.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "json.h"
#include "jwt.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------- key material */

#define X_ED1 "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"	/* RFC 8037 A.1 */
#define X_ED2 "cRGraiDbSNeMGrDl4vrJ3Nwqio-Xteo9iwmGfa7cxUY"
#define X_EC1 "A2D_pqML28xx3tSQ3-swhXSkI7k7zLMmBg2jH-Jwrfs"
#define Y_EC1 "43SSwU8yrjvG7bU1-R3PbWjZh9Vr07_2986ZcMOoHJ8"
#define N_RSA1 "wrrgHZTRd1gYVcB967qGWkCEwxJ9AzW3WEjyyFuH4YP5iGT-7LRR7ajStx5VwGWGlxWqm1fF" \
	"G0d22PEzka5BW5UdrBMzWsxtz3iZt1qTuTjQRTvaTU-8NxyCzwBDX3FM4dXQYPG2gRD_PD0r_cis" \
	"E6cdH4lmPtOvF09PWeFYRooLjI6vVxQeeVx0mjpa2DRjzGdlWwgI1EntX6jQNgfj5mXfdoffe-HN" \
	"XwMb3x7l0G-cHIRYCxkFsKYAoNFZdSzf7UDgoL_vDTcMH-t2jGEPCQL-1i59tIQVvE0rINHYRSSu" \
	"EG1svsAQw3aXtKRgr54N6k7z70mhsnApVCq2-F33GQ"

static const char jwks_full_json[] =
	"{\"keys\":["
	"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":\"sig\",\"kid\":\"ed1\",\"x\":\"" X_ED1 "\"},"
	"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed2\",\"x\":\"" X_ED2 "\"},"
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"kid\":\"ec1\",\"x\":\"" X_EC1 "\",\"y\":\"" Y_EC1 "\"},"
	"{\"kty\":\"RSA\",\"alg\":\"RS256\",\"kid\":\"rsa1\",\"n\":\"" N_RSA1 "\",\"e\":\"AQAB\"}"
	"]}";

static const char jwks_single_json[] =
	"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_ED1 "\"}";

/* private halves of ed1 (RFC 8037 A.1 seed) and ec1 */
static const unsigned char ed1_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60
};
static const char ec1_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCcI9oU8Y+kdrc++y\n"
	"pvK8HdlDoDE4M5XYHkH8IyolI3OhRANCAAQDYP+mowvbzHHe1JDf6zCFdKQjuTvM\n"
	"syYGDaMf4nCt++N0ksFPMq47xu21Nfkdz21o2YfVa9O/9vfOmXDDqByf\n"
	"-----END PRIVATE KEY-----\n";

static const unsigned char hs_secret[] = "mana-sync fuzz HS256 secret, not for production";

#define ISSUER "https://issuer.example"
#define AUDIENCE "mana"
#define NOW INT64_C(1700000000)

/*
 * Valid tokens (payload {"sub":"user-1","exp":4102444800,
 * "iss":"https://issuer.example","aud":"mana"}) for mode 1.
 */
static const char *const fixed_tokens[] = {
	/* EdDSA, kid ed1 */
	"eyJhbGciOiJFZERTQSIsImtpZCI6ImVkMSJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.W38o0_rHv7Oc6_CxhN3RdjzGcrY2fZTD3U5bfAqD8xrTRJ21YjdNFzdsZknseGQuLnFx4jWurXG6hAHn_dJMCw",
	/* EdDSA, no kid */
	"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.Hnnr1BYbhBVhKkw2_pv28q22xDBP5JQVTvQyuJ4shEbJwpUIVZB3Mu6EgBAazUVCzy3GWMlC1bAuFovVwqBDBA",
	/* ES256, kid ec1 */
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMSJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.YUXAUDUMuL9W-RLugvFBFT9d1g5mu1RJuanE6hG7XeBA9rX9z7la_fBVR9prYFKpS4lGd53QGu0WskcxKAGMTw",
	/* ES256, no kid */
	"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.1csAJqArvwJMq43iTp2uxarjaWQAdAAdd02UqIgHPAqGFhUGqVG-iFJBowGTpPtdw2xUsBpXsf9J6bNV77ilEw",
	/* RS256, kid rsa1 */
	"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEifQ.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.UQQ_axtZ2QFhzH7Eme5j1OZuO0oit9y1EvcAltIsSOc4FzD-G3U0OG39O1hZIdPJfj-y6-domt9vyOGAUPaP6VkQt4j0UOtjxWKj_18FdaTKsi_VxF_NDYW5ye72gNiDhtvlu9GEO1huUriUmhLKh2RjUbEBhjPVjpd33pglZkEw_7NbcBUbLFN_ZkmRErv9pS0vHUaOYr1iSI1pXuywBwwM2WXHcMXifnY9u36UNS1lmxI6IZ593Kk7et5ucZR4K9pqVyFgSIrgsgcOVOcJo2qzPIxkAzE2CZzTcLbiocvDXhvZVCczeY21KSIWBZ-bIqwXIkC-lE_LOjtekFF9MQ",
	/* RS256, no kid */
	"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.dvk9tDb90ovVxag_osXFXpXqbClZ7ZCxoz_SmayMrKsIf7ROv-ZwTJCMrjugGvadTngdDEBccsWEtCkvVdQTR-VQCRWTpayD6Kj8xcEYRuGJanAD50jPvfg2wREPdMTmt-kW9GE_wvQEtHr4RJ3onfqku8Km6HqoT7YoIkvtrFW4P2BtUHhRhN1agrH9yyg7v9J3256CV2-A3jjxhqByHiO7h502cWYoFCDJ6i2_JlvzrShhSso1eTiOtNXy2qpwjGMX_j_i82cIMhWJoUXZVobsCqf0Iz_IRbGyjHcnB-Voc5iA8FR0FLn_zjwThsPXpk8x4uhs6fEXJr8_ZLfhfQ",
	/* HS256 */
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJtYW5hIn0.iou_9XrOmZHdO3y1JzQ5O6X7PUjdkT3m1h6wACoJdDU",
};
#define NFIXED (sizeof(fixed_tokens) / sizeof(fixed_tokens[0]))

static const char default_payload[] =
	"{\"sub\":\"user-1\",\"exp\":2000000000,\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\"}";

/* ------------------------------------------------------- reference model */

enum
{
	ALG_ED = 1, ALG_EC, ALG_RS, ALG_HS
};

typedef struct refkey
{
	const char *kid;			/* NULL: no kid */
	int			alg;			/* the alg the key serves */
	int			ours;			/* we hold its private half */
} refkey;

static const refkey set_full[] = {
	{"ed1", ALG_ED, 1}, {"ed2", ALG_ED, 0}, {"ec1", ALG_EC, 1}, {"rsa1", ALG_RS, 0}
};
static const refkey set_single[] = {
	{NULL, ALG_ED, 1}
};

typedef struct keyset
{
	mana_jwks  *jwks;
	const refkey *ref;
	int			nref;
	int			has_secret;
} keyset;

static keyset ks_full;
static keyset ks_single;
static EVP_PKEY *ed1_priv;
static EVP_PKEY *ec1_priv;
static char *big_arena;
#define BIG_ARENA_SIZE (4u << 20)

static mana_json *
ref_parse(const unsigned char *s, size_t len, mana_arena *a)
{
	return mana_json_parse((const char *) s, len, a, NULL);
}

static int
str_is(const mana_json *v, const char *lit)
{
	return v->type == MANA_JSON_STRING && v->len == strlen(lit) &&
		memcmp(v->str, lit, v->len) == 0;
}

static int
ascii_caseeq_none(const char *s, size_t len)
{
	static const char none[] = "none";
	size_t		i;

	if (len != 4)
		return 0;
	for (i = 0; i < 4; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != none[i])
			return 0;
	}
	return 1;
}

static mana_jwt_status
ref_claims(const mana_json *p, const mana_jwt_config *cfg, mana_jwt_claims *out)
{
	int64_t		leeway = cfg->leeway > 0 ? cfg->leeway : 0;
	int64_t		exp;
	int64_t		nbf = 0;
	const mana_json *v;

	if (mana_json_get(p, "exp") == NULL)
		return MANA_JWT_NO_EXPIRY;
	if (mana_json_get_int64(p, "exp", &exp) != 0)
		return MANA_JWT_MALFORMED;
	if ((__int128) cfg->now - exp > leeway)
		return MANA_JWT_EXPIRED;
	if (mana_json_get(p, "nbf") != NULL)
	{
		if (mana_json_get_int64(p, "nbf", &nbf) != 0)
			return MANA_JWT_MALFORMED;
		if ((__int128) nbf - cfg->now > leeway)
			return MANA_JWT_NOT_YET_VALID;
	}
	if (cfg->issuer != NULL)
	{
		v = mana_json_get(p, "iss");
		if (v == NULL || !str_is(v, cfg->issuer))
			return MANA_JWT_BAD_ISSUER;
	}
	if (cfg->audience != NULL)
	{
		int			match = 0;

		v = mana_json_get(p, "aud");
		if (v == NULL)
			return MANA_JWT_BAD_AUDIENCE;
		if (v->type == MANA_JSON_STRING)
			match = str_is(v, cfg->audience);
		else if (v->type == MANA_JSON_ARRAY)
		{
			size_t		i;

			for (i = 0; i < v->count; i++)
			{
				if (v->items[i]->type != MANA_JSON_STRING)
					return MANA_JWT_BAD_AUDIENCE;
				if (str_is(v->items[i], cfg->audience))
					match = 1;
			}
		}
		if (!match)
			return MANA_JWT_BAD_AUDIENCE;
	}
	v = mana_json_get(p, "sub");
	if (v == NULL || v->type != MANA_JSON_STRING || v->len == 0 || v->len > MANA_JWT_MAX_SUB)
		return MANA_JWT_BAD_SUBJECT;
	memset(out, 0, sizeof(*out));
	memcpy(out->sub, v->str, v->len);
	out->exp = exp;
	out->nbf = nbf;
	return MANA_JWT_OK;
}

/*
 * The status mana_jwt_verify must give for token = tbs "." b64(sig) where
 * sig is a valid signature of tbs by our key for signed_alg.
 */
static mana_jwt_status
ref_verify(const char *tbs, size_t tbslen, size_t toklen, int signed_alg,
		   const keyset *ks, const mana_jwt_config *cfg, mana_jwt_claims *out)
{
	const char *dot;
	size_t		hl,
				pl;
	unsigned char *hdec,
			   *pdec;
	long		hdlen,
				pdlen;
	mana_arena	a;
	const mana_json *h;
	const mana_json *v;
	const mana_json *p;
	const char *kid = NULL;
	size_t		kidlen = 0;
	int			alg;
	int			ours = 0;
	mana_jwt_status st;

	if (toklen > MANA_JWT_MAX_TOKEN)
		return MANA_JWT_MALFORMED;
	dot = memchr(tbs, '.', tbslen);
	if (dot == NULL || memchr(dot + 1, '.', tbslen - (size_t) (dot + 1 - tbs)) != NULL)
		return MANA_JWT_MALFORMED;
	hl = (size_t) (dot - tbs);
	pl = tbslen - hl - 1;
	if (hl == 0 || pl == 0)
		return MANA_JWT_MALFORMED;
	hdec = malloc(MANA_B64URL_DECLEN(hl) + MANA_B64URL_DECLEN(pl) + 2);
	if (hdec == NULL)
		abort();
	pdec = hdec + MANA_B64URL_DECLEN(hl) + 1;
	hdlen = mana_b64url_decode(tbs, hl, hdec);
	pdlen = mana_b64url_decode(dot + 1, pl, pdec);
	st = MANA_JWT_MALFORMED;
	if (hdlen <= 0 || pdlen <= 0)
		goto done;

	a.buf = big_arena;
	a.size = BIG_ARENA_SIZE;
	a.used = 0;
	h = ref_parse(hdec, (size_t) hdlen, &a);
	if (h == NULL || h->type != MANA_JSON_OBJECT)
		goto done;
	v = mana_json_get(h, "alg");
	if (v == NULL || v->type != MANA_JSON_STRING)
		goto done;
	if (ascii_caseeq_none(v->str, v->len))
	{
		st = MANA_JWT_ALG_NONE;
		goto done;
	}
	if (str_is(v, "EdDSA"))
		alg = ALG_ED;
	else if (str_is(v, "ES256"))
		alg = ALG_EC;
	else if (str_is(v, "RS256"))
		alg = ALG_RS;
	else if (str_is(v, "HS256"))
		alg = ALG_HS;
	else
	{
		st = MANA_JWT_ALG_UNSUPPORTED;
		goto done;
	}
	if (mana_json_get(h, "crit") != NULL)
		goto done;				/* MALFORMED */
	if ((v = mana_json_get(h, "kid")) != NULL)
	{
		if (v->type != MANA_JSON_STRING)
			goto done;			/* MALFORMED */
		kid = v->str;
		kidlen = v->len;
	}

	if (alg == ALG_HS)
	{
		if (!ks->has_secret)
		{
			st = MANA_JWT_NO_KEY;
			goto done;
		}
		ours = 1;
	}
	else
	{
		int			i;
		int			kid_seen = 0;
		int			candidates = 0;
		const refkey *found = NULL;

		for (i = 0; i < ks->nref; i++)
		{
			const refkey *k = &ks->ref[i];

			if (kid != NULL)
			{
				if (k->kid == NULL || strlen(k->kid) != kidlen || memcmp(k->kid, kid, kidlen) != 0)
					continue;
				kid_seen = 1;
			}
			if (k->alg != alg)
				continue;
			if (found == NULL)
				found = k;
			candidates++;
		}
		if (kid != NULL && !kid_seen)
		{
			st = MANA_JWT_UNKNOWN_KID;
			goto done;
		}
		if (kid != NULL && found == NULL)
		{
			st = MANA_JWT_ALG_MISMATCH;
			goto done;
		}
		if (kid == NULL && candidates == 0)
		{
			st = MANA_JWT_NO_KEY;
			goto done;
		}
		if (kid == NULL && candidates > 1)
		{
			st = MANA_JWT_UNKNOWN_KID;
			goto done;
		}
		ours = found->ours;
	}
	if (alg != signed_alg || !ours)
	{
		st = MANA_JWT_BAD_SIGNATURE;
		goto done;
	}

	p = ref_parse(pdec, (size_t) pdlen, &a);
	if (p == NULL || p->type != MANA_JSON_OBJECT)
		goto done;				/* MALFORMED */
	st = ref_claims(p, cfg, out);
done:
	free(hdec);
	return st;
}

/* ---------------------------------------------------------------- signing */

/* Signs tbs for alg into sig (at least 64 bytes); returns the length. */
static size_t
sign(int alg, const char *tbs, size_t len, unsigned char *sig)
{
	size_t		siglen = 0;

	if (alg == ALG_HS)
	{
		unsigned int ml = 0;

		if (HMAC(EVP_sha256(), hs_secret, (int) (sizeof(hs_secret) - 1),
				 (const unsigned char *) tbs, len, sig, &ml) == NULL || ml != 32)
			abort();
		return ml;
	}
	if (alg == ALG_ED)
	{
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		siglen = 64;
		if (c == NULL || EVP_DigestSignInit(c, NULL, NULL, NULL, ed1_priv) != 1 ||
			EVP_DigestSign(c, sig, &siglen, (const unsigned char *) tbs, len) != 1 ||
			siglen != 64)
			abort();
		EVP_MD_CTX_free(c);
		return siglen;
	}
	if (alg == ALG_EC)
	{
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		unsigned char der[128];
		const unsigned char *dp = der;
		ECDSA_SIG  *es;
		const BIGNUM *r,
				   *s;

		siglen = sizeof(der);
		if (c == NULL || EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, ec1_priv) != 1 ||
			EVP_DigestSign(c, der, &siglen, (const unsigned char *) tbs, len) != 1)
			abort();
		EVP_MD_CTX_free(c);
		es = d2i_ECDSA_SIG(NULL, &dp, (long) siglen);
		if (es == NULL)
			abort();
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
			abort();
		ECDSA_SIG_free(es);
		return 64;
	}
	abort();
}

/* ------------------------------------------------------------- harness */

static void
check_status_sane(mana_jwt_status st, const mana_jwt_claims *claims,
				  const mana_jwt_config *cfg)
{
	if (st < MANA_JWT_OK || st > MANA_JWT_NO_EXPIRY)
		abort();
	if (strcmp(mana_jwt_strerror(st), "unknown error") == 0)
		abort();
	if (st == MANA_JWT_OK)
	{
		size_t		n = strnlen(claims->sub, sizeof(claims->sub));
		int64_t		leeway = cfg->leeway > 0 ? cfg->leeway : 0;

		if (n == 0 || n > MANA_JWT_MAX_SUB)
			abort();
		if ((__int128) cfg->now - claims->exp > leeway)
			abort();
		if ((__int128) claims->nbf - cfg->now > leeway)
			abort();
	}
	else
	{
		/* claims are zeroed and left alone on failure */
		static const mana_jwt_claims zero;

		if (memcmp(claims, &zero, sizeof(zero)) != 0)
			abort();
	}
	if (ERR_peek_error() != 0)
		abort();				/* the error queue must be left as it was */
}

static mana_jwt_status
verify(const char *tok, size_t len, const mana_jwt_config *cfg, mana_jwt_claims *claims)
{
	/* exact-size heap copy: ASan sees any read past len */
	char	   *copy = malloc(len ? len : 1);
	mana_jwt_status st;

	if (copy == NULL)
		abort();
	memcpy(copy, tok, len);
	memset(claims, 0x5a, sizeof(*claims));
	ERR_clear_error();
	st = mana_jwt_verify(copy, len, cfg, claims);
	check_status_sane(st, claims, cfg);
	free(copy);
	return st;
}

static mana_jwks *
parse_jwks(const uint8_t *data, size_t size)
{
	char	   *doc = malloc(size ? size : 1);
	size_t		errlen = 1 + size % 97;
	char	   *err = malloc(errlen);
	mana_jwks  *j;

	if (doc == NULL || err == NULL)
		abort();
	memcpy(doc, data, size);
	memset(err, 'x', errlen);
	ERR_clear_error();
	j = mana_jwks_parse(doc, size, err, errlen);
	if (ERR_peek_error() != 0)
		abort();
	if (memchr(err, '\0', errlen) == NULL)
		abort();				/* always NUL-terminated within errlen */
	if (j != NULL)
	{
		if (err[0] != '\0' || mana_jwks_count(j) < 0)
			abort();
	}
	else if (errlen > 1 && err[0] == '\0')
		abort();				/* a failure names its reason */
	free(doc);
	free(err);
	return j;
}

static void
make_config(uint8_t ctl, mana_jwt_config *cfg, const keyset **ks)
{
	static const int leeways[4] = {0, 60, -5, INT_MAX};

	*ks = (ctl & 0x80) ? &ks_single : &ks_full;
	memset(cfg, 0, sizeof(*cfg));
	cfg->jwks = (*ks)->jwks;
	if ((*ks)->has_secret)
	{
		cfg->hs256_secret = hs_secret;
		cfg->hs256_secret_len = sizeof(hs_secret) - 1;
	}
	cfg->issuer = (ctl & 0x08) ? ISSUER : NULL;
	cfg->audience = (ctl & 0x10) ? AUDIENCE : NULL;
	cfg->now = NOW;
	cfg->leeway = leeways[(ctl >> 5) & 3];
}

/* sign tbs with alg, verify, compare with the reference model */
static void
sign_and_check(const char *tbs, size_t tbslen, int alg, const keyset *ks,
			   const mana_jwt_config *cfg)
{
	unsigned char sig[64];
	size_t		siglen = sign(alg, tbs, tbslen, sig);
	size_t		toklen = tbslen + 1 + MANA_B64URL_ENCLEN(siglen);
	char	   *tok = malloc(toklen + 1);
	mana_jwt_claims claims;
	mana_jwt_claims want;
	mana_jwt_status st;
	mana_jwt_status ref;

	if (tok == NULL)
		abort();
	memcpy(tok, tbs, tbslen);
	tok[tbslen] = '.';
	mana_b64url_encode(sig, siglen, tok + tbslen + 1);
	st = verify(tok, toklen, cfg, &claims);
	memset(&want, 0, sizeof(want));
	ref = ref_verify(tbs, tbslen, toklen, alg, ks, cfg, &want);
	if (st != ref)
	{
		fprintf(stderr, "jwt status %d (%s), reference model says %d (%s)\n",
				st, mana_jwt_strerror(st), ref, mana_jwt_strerror(ref));
		abort();
	}
	if (st == MANA_JWT_OK && memcmp(&claims, &want, sizeof(want)) != 0)
	{
		fprintf(stderr, "jwt claims differ from the reference model\n");
		abort();
	}
	free(tok);
}

/* tbs = b64(header) "." b64(payload) */
static void
encode_and_check(const uint8_t *h, size_t hl, const uint8_t *p, size_t pl, int alg,
				 const keyset *ks, const mana_jwt_config *cfg)
{
	size_t		n = MANA_B64URL_ENCLEN(hl) + 1 + MANA_B64URL_ENCLEN(pl);
	char	   *tbs = malloc(n + 1);
	size_t		pos;

	if (tbs == NULL)
		abort();
	pos = mana_b64url_encode(h, hl, tbs);
	tbs[pos++] = '.';
	pos += mana_b64url_encode(p, pl, tbs + pos);
	if (pos != n)
		abort();
	sign_and_check(tbs, n, alg, ks, cfg);
	free(tbs);
}

static EVP_PKEY *
load_ec_priv(void)
{
	BIO		   *b = BIO_new_mem_buf(ec1_pem, -1);
	EVP_PKEY   *k;

	if (b == NULL)
		abort();
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char		err[160];
	mana_jwt_config cfg;
	const keyset *ks;
	mana_jwt_claims claims;
	size_t		i;
	/* with the full set: ED without kid is ambiguous (ed1, ed2) */
	static const mana_jwt_status want[NFIXED] = {
		MANA_JWT_OK, MANA_JWT_UNKNOWN_KID, MANA_JWT_OK, MANA_JWT_OK,
		MANA_JWT_OK, MANA_JWT_OK, MANA_JWT_OK
	};

	(void) argc;
	(void) argv;
	big_arena = malloc(BIG_ARENA_SIZE);
	ks_full.jwks = mana_jwks_parse(jwks_full_json, strlen(jwks_full_json), err, sizeof(err));
	if (ks_full.jwks == NULL || mana_jwks_count(ks_full.jwks) != 4)
	{
		fprintf(stderr, "fuzz_jwt: built-in JWKS refused: %s\n", err);
		abort();
	}
	ks_full.ref = set_full;
	ks_full.nref = 4;
	ks_full.has_secret = 1;
	ks_single.jwks = mana_jwks_parse(jwks_single_json, strlen(jwks_single_json), err, sizeof(err));
	if (ks_single.jwks == NULL || mana_jwks_count(ks_single.jwks) != 1)
	{
		fprintf(stderr, "fuzz_jwt: built-in JWK refused: %s\n", err);
		abort();
	}
	ks_single.ref = set_single;
	ks_single.nref = 1;
	ks_single.has_secret = 0;
	ed1_priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed1_seed, 32);
	ec1_priv = load_ec_priv();
	if (big_arena == NULL || ed1_priv == NULL || ec1_priv == NULL)
		abort();
	ERR_clear_error();

	/* the harness's own key material must be right */
	make_config(0x18, &cfg, &ks);
	for (i = 0; i < NFIXED; i++)
	{
		mana_jwt_status st = verify(fixed_tokens[i], strlen(fixed_tokens[i]), &cfg, &claims);

		if (st != want[i])
		{
			fprintf(stderr, "fuzz_jwt: fixed token %zu: %s\n", i, mana_jwt_strerror(st));
			abort();
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		ctl;
	mana_jwt_config cfg;
	const keyset *ks;
	mana_jwt_claims claims;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	make_config(ctl, &cfg, &ks);

	switch (ctl & 7)
	{
		case 0:
			mana_jwks_free(parse_jwks(data, size));
			(void) verify((const char *) data, size, &cfg, &claims);
			break;
		case 1:
			{
				mana_jwks *j = parse_jwks(data, size);
				size_t		i;

				if (j == NULL)
					break;
				cfg.jwks = j;
				for (i = 0; i < NFIXED; i++)
					(void) verify(fixed_tokens[i], strlen(fixed_tokens[i]), &cfg, &claims);
				mana_jwks_free(j);
				break;
			}
		case 2:
		case 3:
		case 4:
			{
				static const int algs[3] = {ALG_HS, ALG_ED, ALG_EC};
				const uint8_t *nl = memchr(data, '\n', size);

				if (nl != NULL)
					encode_and_check(data, (size_t) (nl - data), nl + 1,
									 size - (size_t) (nl - data) - 1,
									 algs[(ctl & 7) - 2], ks, &cfg);
				else
					encode_and_check(data, size, (const uint8_t *) default_payload,
									 strlen(default_payload), algs[(ctl & 7) - 2], ks, &cfg);
				break;
			}
		case 5:
			{
				static const char h[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

				encode_and_check((const uint8_t *) h, strlen(h), data, size, ALG_HS, ks, &cfg);
				break;
			}
		case 6:
			{
				static const char h[] = "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}";

				encode_and_check((const uint8_t *) h, strlen(h), data, size, ALG_ED, ks, &cfg);
				break;
			}
		case 7:
			sign_and_check((const char *) data, size, ALG_HS, ks, &cfg);
			break;
	}
	return 0;
}
