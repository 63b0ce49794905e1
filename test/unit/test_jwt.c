/*
 * test_jwt.c
 *     cmocka tests of jwt.c.  Self-contained: keys are generated in-process
 *     with OpenSSL, their public parts exported as JWK JSON, and tokens are
 *     signed in-process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "jwt.h"

#define NOW INT64_C(1700000000)
#define LEEWAY 30

static const unsigned char secret[] = "a shared secret of 32+ bytes for HS256 tests";
#define SECRET_LEN (sizeof(secret) - 1)

typedef struct keys
{
	EVP_PKEY   *ed;				/* kid "ed1" */
	EVP_PKEY   *ed2;			/* not in the set */
	EVP_PKEY   *ec;				/* kid "ec1" */
	EVP_PKEY   *ec2;			/* not in the set */
	EVP_PKEY   *rsa;			/* kid "rsa1" */
	EVP_PKEY   *rsa2;			/* not in the set */
	char	   *jwk_ed;
	char	   *jwk_ed2;
	char	   *jwk_ec;
	char	   *jwk_rsa;
	char	   *jwks_json;		/* {"keys":[ed1, ec1, rsa1]} */
	mana_jwks  *jwks;
} keys;

/* ------------------------------------------------------------- helpers */

static char *
xstrdup(const char *s)
{
	size_t		n = strlen(s);
	char	   *d = malloc(n + 1);

	assert_non_null(d);
	memcpy(d, s, n + 1);
	return d;
}

static char *
xprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *buf;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	buf = malloc((size_t) n + 1);
	assert_non_null(buf);
	va_start(ap, fmt);
	vsnprintf(buf, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return buf;
}

static char *
b64(const unsigned char *in, size_t len)
{
	char	   *out = malloc(MANA_B64URL_ENCLEN(len) + 1);

	assert_non_null(out);
	mana_b64url_encode(in, len, out);
	return out;
}

static char *
b64s(const char *s)
{
	return b64((const unsigned char *) s, strlen(s));
}

static char *
bn_b64(const BIGNUM *bn, int pad)
{
	unsigned char buf[1024];
	int			n;

	if (pad > 0)
		n = BN_bn2binpad(bn, buf, pad);
	else
		n = BN_bn2bin(bn, buf);
	assert_true(n > 0 && n <= (int) sizeof(buf));
	return b64(buf, (size_t) n);
}

static char *
jwk_of_ed(EVP_PKEY *pkey, const char *kid)
{
	unsigned char raw[32];
	size_t		len = sizeof(raw);
	char	   *x;
	char	   *out;

	assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &len), 1);
	assert_int_equal(len, 32);
	x = b64(raw, 32);
	out = xprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":\"sig\",\"kid\":\"%s\",\"x\":\"%s\"}",
				  kid, x);
	free(x);
	return out;
}

static char *
jwk_of_ec(EVP_PKEY *pkey, const char *kid)
{
	BIGNUM	   *bx = NULL;
	BIGNUM	   *by = NULL;
	char	   *x;
	char	   *y;
	char	   *out;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	x = bn_b64(bx, 32);
	y = bn_b64(by, 32);
	out = xprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"kid\":\"%s\","
				  "\"x\":\"%s\",\"y\":\"%s\"}", kid, x, y);
	free(x);
	free(y);
	BN_free(bx);
	BN_free(by);
	return out;
}

static char *
jwk_of_rsa(EVP_PKEY *pkey, const char *kid)
{
	BIGNUM	   *bn = NULL;
	BIGNUM	   *be = NULL;
	char	   *n;
	char	   *e;
	char	   *out;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &be), 1);
	n = bn_b64(bn, 0);
	e = bn_b64(be, 0);
	out = xprintf("{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"%s\","
				  "\"n\":\"%s\",\"e\":\"%s\"}", kid, n, e);
	free(n);
	free(e);
	BN_free(bn);
	BN_free(be);
	return out;
}

typedef enum signer
{
	SIGN_NONE,					/* empty signature */
	SIGN_ED,
	SIGN_ES,
	SIGN_ES_DER,				/* ECDSA left in DER (wrong for JOSE) */
	SIGN_RS,
	SIGN_HS
} signer;

/* signature bytes of tbs; *siglen set; malloc'ed */
static unsigned char *
sign_bytes(signer how, EVP_PKEY *pkey, const unsigned char *key, size_t keylen,
		   const char *tbs, size_t *siglen)
{
	unsigned char *sig = NULL;
	EVP_MD_CTX *ctx;
	size_t		len = 0;

	if (how == SIGN_NONE)
	{
		*siglen = 0;
		return malloc(1);
	}
	if (how == SIGN_HS)
	{
		unsigned int mlen = 0;

		sig = malloc(EVP_MAX_MD_SIZE);
		assert_non_null(sig);
		assert_non_null(HMAC(EVP_sha256(), key, (int) keylen,
							 (const unsigned char *) tbs, strlen(tbs), sig, &mlen));
		*siglen = mlen;
		return sig;
	}
	ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, how == SIGN_ED ? NULL : EVP_sha256(),
										NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, NULL, &len, (const unsigned char *) tbs,
									strlen(tbs)), 1);
	sig = malloc(len);
	assert_non_null(sig);
	assert_int_equal(EVP_DigestSign(ctx, sig, &len, (const unsigned char *) tbs,
									strlen(tbs)), 1);
	EVP_MD_CTX_free(ctx);

	if (how == SIGN_ES)
	{
		/* DER -> JOSE r||s */
		const unsigned char *p = sig;
		ECDSA_SIG  *es = d2i_ECDSA_SIG(NULL, &p, (long) len);
		const BIGNUM *r;
		const BIGNUM *s;
		unsigned char *raw = malloc(64);

		assert_non_null(es);
		assert_non_null(raw);
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
		assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
		ECDSA_SIG_free(es);
		free(sig);
		sig = raw;
		len = 64;
	}
	*siglen = len;
	return sig;
}

/* a compact token with the given header and payload JSON texts */
static char *
make_token_k(const char *header, const char *payload, signer how, EVP_PKEY *pkey,
			 const unsigned char *key, size_t keylen)
{
	char	   *h = b64s(header);
	char	   *p = b64s(payload);
	char	   *tbs = xprintf("%s.%s", h, p);
	size_t		siglen;
	unsigned char *sig = sign_bytes(how, pkey, key, keylen, tbs, &siglen);
	char	   *s = b64(sig, siglen);
	char	   *tok = xprintf("%s.%s", tbs, s);

	free(h);
	free(p);
	free(tbs);
	free(sig);
	free(s);
	return tok;
}

static char *
make_token(const char *header, const char *payload, signer how, EVP_PKEY *pkey)
{
	return make_token_k(header, payload, how, pkey, secret, SECRET_LEN);
}

/* a standard payload: sub "user-1", the given exp */
static char *
payload_exp(int64_t exp)
{
	return xprintf("{\"sub\":\"user-1\",\"exp\":%lld,\"iss\":\"https://issuer.example\","
				   "\"aud\":\"mana\",\"iat\":%lld}", (long long) exp, (long long) NOW);
}

static mana_jwt_config
default_cfg(const keys *k)
{
	mana_jwt_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.jwks = k->jwks;
	cfg.hs256_secret = secret;
	cfg.hs256_secret_len = SECRET_LEN;
	cfg.issuer = NULL;
	cfg.audience = NULL;
	cfg.now = NOW;
	cfg.leeway = LEEWAY;
	return cfg;
}

/* verifies an exact-size heap copy of tok[0, len) (no NUL after it) */
static mana_jwt_status
verify_len(const char *tok, size_t len, const mana_jwt_config *cfg, mana_jwt_claims *claims)
{
	char	   *copy = malloc(len ? len : 1);
	mana_jwt_status st;

	assert_non_null(copy);
	memcpy(copy, tok, len);
	st = mana_jwt_verify(copy, len, cfg, claims);
	free(copy);
	/* nothing of ours is left on the OpenSSL error queue */
	assert_int_equal(ERR_peek_error(), 0);
	return st;
}

static mana_jwt_status
verify(const char *tok, const mana_jwt_config *cfg)
{
	mana_jwt_claims claims;

	return verify_len(tok, strlen(tok), cfg, &claims);
}

#define assert_status(got, want) \
	do { \
		mana_jwt_status got_ = (got), want_ = (want); \
		if (got_ != want_) \
			fail_msg("status %d (%s), expected %d (%s)", (int) got_, \
					 mana_jwt_strerror(got_), (int) want_, mana_jwt_strerror(want_)); \
	} while (0)

/* token signed by signer/key, with header h and payload p; checked; freed */
static void
expect_token(const keys *k, const mana_jwt_config *cfg, const char *h, const char *p,
			 signer how, EVP_PKEY *pkey, mana_jwt_status want)
{
	char	   *tok = make_token(h, p, how, pkey);

	(void) k;
	assert_status(verify(tok, cfg), want);
	free(tok);
}

static mana_jwks *
parse_jwks(const char *json, char *err, size_t errlen)
{
	size_t		len = strlen(json);
	char	   *copy = malloc(len ? len : 1);
	mana_jwks  *j;

	assert_non_null(copy);
	memcpy(copy, json, len);
	j = mana_jwks_parse(copy, len, err, errlen);
	free(copy);
	assert_int_equal(ERR_peek_error(), 0);
	return j;
}

/* ------------------------------------------------------------ fixtures */

static int
group_setup(void **state)
{
	keys	   *k = calloc(1, sizeof(keys));
	char		err[256];

	if (k == NULL)
		return -1;
	k->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
	k->rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
	if (!k->ed || !k->ed2 || !k->ec || !k->ec2 || !k->rsa || !k->rsa2)
		return -1;
	k->jwk_ed = jwk_of_ed(k->ed, "ed1");
	k->jwk_ed2 = jwk_of_ed(k->ed2, "ed2");
	k->jwk_ec = jwk_of_ec(k->ec, "ec1");
	k->jwk_rsa = jwk_of_rsa(k->rsa, "rsa1");
	k->jwks_json = xprintf("{\"keys\":[%s,%s,%s]}", k->jwk_ed, k->jwk_ec, k->jwk_rsa);
	k->jwks = mana_jwks_parse(k->jwks_json, strlen(k->jwks_json), err, sizeof(err));
	if (k->jwks == NULL)
	{
		fprintf(stderr, "JWKS: %s\n", err);
		return -1;
	}
	*state = k;
	return 0;
}

static int
group_teardown(void **state)
{
	keys	   *k = *state;

	mana_jwks_free(k->jwks);
	EVP_PKEY_free(k->ed);
	EVP_PKEY_free(k->ed2);
	EVP_PKEY_free(k->ec);
	EVP_PKEY_free(k->ec2);
	EVP_PKEY_free(k->rsa);
	EVP_PKEY_free(k->rsa2);
	free(k->jwk_ed);
	free(k->jwk_ed2);
	free(k->jwk_ec);
	free(k->jwk_rsa);
	free(k->jwks_json);
	free(k);
	return 0;
}

#define H_ED "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"JWT\"}"
#define H_ES "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"JWT\"}"
#define H_RS "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}"
#define H_HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* --------------------------------------------------------------- tests */

static void
test_valid_each_alg(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	static const struct
	{
		const char *h;
		signer		how;
	}			cases[] = {
		{H_ED, SIGN_ED}, {H_ES, SIGN_ES}, {H_RS, SIGN_RS}, {H_HS, SIGN_HS},
	};
	size_t		i;

	assert_int_equal(mana_jwks_count(k->jwks), 3);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		EVP_PKEY   *pk = cases[i].how == SIGN_ED ? k->ed :
			cases[i].how == SIGN_ES ? k->ec :
			cases[i].how == SIGN_RS ? k->rsa : NULL;
		char	   *tok = make_token(cases[i].h, p, cases[i].how, pk);
		mana_jwt_claims claims;
		int			rep;

		/* ECDSA signatures are randomised: sign and verify a few times */
		for (rep = 0; rep < 3; rep++)
		{
			memset(&claims, 0x55, sizeof(claims));
			assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_OK);
			assert_string_equal(claims.sub, "user-1");
			assert_true(claims.exp == NOW + 600);
			assert_true(claims.nbf == 0);
		}
		/* claims may be NULL */
		assert_status(mana_jwt_verify(tok, strlen(tok), &cfg, NULL), MANA_JWT_OK);
		free(tok);
	}
	/* headers may omit typ; nbf is reported */
	free(p);
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW + 10),
				(long long) (NOW - 10));
	{
		char	   *tok = make_token("{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", p, SIGN_ED, k->ed);
		mana_jwt_claims claims;

		assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_OK);
		assert_string_equal(claims.sub, "u");
		assert_true(claims.nbf == NOW - 10);
		free(tok);
	}
	free(p);
}

static void
test_time_claims(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p;

	/* exp: leeway honoured at the boundary */
	p = payload_exp(NOW - LEEWAY - 1);
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_EXPIRED);
	free(p);
	p = payload_exp(NOW - LEEWAY);
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_OK);
	free(p);
	p = payload_exp(NOW);
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_OK);
	free(p);
	cfg.leeway = 0;
	p = payload_exp(NOW - 1);
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_EXPIRED);
	free(p);
	cfg.leeway = -100;			/* negative: treated as 0 */
	p = payload_exp(NOW - 1);
	expect_token(k, &cfg, H_HS, p, SIGN_HS, NULL, MANA_JWT_EXPIRED);
	free(p);
	cfg.leeway = LEEWAY;

	/* nbf */
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW + 600),
				(long long) (NOW + LEEWAY + 1));
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_NOT_YET_VALID);
	free(p);
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW + 600),
				(long long) (NOW + LEEWAY));
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_OK);
	free(p);
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW + 600),
				(long long) NOW);
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_OK);
	free(p);
	cfg.leeway = 0;
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW + 600),
				(long long) (NOW + 1));
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_NOT_YET_VALID);
	free(p);
	cfg.leeway = LEEWAY;

	/* expired is checked before not-yet-valid */
	p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", (long long) (NOW - 600),
				(long long) (NOW + 600));
	expect_token(k, &cfg, H_HS, p, SIGN_HS, NULL, MANA_JWT_EXPIRED);
	free(p);

	/* missing or unusable exp / nbf */
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\"}", SIGN_HS, NULL, MANA_JWT_NO_EXPIRY);
	expect_token(k, &cfg, H_RS, "{\"sub\":\"u\",\"nbf\":1}", SIGN_RS, k->rsa,
				 MANA_JWT_NO_EXPIRY);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":\"1800000000\"}", SIGN_HS, NULL,
				 MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":1800000000.5}", SIGN_HS, NULL,
				 MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":1.8e9}", SIGN_HS, NULL,
				 MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":null}", SIGN_HS, NULL,
				 MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":99999999999999999999}", SIGN_HS,
				 NULL, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":1800000000,\"nbf\":\"0\"}", SIGN_HS,
				 NULL, MANA_JWT_MALFORMED);

	/* extremes do not overflow */
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":9223372036854775807}", SIGN_HS,
				 NULL, MANA_JWT_OK);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":-9223372036854775808}", SIGN_HS,
				 NULL, MANA_JWT_EXPIRED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":9223372036854775807,"
				 "\"nbf\":-9223372036854775808}", SIGN_HS, NULL, MANA_JWT_OK);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":9223372036854775807,"
				 "\"nbf\":9223372036854775807}", SIGN_HS, NULL, MANA_JWT_NOT_YET_VALID);
	cfg.leeway = INT_MAX;
	cfg.now = INT64_MAX;
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":-9223372036854775808}", SIGN_HS,
				 NULL, MANA_JWT_EXPIRED);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":9223372036854775807}", SIGN_HS,
				 NULL, MANA_JWT_OK);
	cfg.now = INT64_MIN;
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":-9223372036854775808,"
				 "\"nbf\":9223372036854775807}", SIGN_HS, NULL, MANA_JWT_NOT_YET_VALID);
	expect_token(k, &cfg, H_HS, "{\"sub\":\"u\",\"exp\":-9223372036854775808,"
				 "\"nbf\":-9223372036854775000}", SIGN_HS, NULL, MANA_JWT_OK);
}

/* re-encodes tok with byte i of the decoded signature flipped */
static char *
flip_sig_byte(const char *tok, size_t i)
{
	const char *dot = strrchr(tok, '.');
	size_t		slen = strlen(dot + 1);
	unsigned char *sig = malloc(MANA_B64URL_DECLEN(slen) + 1);
	long		n;
	char	   *s;
	char	   *out;

	assert_non_null(sig);
	n = mana_b64url_decode(dot + 1, slen, sig);
	assert_true(n > 0);
	sig[i % (size_t) n] ^= 0x01;
	s = b64(sig, (size_t) n);
	out = xprintf("%.*s.%s", (int) (dot - tok), tok, s);
	free(sig);
	free(s);
	return out;
}

/* replaces the signature part */
static char *
with_sig(const char *tok, const unsigned char *sig, size_t siglen)
{
	const char *dot = strrchr(tok, '.');
	char	   *s = b64(sig, siglen);
	char	   *out = xprintf("%.*s.%s", (int) (dot - tok), tok, s);

	free(s);
	return out;
}

static void
test_bad_signatures(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	static const struct
	{
		const char *h;
		signer		how;
	}			cases[] = {
		{H_ED, SIGN_ED}, {H_ES, SIGN_ES}, {H_RS, SIGN_RS}, {H_HS, SIGN_HS},
	};
	size_t		c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
	{
		EVP_PKEY   *pk = cases[c].how == SIGN_ED ? k->ed :
			cases[c].how == SIGN_ES ? k->ec :
			cases[c].how == SIGN_RS ? k->rsa : NULL;
		EVP_PKEY   *other = cases[c].how == SIGN_ED ? k->ed2 :
			cases[c].how == SIGN_ES ? k->ec2 :
			cases[c].how == SIGN_RS ? k->rsa2 : NULL;
		char	   *tok = make_token(cases[c].h, p, cases[c].how, pk);
		char	   *bad;
		size_t		i;

		assert_status(verify(tok, &cfg), MANA_JWT_OK);
		/* flip bytes all over the signature */
		for (i = 0; i < 256; i += 7)
		{
			bad = flip_sig_byte(tok, i);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
		}
		/* truncated, extended and empty signatures */
		{
			const char *dot = strrchr(tok, '.');
			size_t		slen = strlen(dot + 1);
			unsigned char *sig = malloc(MANA_B64URL_DECLEN(slen) + 2);
			long		n;

			assert_non_null(sig);
			n = mana_b64url_decode(dot + 1, slen, sig);
			assert_true(n > 0);
			bad = with_sig(tok, sig, (size_t) n - 1);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
			sig[n] = 0;
			bad = with_sig(tok, sig, (size_t) n + 1);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
			bad = with_sig(tok, sig, 0);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
			memset(sig, 0, (size_t) n);
			bad = with_sig(tok, sig, (size_t) n);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
			free(sig);
		}
		/* a payload changed after signing */
		{
			char	   *p2 = xprintf("{\"sub\":\"admin\",\"exp\":%lld}", (long long) (NOW + 600));
			char	   *tok2 = make_token(cases[c].h, p2, cases[c].how, pk);
			const char *dot2 = strrchr(tok, '.');
			const char *d2b = strrchr(tok2, '.');

			/* header and payload of tok2, signature of tok */
			bad = xprintf("%.*s%s", (int) (d2b - tok2), tok2, dot2);
			assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(bad);
			free(p2);
			free(tok2);
		}
		/* signed by another key of the same type (same kid in the header) */
		if (other != NULL)
			expect_token(k, &cfg, cases[c].h, p, cases[c].how, other,
						 MANA_JWT_BAD_SIGNATURE);
		else
		{
			char	   *t2 = make_token_k(H_HS, p, SIGN_HS, NULL,
										  (const unsigned char *) "another secret", 14);

			assert_status(verify(t2, &cfg), MANA_JWT_BAD_SIGNATURE);
			free(t2);
		}
		free(tok);
	}

	/* ES256: a DER signature is not a JOSE signature */
	expect_token(k, &cfg, H_ES, p, SIGN_ES_DER, k->ec, MANA_JWT_BAD_SIGNATURE);
	/* ES256: r = s = 0, and r, s >= the group order */
	{
		char	   *tok = make_token(H_ES, p, SIGN_ES, k->ec);
		unsigned char sig[64];
		char	   *bad;

		memset(sig, 0, sizeof(sig));
		bad = with_sig(tok, sig, 64);
		assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
		free(bad);
		memset(sig, 0xff, sizeof(sig));
		bad = with_sig(tok, sig, 64);
		assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
		free(bad);
		free(tok);
	}
	free(p);
}

static void
test_alg_confusion(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	unsigned char *der = NULL;
	int			derlen;
	char	   *tok;

	/* HS256 MACed with the RSA public key (DER, and the JWK text) */
	derlen = i2d_PUBKEY(k->rsa, &der);
	assert_true(derlen > 0);
	tok = make_token_k("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", p, SIGN_HS, NULL,
					   der, (size_t) derlen);
	assert_status(verify(tok, &cfg), MANA_JWT_BAD_SIGNATURE);
	cfg.hs256_secret = NULL;
	cfg.hs256_secret_len = 0;
	assert_status(verify(tok, &cfg), MANA_JWT_NO_KEY);
	/* even with that DER configured as the secret, the kid does not matter */
	cfg.hs256_secret = der;
	cfg.hs256_secret_len = (size_t) derlen;
	assert_status(verify(tok, &cfg), MANA_JWT_OK);
	cfg = default_cfg(k);
	free(tok);
	OPENSSL_free(der);

	tok = make_token_k("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", p, SIGN_HS, NULL,
					   (const unsigned char *) k->jwk_rsa, strlen(k->jwk_rsa));
	assert_status(verify(tok, &cfg), MANA_JWT_BAD_SIGNATURE);
	free(tok);
	tok = make_token_k("{\"alg\":\"HS256\",\"kid\":\"ed1\"}", p, SIGN_HS, NULL,
					   (const unsigned char *) k->jwk_ed, strlen(k->jwk_ed));
	assert_status(verify(tok, &cfg), MANA_JWT_BAD_SIGNATURE);
	free(tok);

	/* an HS256 token's kid is ignored: unknown kids are fine */
	expect_token(k, &cfg, "{\"alg\":\"HS256\",\"kid\":\"nope\"}", p, SIGN_HS, NULL,
				 MANA_JWT_OK);

	/* the header names a kid whose key is of another type */
	expect_token(k, &cfg, "{\"alg\":\"RS256\",\"kid\":\"ed1\"}", p, SIGN_RS, k->rsa,
				 MANA_JWT_ALG_MISMATCH);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"rsa1\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_ALG_MISMATCH);
	expect_token(k, &cfg, "{\"alg\":\"ES256\",\"kid\":\"ed1\"}", p, SIGN_ES, k->ec,
				 MANA_JWT_ALG_MISMATCH);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ec1\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_ALG_MISMATCH);
	expect_token(k, &cfg, "{\"alg\":\"RS256\",\"kid\":\"ec1\"}", p, SIGN_RS, k->rsa,
				 MANA_JWT_ALG_MISMATCH);

	/* a duplicate "alg" in the header is refused by the JSON parser */
	expect_token(k, &cfg, "{\"alg\":\"RS256\",\"alg\":\"HS256\"}", p, SIGN_HS, NULL,
				 MANA_JWT_MALFORMED);
	free(p);
}

static void
test_alg_refused(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	static const char *const none[] = {"none", "None", "NONE", "nOnE"};
	static const char *const unsupported[] = {
		"HS384", "HS512", "RS384", "RS512", "PS256", "ES384", "ES512", "ES256K",
		"hs256", "rs256", "eddsa", "Ed25519", "Ed448", "", "none ", " none", "nonE\\u0000",
		"dir", "RSA-OAEP",
	};
	size_t		i;

	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
	{
		char	   *h = xprintf("{\"alg\":\"%s\"}", none[i]);

		expect_token(k, &cfg, h, p, SIGN_NONE, NULL, MANA_JWT_ALG_NONE);
		/* with a (meaningless) signature too, and with a kid */
		expect_token(k, &cfg, h, p, SIGN_HS, NULL, MANA_JWT_ALG_NONE);
		free(h);
		h = xprintf("{\"alg\":\"%s\",\"kid\":\"ed1\"}", none[i]);
		expect_token(k, &cfg, h, p, SIGN_NONE, NULL, MANA_JWT_ALG_NONE);
		free(h);
	}
	/* escapes in the header still spell none */
	expect_token(k, &cfg, "{\"alg\":\"\\u006eone\"}", p, SIGN_NONE, NULL, MANA_JWT_ALG_NONE);
	/* even with no keys configured at all */
	{
		mana_jwt_config empty;

		memset(&empty, 0, sizeof(empty));
		empty.now = NOW;
		expect_token(k, &empty, "{\"alg\":\"none\"}", p, SIGN_NONE, NULL, MANA_JWT_ALG_NONE);
	}

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
	{
		char	   *h = xprintf("{\"alg\":\"%s\",\"kid\":\"ed1\"}", unsupported[i]);
		char	   *tok = make_token(h, p, SIGN_HS, NULL);
		mana_jwt_status st = verify(tok, &cfg);

		/* "nonE\u0000" is refused by the JSON parser (\u0000) */
		if (strstr(unsupported[i], "\\u0000") != NULL)
			assert_status(st, MANA_JWT_MALFORMED);
		else
			assert_status(st, MANA_JWT_ALG_UNSUPPORTED);
		free(tok);
		free(h);
	}
	/* alg missing or not a string */
	expect_token(k, &cfg, "{\"kid\":\"ed1\"}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{\"alg\":null}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{\"alg\":[\"EdDSA\"]}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{\"alg\":256}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	/* kid not a string */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":1}", p, SIGN_ED, k->ed,
				 MANA_JWT_MALFORMED);
	/* crit extensions are not understood */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"crit\":[\"exp\"],\"exp\":1}",
				 p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	/* embedded keys are never used */
	{
		char	   *h = xprintf("{\"alg\":\"EdDSA\",\"jwk\":%s}", k->jwk_ed2);

		/* no kid: the set's only Ed25519 key is used, not the header's */
		expect_token(k, &cfg, h, p, SIGN_ED, k->ed2, MANA_JWT_BAD_SIGNATURE);
		expect_token(k, &cfg, h, p, SIGN_ED, k->ed, MANA_JWT_OK);
		free(h);
	}
	free(p);
}

static void
test_key_selection(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	mana_jwks  *two_ed;
	mana_jwks  *only_ed;
	char		err[256];
	char	   *json;

	/* unknown kid */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"nope\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_UNKNOWN_KID);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_UNKNOWN_KID);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ED1\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_UNKNOWN_KID);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed1 \"}", p, SIGN_ED, k->ed,
				 MANA_JWT_UNKNOWN_KID);

	/* no kid, one key of the alg's type in the set: used */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\"}", p, SIGN_ED, k->ed, MANA_JWT_OK);
	expect_token(k, &cfg, "{\"alg\":\"ES256\"}", p, SIGN_ES, k->ec, MANA_JWT_OK);
	expect_token(k, &cfg, "{\"alg\":\"RS256\"}", p, SIGN_RS, k->rsa, MANA_JWT_OK);
	expect_token(k, &cfg, "{\"alg\":\"RS256\"}", p, SIGN_RS, k->rsa2, MANA_JWT_BAD_SIGNATURE);

	/* no kid, several keys of that type: refused */
	json = xprintf("{\"keys\":[%s,%s,%s]}", k->jwk_ed, k->jwk_ed2, k->jwk_rsa);
	two_ed = parse_jwks(json, err, sizeof(err));
	free(json);
	assert_non_null(two_ed);
	assert_int_equal(mana_jwks_count(two_ed), 3);
	cfg.jwks = two_ed;
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\"}", p, SIGN_ED, k->ed, MANA_JWT_UNKNOWN_KID);
	/* ... but each is reachable by its kid */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_OK);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed2\"}", p, SIGN_ED, k->ed2,
				 MANA_JWT_OK);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed2\"}", p, SIGN_ED, k->ed,
				 MANA_JWT_BAD_SIGNATURE);
	/* the single RSA key is still found without a kid */
	expect_token(k, &cfg, "{\"alg\":\"RS256\"}", p, SIGN_RS, k->rsa, MANA_JWT_OK);
	/* no P-256 key: no key of that kind */
	expect_token(k, &cfg, "{\"alg\":\"ES256\"}", p, SIGN_ES, k->ec, MANA_JWT_NO_KEY);
	expect_token(k, &cfg, "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", p, SIGN_ES, k->ec,
				 MANA_JWT_UNKNOWN_KID);
	mana_jwks_free(two_ed);

	/* keys without a kid: reachable only without a kid in the token */
	{
		char	   *nokid = xstrdup(k->jwk_ed);
		char	   *kidpos = strstr(nokid, "\"kid\":\"ed1\",");

		assert_non_null(kidpos);
		memmove(kidpos, kidpos + 12, strlen(kidpos + 12) + 1);
		json = xprintf("{\"keys\":[%s]}", nokid);
		free(nokid);
		only_ed = parse_jwks(json, err, sizeof(err));
		free(json);
		assert_non_null(only_ed);
		cfg.jwks = only_ed;
		expect_token(k, &cfg, "{\"alg\":\"EdDSA\"}", p, SIGN_ED, k->ed, MANA_JWT_OK);
		expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", p, SIGN_ED, k->ed,
					 MANA_JWT_UNKNOWN_KID);
		expect_token(k, &cfg, "{\"alg\":\"RS256\"}", p, SIGN_RS, k->rsa, MANA_JWT_NO_KEY);
		mana_jwks_free(only_ed);
	}

	/* no JWKS: asymmetric refused, HS256 still works */
	cfg.jwks = NULL;
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_NO_KEY);
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_NO_KEY);
	expect_token(k, &cfg, H_RS, p, SIGN_RS, k->rsa, MANA_JWT_NO_KEY);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\"}", p, SIGN_ED, k->ed, MANA_JWT_NO_KEY);
	expect_token(k, &cfg, H_HS, p, SIGN_HS, NULL, MANA_JWT_OK);

	/* an empty set: the same */
	{
		mana_jwks  *empty = parse_jwks("{\"keys\":[]}", err, sizeof(err));

		assert_non_null(empty);
		assert_int_equal(mana_jwks_count(empty), 0);
		cfg.jwks = empty;
		expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_NO_KEY);
		mana_jwks_free(empty);
	}

	/* HS256 without a secret */
	cfg = default_cfg(k);
	cfg.hs256_secret = NULL;
	expect_token(k, &cfg, H_HS, p, SIGN_HS, NULL, MANA_JWT_NO_KEY);
	cfg.hs256_secret = secret;
	cfg.hs256_secret_len = 0;
	expect_token(k, &cfg, H_HS, p, SIGN_HS, NULL, MANA_JWT_NO_KEY);
	/* ... and asymmetric tokens are unaffected */
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_OK);
	free(p);
}

static void
test_malformed(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);
	char	   *good = make_token(H_ED, p, SIGN_ED, k->ed);
	const char *d1 = strchr(good, '.');
	const char *d2 = strrchr(good, '.');
	int			hl = (int) (d1 - good);
	char	   *t;
	size_t		i;
	static const char *const garbage[] = {
		"", ".", "..", "...", "abc", "a.b", "a.b.c.d", "a.b.c.", ".b.c", "a..c",
		"eyJ", "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.", "eyJhbGciOiJIUzI1NiJ9..",
		"!!!.???.***", "a=.b=.c=", "YQ.YQ.YQ", "YWJj.YWJj.YWJj",
	};

	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
	{
		mana_jwt_claims claims;

		assert_status(verify_len(garbage[i], strlen(garbage[i]), &cfg, &claims),
					  MANA_JWT_MALFORMED);
	}
	assert_status(mana_jwt_verify(NULL, 0, &cfg, NULL), MANA_JWT_MALFORMED);
	assert_status(mana_jwt_verify(NULL, 10, &cfg, NULL), MANA_JWT_MALFORMED);
	assert_status(mana_jwt_verify(good, strlen(good), NULL, NULL), MANA_JWT_MALFORMED);

	/* two parts, four parts, an empty part */
	t = xprintf("%.*s", (int) (d2 - good), good);
	assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
	free(t);
	t = xprintf("%s.%s", good, d2 + 1);
	assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
	free(t);
	t = xprintf("%s.", good);
	assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
	free(t);
	t = xprintf(".%s", d1 + 1);
	assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
	free(t);
	t = xprintf("%.*s.%s", hl, good, d2);
	assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
	free(t);

	/* bad base64url in each part: '+', '/', '=', whitespace, one-char tail */
	{
		static const char bad_chars[] = {'+', '/', '=', ' ', '\n', '\0', '\x80', '%'};
		size_t		b;

		for (b = 0; b < sizeof(bad_chars); b++)
		{
			size_t		where[3];
			size_t		w;

			where[0] = 1;
			where[1] = (size_t) hl + 2;
			where[2] = (size_t) (d2 - good) + 2;
			for (w = 0; w < 3; w++)
			{
				size_t		len = strlen(good);
				char	   *copy = xstrdup(good);

				copy[where[w]] = bad_chars[b];
				assert_status(verify_len(copy, len, &cfg, NULL), MANA_JWT_MALFORMED);
				free(copy);
			}
		}
		/* padding appended */
		t = xprintf("%.*s=.%s", hl, good, d1 + 1);
		assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
		free(t);
		t = xprintf("%s=", good);
		assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
		free(t);
		/* a dangling single character */
		t = xprintf("%.*sA.%s", hl, good, d1 + 1);
		assert_status(verify(t, &cfg), MANA_JWT_MALFORMED);
		free(t);
	}

	/* header not JSON, not an object; payload (signed) not JSON, not an object */
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\"", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "[\"EdDSA\"]", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "\"EdDSA\"", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\",}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{'alg':'EdDSA'}", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, "{\"alg\":\"EdDSA\"} x", p, SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"exp\":1800000000", SIGN_ED, k->ed,
				 MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "[1800000000]", SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "null", SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "\"sub\"", SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"sub\":\"v\",\"exp\":1800000000}",
				 SIGN_ED, k->ed, MANA_JWT_MALFORMED);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"\xff\",\"exp\":1800000000}", SIGN_ED, k->ed,
				 MANA_JWT_MALFORMED);

	/* a bad payload is not looked at before the signature is checked */
	{
		char	   *bad = make_token(H_ED, "{\"sub\":", SIGN_ED, k->ed2);

		assert_status(verify(bad, &cfg), MANA_JWT_BAD_SIGNATURE);
		free(bad);
	}

	/* every prefix of a good token is refused, and never crashes */
	for (i = 0; i < strlen(good); i++)
	{
		mana_jwt_status st = verify_len(good, i, &cfg, NULL);

		assert_true(st != MANA_JWT_OK);
	}
	/* every single-character substitution is refused */
	for (i = 0; i < strlen(good); i++)
	{
		static const char repl[] = {'A', '_', '-', '.', 'z'};
		size_t		r;

		for (r = 0; r < sizeof(repl); r++)
		{
			char	   *copy = xstrdup(good);

			if (copy[i] == repl[r])
			{
				free(copy);
				continue;
			}
			copy[i] = repl[r];
			assert_true(verify_len(copy, strlen(copy), &cfg, NULL) != MANA_JWT_OK);
			free(copy);
		}
	}
	free(good);
	free(p);
}

static void
test_token_size(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *pad;
	char	   *p;
	char	   *tok;
	size_t		padlen;
	size_t		toklen;
	int			hit_max = 0;

	/* find the padding that makes the token exactly MANA_JWT_MAX_TOKEN long */
	for (padlen = 5000; padlen < 7000; padlen++)
	{
		pad = malloc(padlen + 1);
		assert_non_null(pad);
		memset(pad, 'x', padlen);
		pad[padlen] = '\0';
		p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"pad\":\"%s\"}", (long long) (NOW + 60), pad);
		tok = make_token(H_HS, p, SIGN_HS, NULL);
		toklen = strlen(tok);
		free(pad);
		free(p);
		if (toklen == MANA_JWT_MAX_TOKEN || toklen == MANA_JWT_MAX_TOKEN + 1)
		{
			if (toklen == MANA_JWT_MAX_TOKEN)
			{
				assert_status(verify(tok, &cfg), MANA_JWT_OK);
				hit_max = 1;
			}
			else
				assert_status(verify(tok, &cfg), MANA_JWT_MALFORMED);
		}
		free(tok);
		if (toklen > MANA_JWT_MAX_TOKEN + 1)
			break;
	}
	assert_true(hit_max);

	/* huge tokens are refused unread (a buffer of 'A's, and a real one) */
	{
		size_t		n = 1 << 20;
		char	   *huge = malloc(n);

		assert_non_null(huge);
		memset(huge, 'A', n);
		assert_status(verify_len(huge, n, &cfg, NULL), MANA_JWT_MALFORMED);
		assert_status(verify_len(huge, MANA_JWT_MAX_TOKEN + 1, &cfg, NULL), MANA_JWT_MALFORMED);
		assert_status(verify_len(huge, MANA_JWT_MAX_TOKEN, &cfg, NULL), MANA_JWT_MALFORMED);
		free(huge);
	}
	{
		size_t		n = 100000;

		pad = malloc(n + 1);
		assert_non_null(pad);
		memset(pad, 'x', n);
		pad[n] = '\0';
		p = xprintf("{\"sub\":\"u\",\"exp\":%lld,\"pad\":\"%s\"}", (long long) (NOW + 60), pad);
		tok = make_token(H_ED, p, SIGN_ED, k->ed);
		assert_status(verify(tok, &cfg), MANA_JWT_MALFORMED);
		free(tok);
		free(p);
		free(pad);
	}

	/* a payload of many tiny values fits the arena */
	{
		size_t		cap = 6000;
		char	   *doc = malloc(cap + 64);
		size_t		pos = 0;

		assert_non_null(doc);
		pos += (size_t) snprintf(doc, cap, "{\"sub\":\"u\",\"exp\":%lld,\"a\":[0",
								 (long long) (NOW + 60));
		while (pos < 5900)
		{
			doc[pos++] = ',';
			doc[pos++] = '0';
		}
		memcpy(doc + pos, "]}", 3);
		tok = make_token(H_HS, doc, SIGN_HS, NULL);
		assert_true(strlen(tok) <= MANA_JWT_MAX_TOKEN);
		assert_status(verify(tok, &cfg), MANA_JWT_OK);
		free(tok);
		free(doc);
	}
}

static void
test_issuer_audience(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char	   *p = payload_exp(NOW + 600);	/* iss https://issuer.example, aud mana */
	static const struct
	{
		const char *claims;
		mana_jwt_status want;
	}			aud_cases[] = {
		{"\"aud\":\"mana\"", MANA_JWT_OK},
		{"\"aud\":[\"mana\"]", MANA_JWT_OK},
		{"\"aud\":[\"other\",\"mana\"]", MANA_JWT_OK},
		{"\"aud\":[\"mana\",\"other\"]", MANA_JWT_OK},
		{"\"aud\":\"other\"", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":\"mana2\"", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":\"man\"", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":\"MANA\"", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":\"\"", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":[]", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":[\"a\",\"b\"]", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":[\"mana\",1]", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":[[\"mana\"]]", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":{\"mana\":true}", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":null", MANA_JWT_BAD_AUDIENCE},
		{"\"aud\":1", MANA_JWT_BAD_AUDIENCE},
		{"\"x\":1", MANA_JWT_BAD_AUDIENCE},
	};
	size_t		i;

	/* not configured: not checked */
	expect_token(k, &cfg, H_RS, "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":5,\"aud\":5}",
				 SIGN_RS, k->rsa, MANA_JWT_OK);

	cfg.issuer = "https://issuer.example";
	expect_token(k, &cfg, H_ED, p, SIGN_ED, k->ed, MANA_JWT_OK);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"exp\":1800000000}", SIGN_ED, k->ed,
				 MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"https://evil\"}",
				 SIGN_ED, k->ed, MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_ED,
				 "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"https://issuer.example/\"}",
				 SIGN_ED, k->ed, MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_ED,
				 "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"https://issuer.exampl\"}",
				 SIGN_ED, k->ed, MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_ED,
				 "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":[\"https://issuer.example\"]}",
				 SIGN_ED, k->ed, MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":null}",
				 SIGN_ED, k->ed, MANA_JWT_BAD_ISSUER);
	/* issuer is checked after the times */
	expect_token(k, &cfg, H_ED, "{\"sub\":\"u\",\"exp\":1}", SIGN_ED, k->ed,
				 MANA_JWT_EXPIRED);
	cfg.issuer = NULL;

	cfg.audience = "mana";
	expect_token(k, &cfg, H_ES, p, SIGN_ES, k->ec, MANA_JWT_OK);
	for (i = 0; i < sizeof(aud_cases) / sizeof(aud_cases[0]); i++)
	{
		char	   *pl = xprintf("{\"sub\":\"u\",\"exp\":1800000000,%s}", aud_cases[i].claims);

		expect_token(k, &cfg, H_HS, pl, SIGN_HS, NULL, aud_cases[i].want);
		free(pl);
	}
	/* both, and the order: issuer before audience */
	cfg.issuer = "https://issuer.example";
	expect_token(k, &cfg, H_RS, p, SIGN_RS, k->rsa, MANA_JWT_OK);
	expect_token(k, &cfg, H_RS, "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"x\",\"aud\":\"y\"}",
				 SIGN_RS, k->rsa, MANA_JWT_BAD_ISSUER);
	expect_token(k, &cfg, H_RS,
				 "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"https://issuer.example\","
				 "\"aud\":\"y\"}", SIGN_RS, k->rsa, MANA_JWT_BAD_AUDIENCE);
	/* an empty configured issuer requires iss == "" */
	cfg.issuer = "";
	cfg.audience = NULL;
	expect_token(k, &cfg, H_RS, "{\"sub\":\"u\",\"exp\":1800000000,\"iss\":\"\"}",
				 SIGN_RS, k->rsa, MANA_JWT_OK);
	expect_token(k, &cfg, H_RS, p, SIGN_RS, k->rsa, MANA_JWT_BAD_ISSUER);
	free(p);
}

static void
test_subject(void **state)
{
	keys	   *k = *state;
	mana_jwt_config cfg = default_cfg(k);
	char		sub[MANA_JWT_MAX_SUB + 2];
	char	   *pl;
	char	   *tok;
	mana_jwt_claims claims;

	expect_token(k, &cfg, H_HS, "{\"exp\":1800000000}", SIGN_HS, NULL, MANA_JWT_BAD_SUBJECT);
	expect_token(k, &cfg, H_HS, "{\"exp\":1800000000,\"sub\":\"\"}", SIGN_HS, NULL,
				 MANA_JWT_BAD_SUBJECT);
	expect_token(k, &cfg, H_HS, "{\"exp\":1800000000,\"sub\":42}", SIGN_HS, NULL,
				 MANA_JWT_BAD_SUBJECT);
	expect_token(k, &cfg, H_HS, "{\"exp\":1800000000,\"sub\":null}", SIGN_HS, NULL,
				 MANA_JWT_BAD_SUBJECT);
	expect_token(k, &cfg, H_HS, "{\"exp\":1800000000,\"sub\":[\"u\"]}", SIGN_HS, NULL,
				 MANA_JWT_BAD_SUBJECT);

	/* exactly MANA_JWT_MAX_SUB bytes: accepted and copied whole */
	memset(sub, 'a', MANA_JWT_MAX_SUB);
	sub[MANA_JWT_MAX_SUB - 1] = 'z';
	sub[MANA_JWT_MAX_SUB] = '\0';
	pl = xprintf("{\"exp\":1800000000,\"sub\":\"%s\"}", sub);
	tok = make_token(H_ED, pl, SIGN_ED, k->ed);
	memset(&claims, 0x55, sizeof(claims));
	assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_OK);
	assert_string_equal(claims.sub, sub);
	assert_int_equal(strlen(claims.sub), MANA_JWT_MAX_SUB);
	free(tok);
	free(pl);
	/* one more: refused, and claims stay zeroed */
	sub[MANA_JWT_MAX_SUB] = 'b';
	sub[MANA_JWT_MAX_SUB + 1] = '\0';
	pl = xprintf("{\"exp\":1800000000,\"sub\":\"%s\"}", sub);
	tok = make_token(H_ED, pl, SIGN_ED, k->ed);
	memset(&claims, 0x55, sizeof(claims));
	assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_BAD_SUBJECT);
	assert_string_equal(claims.sub, "");
	assert_true(claims.exp == 0);
	free(tok);
	free(pl);

	/* escapes are unescaped; the limit is on the unescaped bytes */
	pl = xprintf("{\"exp\":1800000000,\"sub\":\"\\u00e9\\/x\"}");
	tok = make_token(H_ED, pl, SIGN_ED, k->ed);
	assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_OK);
	assert_string_equal(claims.sub, "\xc3\xa9/x");
	free(tok);
	free(pl);
	{
		/* 128 x "\u00e9" = 256 bytes unescaped (768 escaped): accepted */
		char		esc[128 * 6 + 1];
		int			i;

		for (i = 0; i < 128; i++)
			memcpy(esc + i * 6, "\\u00e9", 6);
		esc[128 * 6] = '\0';
		pl = xprintf("{\"exp\":1800000000,\"sub\":\"%s\"}", esc);
		tok = make_token(H_ED, pl, SIGN_ED, k->ed);
		assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_OK);
		assert_int_equal(strlen(claims.sub), 256);
		free(tok);
		free(pl);
		pl = xprintf("{\"exp\":1800000000,\"sub\":\"%sx\"}", esc);
		tok = make_token(H_ED, pl, SIGN_ED, k->ed);
		assert_status(verify_len(tok, strlen(tok), &cfg, &claims), MANA_JWT_BAD_SUBJECT);
		free(tok);
		free(pl);
	}
}

static void
expect_jwks_error(const char *json, const char *want_in_err)
{
	char		err[256];
	mana_jwks  *j;

	err[0] = 'X';
	err[1] = '\0';
	j = parse_jwks(json, err, sizeof(err));
	if (j != NULL)
	{
		mana_jwks_free(j);
		fail_msg("JWKS accepted: %s", json);
	}
	if (want_in_err != NULL && strstr(err, want_in_err) == NULL)
		fail_msg("JWKS error \"%s\" lacks \"%s\" (for %s)", err, want_in_err, json);
}

static void
expect_jwks_count(const char *json, int count)
{
	char		err[256];
	mana_jwks  *j = parse_jwks(json, err, sizeof(err));

	if (j == NULL)
		fail_msg("JWKS refused (%s): %s", err, json);
	assert_int_equal(mana_jwks_count(j), count);
	mana_jwks_free(j);
}

/* replaces the first occurrence of from in s by to (malloc'ed) */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);

	assert_non_null(at);
	return xprintf("%.*s%s%s", (int) (at - s), s, to, at + strlen(from));
}

static void
test_jwks_parse(void **state)
{
	keys	   *k = *state;
	char	   *json;
	char	   *jwk;
	char		err[256];

	/* document shapes */
	expect_jwks_error("", "empty");
	expect_jwks_error("{", "JSON");
	expect_jwks_error("{\"keys\":[}", "JSON");
	expect_jwks_error("[]", "object");
	expect_jwks_error("\"keys\"", "object");
	expect_jwks_error("{}", "keys");
	expect_jwks_error("{\"keys\":{}}", "array");
	expect_jwks_error("{\"keys\":\"x\"}", "array");
	expect_jwks_error("{\"keys\":[1]}", "key 0");
	expect_jwks_error("{\"keys\":[{},null]}", "key 1");
	expect_jwks_count("{\"keys\":[]}", 0);
	expect_jwks_count("{\"keys\":[{}]}", 0);	/* no kty: skipped */
	expect_jwks_count(k->jwk_ed, 1);	/* a single JWK */
	expect_jwks_count(k->jwk_ec, 1);
	expect_jwks_count(k->jwk_rsa, 1);
	expect_jwks_count(k->jwks_json, 3);

	/* skipped keys */
	expect_jwks_count("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"secp256k1\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":\"XYZ\"}]}", 0);
	expect_jwks_count("{\"keys\":[{\"kty\":5}]}", 0);
	jwk = replace(k->jwk_ed, "\"use\":\"sig\"", "\"use\":\"enc\"");
	json = xprintf("{\"keys\":[%s,%s]}", jwk, k->jwk_rsa);
	expect_jwks_count(json, 1);
	free(json);
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"alg\":\"RS256\"", "\"alg\":\"RS512\"");
	expect_jwks_count(jwk, 0);
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"use\":\"sig\"", "\"use\":\"enc\"");
	expect_jwks_count(jwk, 0);
	free(jwk);
	jwk = replace(k->jwk_ec, "\"alg\":\"ES256\"", "\"alg\":\"ES384\"");
	expect_jwks_count(jwk, 0);
	free(jwk);
	/* a malformed key is skipped when its use is not sig */
	expect_jwks_count("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AA\",\"e\":\"AQAB\"}]}", 0);

	/* malformed keys of a supported type fail the document */
	jwk = replace(k->jwk_ed, "\"x\":\"", "\"x\":\"AAAA");	/* 35 bytes */
	expect_jwks_error(jwk, "Ed25519");
	free(jwk);
	{
		unsigned char raw[31];
		char	   *x;

		memset(raw, 7, sizeof(raw));
		x = b64(raw, sizeof(raw));
		jwk = xprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
		expect_jwks_error(jwk, "Ed25519");	/* short x */
		free(jwk);
		free(x);
	}
	expect_jwks_error("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}", "Ed25519");
	expect_jwks_error("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":5}", "Ed25519");
	expect_jwks_error("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
					  "\"x\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", "Ed25519");
	expect_jwks_error("{\"kty\":\"OKP\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
					  "crv");
	expect_jwks_error("{\"kty\":\"OKP\",\"crv\":1}", "crv");
	expect_jwks_count("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
					  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", 1);
	expect_jwks_count("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"Ed25519\","
					  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", 1);
	/* EC: missing y, short x, a point not on the curve, no crv */
	{
		char	   *ystart = strstr(k->jwk_ec, ",\"y\":\"");
		char	   *nocrv;

		assert_non_null(ystart);
		jwk = xprintf("%.*s}", (int) (ystart - k->jwk_ec), k->jwk_ec);
		expect_jwks_error(jwk, "P-256");
		free(jwk);
		jwk = replace(k->jwk_ec, "\"x\":\"", "\"x\":\"AAAA");
		expect_jwks_error(jwk, "P-256");
		free(jwk);
		jwk = replace(k->jwk_ec, "\"y\":\"", "\"y\":\"AAAA");
		expect_jwks_error(jwk, "P-256");
		free(jwk);
		/* x and y swapped: almost surely not on the curve */
		{
			char	   *xs = strstr(k->jwk_ec, "\"x\":\"") + 5;
			char	   *ys = strstr(k->jwk_ec, "\"y\":\"") + 5;
			char		xv[44];
			char		yv[44];

			memcpy(xv, xs, 43);
			xv[43] = '\0';
			memcpy(yv, ys, 43);
			yv[43] = '\0';
			jwk = xprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", yv, xv);
			expect_jwks_error(jwk, "P-256");
			free(jwk);
			jwk = xprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", xv, yv);
			expect_jwks_count(jwk, 1);
			free(jwk);
		}
		nocrv = replace(k->jwk_ec, "\"crv\":\"P-256\",", "");
		expect_jwks_error(nocrv, "crv");
		free(nocrv);
		expect_jwks_error("{\"kty\":\"EC\",\"crv\":\"P-256\","
						  "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
						  "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "P-256");
	}
	/* RSA: too small, even modulus, bad exponent, missing n */
	{
		unsigned char n[256];
		char	   *nb;

		memset(n, 0xff, 128);	/* 1024 bits */
		nb = b64(n, 128);
		jwk = xprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
		expect_jwks_error(jwk, "2048");
		free(jwk);
		free(nb);
		memset(n, 0, 256);		/* leading zeros do not count */
		memset(n + 129, 0xff, 127);
		nb = b64(n, 256);
		jwk = xprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
		expect_jwks_error(jwk, "2048");
		free(jwk);
		free(nb);
		memset(n, 0xff, 256);
		n[255] = 0xfe;			/* even */
		nb = b64(n, 256);
		jwk = xprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
		expect_jwks_error(jwk, "modulus");
		free(jwk);
		free(nb);
	}
	jwk = replace(k->jwk_rsa, "\"e\":\"AQAB\"", "\"e\":\"AQAA\"");	/* even */
	expect_jwks_error(jwk, "exponent");
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"e\":\"AQAB\"", "\"e\":\"AQ\"");	/* 1 */
	expect_jwks_error(jwk, "exponent");
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"e\":\"AQAB\"", "\"e\":\"\"");
	expect_jwks_error(jwk, "n/e");
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"n\":\"", "\"x\":\"");
	expect_jwks_error(jwk, "n/e");
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"n\":\"", "\"n\":\"+");
	expect_jwks_error(jwk, "n/e");
	free(jwk);

	/* member types */
	jwk = replace(k->jwk_ed, "\"kid\":\"ed1\"", "\"kid\":1");
	expect_jwks_error(jwk, "kid");
	free(jwk);
	jwk = replace(k->jwk_ed, "\"use\":\"sig\"", "\"use\":[\"sig\"]");
	expect_jwks_error(jwk, "use");
	free(jwk);
	jwk = replace(k->jwk_rsa, "\"alg\":\"RS256\"", "\"alg\":null");
	expect_jwks_error(jwk, "alg");
	free(jwk);

	/* duplicate kid of the same type fails; across types it is allowed */
	json = xprintf("{\"keys\":[%s,%s]}", k->jwk_ed, k->jwk_ed);
	expect_jwks_error(json, "duplicate");
	free(json);
	jwk = replace(k->jwk_rsa, "\"kid\":\"rsa1\"", "\"kid\":\"ed1\"");
	json = xprintf("{\"keys\":[%s,%s]}", k->jwk_ed, jwk);
	expect_jwks_count(json, 2);
	{
		/* ... and the token's alg picks the right one */
		mana_jwks  *j = parse_jwks(json, err, sizeof(err));
		mana_jwt_config cfg = default_cfg(k);
		char	   *p = payload_exp(NOW + 60);

		assert_non_null(j);
		cfg.jwks = j;
		expect_token(k, &cfg, "{\"alg\":\"RS256\",\"kid\":\"ed1\"}", p, SIGN_RS, k->rsa,
					 MANA_JWT_OK);
		expect_token(k, &cfg, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", p, SIGN_ED, k->ed,
					 MANA_JWT_OK);
		expect_token(k, &cfg, "{\"alg\":\"ES256\",\"kid\":\"ed1\"}", p, SIGN_ES, k->ec,
					 MANA_JWT_ALG_MISMATCH);
		free(p);
		mana_jwks_free(j);
	}
	free(json);
	free(jwk);

	/* an error in a later key frees the keys loaded before it */
	json = xprintf("{\"keys\":[%s,%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}",
				   k->jwk_rsa, k->jwk_ec);
	expect_jwks_error(json, "key 2");
	free(json);

	/* err may be NULL or tiny; NULL/free/count helpers */
	assert_null(mana_jwks_parse("{", 1, NULL, 0));
	err[0] = 'X';
	assert_null(mana_jwks_parse("{", 1, err, 1));
	assert_int_equal(err[0], '\0');
	assert_null(mana_jwks_parse("{", 1, err, 8));
	assert_true(strlen(err) <= 7);
	assert_null(mana_jwks_parse(NULL, 0, err, sizeof(err)));
	assert_int_equal(mana_jwks_count(NULL), 0);
	mana_jwks_free(NULL);

	/* too large */
	{
		size_t		n = 2 * 1024 * 1024;
		char	   *big = malloc(n);

		assert_non_null(big);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		assert_null(mana_jwks_parse(big, n, err, sizeof(err)));
		assert_non_null(strstr(err, "large"));
		free(big);
	}
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_strerror(void **state)
{
	int			i;
	int			j;

	(void) state;
	for (i = MANA_JWT_OK; i <= MANA_JWT_NO_EXPIRY; i++)
	{
		const char *s = mana_jwt_strerror((mana_jwt_status) i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown error");
		for (j = MANA_JWT_OK; j < i; j++)
			assert_string_not_equal(s, mana_jwt_strerror((mana_jwt_status) j));
	}
	assert_string_equal(mana_jwt_strerror((mana_jwt_status) 999), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_each_alg),
		cmocka_unit_test(test_time_claims),
		cmocka_unit_test(test_bad_signatures),
		cmocka_unit_test(test_alg_confusion),
		cmocka_unit_test(test_alg_refused),
		cmocka_unit_test(test_key_selection),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_token_size),
		cmocka_unit_test(test_issuer_audience),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_jwks_parse),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
