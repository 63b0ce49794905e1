/*
 * jwt.c
 *     JSON Web Token verification with OpenSSL 3 (pure C: libc, OpenSSL,
 *     json.h and b64url.h; no PostgreSQL headers, no global mutable state).
 *
 * Memory: everything is malloc'ed per call and freed on every path (the key
 * set lives until mana_jwks_free).  A verification allocates one block sized
 * from the token (at most MANA_JWT_MAX_TOKEN bytes, so a few hundred KiB at
 * worst) for the decoded parts and the JSON arena, plus OpenSSL's own
 * short-lived objects.  OpenSSL errors raised here are popped from the
 * thread's error queue (ERR_set_mark / ERR_pop_to_mark) before returning,
 * so callers' own OpenSSL error state is left as it was.
 *
 * Decisions where jwt.h leaves room (all deliberate):
 *
 * Key selection
 *  - HS256 never uses JWKS keys: it is verified with cfg->hs256_secret only,
 *    and a "kid" in an HS256 header is ignored.  A secret that is NULL or of
 *    length 0 counts as "not configured" (MANA_JWT_NO_KEY).  Symmetric JWKS
 *    keys (kty "oct") are skipped when the set is parsed.  So a token that
 *    says HS256 but was MACed with an RSA public key as the secret fails.
 *  - Asymmetric algorithms map to exactly one key type: EdDSA -> OKP
 *    Ed25519, ES256 -> EC P-256, RS256 -> RSA.  No JWKS (NULL) or a JWKS
 *    with no keys at all -> MANA_JWT_NO_KEY.
 *  - Token with a "kid": among the keys with that kid (byte-exact), the one
 *    whose type fits the alg is used; if keys with that kid exist but none
 *    fits -> MANA_JWT_ALG_MISMATCH; if no key has that kid ->
 *    MANA_JWT_UNKNOWN_KID.  Keys without a kid never match a token's kid.
 *  - Token without a "kid": if the set holds exactly one key of the type the
 *    alg needs, it is used (even if other keys of other types are in the
 *    set - jwt.h's "more than one key" is read as "more than one candidate
 *    key"); two or more candidates -> MANA_JWT_UNKNOWN_KID; no candidate at
 *    all -> MANA_JWT_NO_KEY ("no key of that kind configured").
 *  - Embedded or referenced keys in the header (jwk, jku, x5u, x5c) are
 *    never used (ignored).
 *
 * Header
 *  - "alg" missing or not a string -> MANA_JWT_MALFORMED.  "none" in any
 *    ASCII case -> MANA_JWT_ALG_NONE.  Other names are case-sensitive (JWA):
 *    "EdDSA", "ES256", "RS256", "HS256"; anything else (including "hs256",
 *    "Ed25519", "PS256") -> MANA_JWT_ALG_UNSUPPORTED.
 *  - A "kid" that is present but not a string -> MANA_JWT_MALFORMED.
 *  - A "crit" member (RFC 7515 4.1.11: extensions that must be understood;
 *    we understand none) -> MANA_JWT_MALFORMED, checked after alg.
 *  - "typ" and other members are ignored.
 *
 * Shape
 *  - Exactly three dot-separated parts, each valid unpadded base64url;
 *    header and payload non-empty.  An empty signature part passes the shape
 *    check (so "alg":"none" tokens report MANA_JWT_ALG_NONE) and then fails
 *    as MANA_JWT_BAD_SIGNATURE for real algorithms.  All three parts are
 *    decoded before anything else (decoding believes nothing); the payload
 *    is parsed as JSON only after the signature verified.
 *  - Signature lengths: EdDSA and ES256 exactly 64 bytes (ES256 is JOSE
 *    r||s, converted to DER), RS256 exactly the modulus size, HS256 exactly
 *    32 bytes; otherwise MANA_JWT_BAD_SIGNATURE.  Any internal OpenSSL
 *    failure also yields MANA_JWT_BAD_SIGNATURE (fails closed).
 *
 * Claims (checked in this order: exp, nbf, iss, aud, sub)
 *  - exp absent -> MANA_JWT_NO_EXPIRY.  exp or nbf present but not an
 *    integer within int64 (a string, null, 1.5, 1e9) -> MANA_JWT_MALFORMED.
 *  - A negative cfg->leeway is treated as 0.  Expired when now > exp and
 *    now - exp > leeway; not yet valid when nbf > now and nbf - now >
 *    leeway (computed without overflow for any int64 values).
 *  - iss: when cfg->issuer is non-NULL the payload's iss must be a string
 *    equal to it byte for byte (an empty cfg->issuer requires iss == "").
 *  - aud: when cfg->audience is non-NULL, aud must be a string equal to it
 *    or an array of strings one of which equals it; an array with a
 *    non-string element, or any other type, -> MANA_JWT_BAD_AUDIENCE.
 *  - sub: a string of 1..MANA_JWT_MAX_SUB bytes (any content JSON allows;
 *    it cannot contain NUL since the parser refuses \u0000).
 *  - iat is not checked.  claims may be NULL (nothing is filled); it is
 *    zeroed first and filled only on MANA_JWT_OK.
 *
 * JWKS
 *  - Documents over JWKS_MAX_LEN (1 MiB) are refused; the JSON arena is
 *    16 bytes per input byte plus 64 KiB, ample for real key sets (long
 *    base64url strings); a pathological document of tiny values fails as
 *    "bad JSON: out of memory".  The document may be
 *    {"keys":[...]} or a single JWK object (recognised by "kty").  "keys"
 *    must be an array of objects.  A set in which every key was skipped, or
 *    an empty "keys" array, is not an error: a set with count 0 is returned
 *    (verification then gives MANA_JWT_NO_KEY).
 *  - Skipped: a key without a string "kty"; kty other than OKP/EC/RSA;
 *    OKP with crv other than Ed25519, EC with crv other than P-256; "use"
 *    other than "sig"; a key whose "alg" names an algorithm other than the
 *    one we would use it for (EdDSA - or Ed25519 - / ES256 / RS256).
 *    "key_ops", "x5c", "x5t" and other members are ignored.
 *  - Fail the whole document: "use", "kid", "alg" or "crv" present but not a
 *    string; OKP/EC without crv; a supported key with a missing or bad
 *    x / y / n / e (not base64url, wrong length); an EC point not on the
 *    curve; RSA modulus under 2048 or over 16384 bits or even; RSA public
 *    exponent even, < 3 or over 64 bits; two supported keys with the same
 *    kid and the same type.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "json.h"
#include "jwt.h"

#define JWKS_MAX_LEN (1024 * 1024)
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 16384
#define JWK_RSA_MAX_N_CHARS 4096	/* base64url chars of n (leading zeros allowed) */
#define JWK_RSA_MAX_E_CHARS 16

typedef enum jwk_type
{
	JWK_NONE = 0,
	JWK_ED25519,
	JWK_P256,
	JWK_RSA
} jwk_type;

typedef struct jwk_key
{
	jwk_type	type;
	bool		has_kid;
	char	   *kid;			/* malloc'ed, NUL-terminated; NULL without kid */
	size_t		kidlen;
	EVP_PKEY   *pkey;
} jwk_key;

struct mana_jwks
{
	int			count;
	jwk_key    *keys;
};

#define lengthof_jwt(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------- utilities */

/* err <- "JWKS: what" (idx < 0) or "JWKS key idx: what" */
static void
jwt_seterr(char *err, size_t errlen, int idx, const char *what)
{
	if (err == NULL || errlen == 0)
		return;
	if (idx < 0)
		snprintf(err, errlen, "JWKS: %s", what);
	else
		snprintf(err, errlen, "JWKS key %d: %s", idx, what);
}

static bool
jwt_str_eq(const char *a, size_t alen, const char *b)
{
	size_t		blen = strlen(b);

	return alen == blen && memcmp(a, b, blen) == 0;
}

static bool
jwt_ascii_caseeq(const char *a, size_t alen, const char *b)
{
	size_t		i;

	if (alen != strlen(b))
		return false;
	for (i = 0; i < alen; i++)
	{
		unsigned char ca = (unsigned char) a[i];
		unsigned char cb = (unsigned char) b[i];

		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char) (ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char) (cb - 'A' + 'a');
		if (ca != cb)
			return false;
	}
	return true;
}

/*
 * Decodes the string member key of obj into out (outcap bytes).  Returns
 * the decoded length, -1 when the member is missing, not a string, not
 * base64url or longer than maxchars characters.
 */
static long
jwt_member_b64(const mana_json *obj, const char *key, size_t maxchars,
			   unsigned char *out, size_t outcap)
{
	size_t		len;
	const char *s = mana_json_get_string(obj, key, &len);

	if (s == NULL || len == 0 || len > maxchars || MANA_B64URL_DECLEN(len) > outcap)
		return -1;
	return mana_b64url_decode(s, len, out);
}

/* ------------------------------------------------------------- key loading */

static EVP_PKEY *
jwk_load_ed25519(const mana_json *obj, const char **why)
{
	unsigned char x[MANA_B64URL_DECLEN(43)];

	*why = "bad Ed25519 \"x\" (must be 32 bytes)";
	if (jwt_member_b64(obj, "x", 43, x, sizeof(x)) != 32)
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
}

static EVP_PKEY *
jwk_load_p256(const mana_json *obj, const char **why)
{
	unsigned char x[MANA_B64URL_DECLEN(43)];
	unsigned char y[MANA_B64URL_DECLEN(43)];
	unsigned char point[65];
	char		group[] = "prime256v1";
	OSSL_PARAM	params[3];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY   *pkey = NULL;

	*why = "bad P-256 \"x\"/\"y\" (32 bytes each, a point on the curve)";
	if (jwt_member_b64(obj, "x", 43, x, sizeof(x)) != 32 ||
		jwt_member_b64(obj, "y", 43, y, sizeof(y)) != 32)
		return NULL;
	point[0] = 0x04;
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
												  sizeof(point));
	params[2] = OSSL_PARAM_construct_end();

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto done;
	}
	/* the point must be on the curve (and not the point at infinity) */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (check == NULL || EVP_PKEY_public_check(check) != 1)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
done:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Returns the key, or NULL with *why set. */
static EVP_PKEY *
jwk_load_rsa(const mana_json *obj, const char **why)
{
	unsigned char nbuf[MANA_B64URL_DECLEN(JWK_RSA_MAX_N_CHARS)];
	unsigned char ebuf[MANA_B64URL_DECLEN(JWK_RSA_MAX_E_CHARS)];
	long		nlen;
	long		elen;
	BIGNUM	   *n = NULL;
	BIGNUM	   *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY   *pkey = NULL;
	int			bits;

	nlen = jwt_member_b64(obj, "n", JWK_RSA_MAX_N_CHARS, nbuf, sizeof(nbuf));
	elen = jwt_member_b64(obj, "e", JWK_RSA_MAX_E_CHARS, ebuf, sizeof(ebuf));
	if (nlen <= 0 || elen <= 0)
	{
		*why = "bad or missing n/e";
		return NULL;
	}
	n = BN_bin2bn(nbuf, (int) nlen, NULL);
	e = BN_bin2bn(ebuf, (int) elen, NULL);
	if (n == NULL || e == NULL)
	{
		*why = "out of memory";
		goto done;
	}
	bits = BN_num_bits(n);
	if (bits < JWK_RSA_MIN_BITS)
	{
		*why = "RSA modulus under 2048 bits";
		goto done;
	}
	if (bits > JWK_RSA_MAX_BITS || !BN_is_odd(n))
	{
		*why = "bad RSA modulus";
		goto done;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 64)
	{
		*why = "bad RSA exponent";
		goto done;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
		(params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
	{
		*why = "out of memory";
		goto done;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
		*why = "RSA key refused by OpenSSL";
	}
done:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/*
 * The key types a JWKS may hold, one row each: kty, the curve (NULL: none),
 * the error for a missing "crv", and the loader.  Keys of other types or
 * curves are skipped.
 */
typedef struct jwk_kind
{
	const char *kty;
	const char *crv;
	const char *no_crv_error;
	jwk_type	type;
	EVP_PKEY   *(*load) (const mana_json *obj, const char **why);
} jwk_kind;

static const jwk_kind jwk_kinds[] = {
	{"OKP", "Ed25519", "OKP key without \"crv\"", JWK_ED25519, jwk_load_ed25519},
	{"EC", "P-256", "EC key without \"crv\"", JWK_P256, jwk_load_p256},
	{"RSA", NULL, NULL, JWK_RSA, jwk_load_rsa},
};

/* signature checks, one per algorithm (1: valid) */
typedef int (*jwt_verify_fn) (const jwk_key *key, const mana_jwt_config *cfg,
							  const unsigned char *sig, size_t siglen,
							  const unsigned char *tbs, size_t tbslen);

static int	jwt_verify_eddsa(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
							 size_t siglen, const unsigned char *tbs, size_t tbslen);
static int	jwt_verify_es256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
							 size_t siglen, const unsigned char *tbs, size_t tbslen);
static int	jwt_verify_rs256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
							 size_t siglen, const unsigned char *tbs, size_t tbslen);
static int	jwt_verify_hs256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
							 size_t siglen, const unsigned char *tbs, size_t tbslen);

/*
 * The algorithms, one row each: the header's "alg", another name a JWK's
 * "alg" may use for it, the key type it needs (JWK_NONE: the HS256 shared
 * secret), and its signature check.  A new algorithm is one row and one
 * check (and, for a new key type, a row of jwk_kinds).
 */
typedef struct jwt_alg_def
{
	const char *name;
	const char *jwk_alias;
	jwk_type	key_type;
	jwt_verify_fn verify;
} jwt_alg_def;

static const jwt_alg_def jwt_algs[] = {
	{"EdDSA", "Ed25519", JWK_ED25519, jwt_verify_eddsa},
	{"ES256", NULL, JWK_P256, jwt_verify_es256},
	{"RS256", NULL, JWK_RSA, jwt_verify_rs256},
	{"HS256", NULL, JWK_NONE, jwt_verify_hs256},
};

/* the row of a header's "alg", or NULL */
static const jwt_alg_def *
jwt_alg_find(const char *alg, size_t alglen)
{
	for (size_t i = 0; i < lengthof_jwt(jwt_algs); i++)
		if (jwt_str_eq(alg, alglen, jwt_algs[i].name))
			return &jwt_algs[i];
	return NULL;
}

/* may a key of this type, limited by its JWK "alg", serve that algorithm? */
static bool
jwt_alg_fits(const char *alg, size_t alglen, jwk_type type)
{
	for (size_t i = 0; i < lengthof_jwt(jwt_algs); i++)
		if (jwt_algs[i].key_type == type &&
			(jwt_str_eq(alg, alglen, jwt_algs[i].name) ||
			 (jwt_algs[i].jwk_alias != NULL && jwt_str_eq(alg, alglen, jwt_algs[i].jwk_alias))))
			return true;
	return false;
}

/*
 * Loads one JWK into *key.  1: loaded; 0: skipped; -1: error (err filled).
 * Long (about 100 lines) for a reason: each member's type check has its
 * own error message; the key types themselves are the table jwk_kinds.
 */
static int
jwk_load(const mana_json *obj, int idx, jwk_key *key, char *err, size_t errlen)
{
	const mana_json *m;
	const char *kty;
	size_t		ktylen;
	const char *crv = NULL;
	size_t		crvlen = 0;
	const char *alg = NULL;
	size_t		alglen = 0;
	const char *kid = NULL;
	size_t		kidlen = 0;
	jwk_type	type;
	const char *why = NULL;
	const jwk_kind *kind;

	memset(key, 0, sizeof(*key));
	key->kid = NULL;
	key->pkey = NULL;

	if (obj->type != MANA_JSON_OBJECT)
	{
		jwt_seterr(err, errlen, idx, "not an object");
		return -1;
	}
	if ((m = mana_json_get(obj, "use")) != NULL)
	{
		if (m->type != MANA_JSON_STRING)
		{
			jwt_seterr(err, errlen, idx, "\"use\" is not a string");
			return -1;
		}
		if (!jwt_str_eq(m->str, m->len, "sig"))
			return 0;
	}
	if ((m = mana_json_get(obj, "kid")) != NULL)
	{
		if (m->type != MANA_JSON_STRING)
		{
			jwt_seterr(err, errlen, idx, "\"kid\" is not a string");
			return -1;
		}
		kid = m->str;
		kidlen = m->len;
	}
	if ((m = mana_json_get(obj, "alg")) != NULL)
	{
		if (m->type != MANA_JSON_STRING)
		{
			jwt_seterr(err, errlen, idx, "\"alg\" is not a string");
			return -1;
		}
		alg = m->str;
		alglen = m->len;
	}
	if ((m = mana_json_get(obj, "crv")) != NULL)
	{
		if (m->type != MANA_JSON_STRING)
		{
			jwt_seterr(err, errlen, idx, "\"crv\" is not a string");
			return -1;
		}
		crv = m->str;
		crvlen = m->len;
	}
	kty = mana_json_get_string(obj, "kty", &ktylen);
	if (kty == NULL)
		return 0;
	for (kind = jwk_kinds; kind < jwk_kinds + lengthof_jwt(jwk_kinds); kind++)
		if (jwt_str_eq(kty, ktylen, kind->kty))
			break;
	if (kind == jwk_kinds + lengthof_jwt(jwk_kinds))
		return 0;				/* a key type we do not use */
	if (kind->crv != NULL)
	{
		if (crv == NULL)
		{
			jwt_seterr(err, errlen, idx, kind->no_crv_error);
			return -1;
		}
		if (!jwt_str_eq(crv, crvlen, kind->crv))
			return 0;
	}
	/* a key limited to another algorithm is not for us */
	if (alg != NULL && !jwt_alg_fits(alg, alglen, kind->type))
		return 0;
	type = kind->type;
	key->pkey = kind->load(obj, &why);
	if (key->pkey == NULL)
	{
		jwt_seterr(err, errlen, idx, why != NULL ? why : "bad key");
		return -1;
	}
	key->type = type;
	if (kid != NULL)
	{
		key->kid = malloc(kidlen + 1);
		if (key->kid == NULL)
		{
			EVP_PKEY_free(key->pkey);
			key->pkey = NULL;
			jwt_seterr(err, errlen, idx, "out of memory");
			return -1;
		}
		memcpy(key->kid, kid, kidlen);
		key->kid[kidlen] = '\0';
		key->kidlen = kidlen;
		key->has_kid = true;
	}
	return 1;
}

void
mana_jwks_free(mana_jwks *jwks)
{
	int			i;

	if (jwks == NULL)
		return;
	for (i = 0; i < jwks->count; i++)
	{
		EVP_PKEY_free(jwks->keys[i].pkey);
		free(jwks->keys[i].kid);
	}
	free(jwks->keys);
	free(jwks);
}

int
mana_jwks_count(const mana_jwks *jwks)
{
	return jwks == NULL ? 0 : jwks->count;
}

/*
 * Long (about 130 lines) for a reason: the document's shape checks (one
 * key or a set, every failure with its own message) in the order the
 * rules at the top of this file give them.
 */
mana_jwks *
mana_jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
	mana_arena	arena;
	char	   *mem = NULL;
	size_t		arena_size;
	const char *perr = NULL;
	const mana_json *root;
	const mana_json *list;
	const mana_json *const *items;
	size_t		nitems;
	mana_jwks  *jwks = NULL;
	size_t		i;
	bool		ok = false;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (json == NULL || len == 0)
	{
		jwt_seterr(err, errlen, -1, "empty document");
		return NULL;
	}
	if (len > JWKS_MAX_LEN)
	{
		jwt_seterr(err, errlen, -1, "document too large");
		return NULL;
	}

	ERR_set_mark();
	arena_size = 16 * len + 64 * 1024;
	mem = malloc(arena_size);
	if (mem == NULL)
	{
		jwt_seterr(err, errlen, -1, "out of memory");
		goto done;
	}
	arena.buf = mem;
	arena.size = arena_size;
	arena.used = 0;
	root = mana_json_parse(json, len, &arena, &perr);
	if (root == NULL)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "JWKS: bad JSON: %s", perr != NULL ? perr : "?");
		goto done;
	}
	if (root->type != MANA_JSON_OBJECT)
	{
		jwt_seterr(err, errlen, -1, "not a JSON object");
		goto done;
	}
	list = mana_json_get(root, "keys");
	if (list != NULL)
	{
		if (list->type != MANA_JSON_ARRAY)
		{
			jwt_seterr(err, errlen, -1, "\"keys\" is not an array");
			goto done;
		}
		items = (const mana_json *const *) list->items;
		nitems = list->count;
	}
	else if (mana_json_get(root, "kty") != NULL)
	{
		/* a single JWK */
		items = &root;
		nitems = 1;
	}
	else
	{
		jwt_seterr(err, errlen, -1, "no \"keys\" array");
		goto done;
	}

	jwks = malloc(sizeof(mana_jwks));
	if (jwks == NULL)
	{
		jwt_seterr(err, errlen, -1, "out of memory");
		goto done;
	}
	jwks->count = 0;
	jwks->keys = NULL;
	if (nitems > (size_t) INT_MAX)
	{
		jwt_seterr(err, errlen, -1, "too many keys");
		goto done;
	}
	if (nitems > 0)
	{
		jwks->keys = malloc(nitems * sizeof(jwk_key));
		if (jwks->keys == NULL)
		{
			jwt_seterr(err, errlen, -1, "out of memory");
			goto done;
		}
	}
	for (i = 0; i < nitems; i++)
	{
		jwk_key    *key = &jwks->keys[jwks->count];
		int			rc = jwk_load(items[i], (int) i, key, err, errlen);
		int			j;

		if (rc < 0)
			goto done;
		if (rc == 0)
			continue;
		jwks->count++;
		/* refuse two keys of one type under one kid */
		if (!key->has_kid)
			continue;
		for (j = 0; j < jwks->count - 1; j++)
		{
			const jwk_key *other = &jwks->keys[j];

			if (other->has_kid && other->type == key->type &&
				other->kidlen == key->kidlen &&
				memcmp(other->kid, key->kid, key->kidlen) == 0)
			{
				jwt_seterr(err, errlen, (int) i,
						   "duplicate kid for the same key type");
				goto done;
			}
		}
	}
	ok = true;

done:
	free(mem);
	if (!ok)
	{
		mana_jwks_free(jwks);
		jwks = NULL;
	}
	ERR_pop_to_mark();
	return jwks;
}

/* ------------------------------------------------------------ verification */

/* Chooses the key for an asymmetric alg (see the rules at the top). */
static mana_jwt_status
jwt_select_key(const mana_jwks *jwks, const jwt_alg_def *alg, const char *kid, size_t kidlen,
			   const jwk_key **out)
{
	jwk_type	want = alg->key_type;
	const jwk_key *found = NULL;
	int			candidates = 0;
	bool		kid_seen = false;
	int			i;

	if (jwks == NULL || jwks->count == 0)
		return MANA_JWT_NO_KEY;
	for (i = 0; i < jwks->count; i++)
	{
		const jwk_key *k = &jwks->keys[i];

		if (kid != NULL)
		{
			if (!k->has_kid || k->kidlen != kidlen || memcmp(k->kid, kid, kidlen) != 0)
				continue;
			kid_seen = true;
		}
		if (k->type != want)
			continue;
		if (found == NULL)
			found = k;
		candidates++;
	}
	if (kid != NULL)
	{
		if (!kid_seen)
			return MANA_JWT_UNKNOWN_KID;
		if (found == NULL)
			return MANA_JWT_ALG_MISMATCH;
		/* one at most: the parser refuses duplicate (kid, type) pairs */
		*out = found;
		return MANA_JWT_OK;
	}
	if (candidates == 0)
		return MANA_JWT_NO_KEY;
	if (candidates > 1)
		return MANA_JWT_UNKNOWN_KID;
	*out = found;
	return MANA_JWT_OK;
}

/* 1 when sig verifies over tbs with pkey (md NULL for Ed25519), else 0 */
static int
jwt_digest_verify(EVP_PKEY *pkey, const EVP_MD *md, bool rsa_pkcs1,
				  const unsigned char *sig, size_t siglen,
				  const unsigned char *tbs, size_t tbslen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int			ok = 0;

	if (ctx == NULL)
		return 0;
	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) == 1 &&
		(!rsa_pkcs1 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0) &&
		EVP_DigestVerify(ctx, sig, siglen, tbs, tbslen) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int
jwt_verify_p256_sig(EVP_PKEY *pkey, const unsigned char *sig, size_t siglen,
				 const unsigned char *tbs, size_t tbslen)
{
	BIGNUM	   *r = NULL;
	BIGNUM	   *s = NULL;
	ECDSA_SIG  *esig = NULL;
	unsigned char der[80];
	unsigned char *p = der;
	int			derlen;
	int			ok = 0;

	if (siglen != 64)
		return 0;
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	esig = ECDSA_SIG_new();
	if (r == NULL || s == NULL || esig == NULL)
		goto done;
	if (ECDSA_SIG_set0(esig, r, s) != 1)
		goto done;
	r = NULL;					/* owned by esig now */
	s = NULL;
	derlen = i2d_ECDSA_SIG(esig, NULL);
	if (derlen <= 0 || (size_t) derlen > sizeof(der))
		goto done;
	derlen = i2d_ECDSA_SIG(esig, &p);
	if (derlen <= 0 || (size_t) derlen > sizeof(der))
		goto done;
	ok = jwt_digest_verify(pkey, EVP_sha256(), false, der, (size_t) derlen, tbs, tbslen);
done:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(esig);
	return ok;
}

static int
jwt_verify_eddsa(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
				 size_t siglen, const unsigned char *tbs, size_t tbslen)
{
	(void) cfg;
	if (siglen != 64)
		return 0;
	return jwt_digest_verify(key->pkey, NULL, false, sig, siglen, tbs, tbslen);
}

static int
jwt_verify_es256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
				 size_t siglen, const unsigned char *tbs, size_t tbslen)
{
	(void) cfg;
	return jwt_verify_p256_sig(key->pkey, sig, siglen, tbs, tbslen);
}

static int
jwt_verify_rs256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
				 size_t siglen, const unsigned char *tbs, size_t tbslen)
{
	int			size = EVP_PKEY_get_size(key->pkey);

	(void) cfg;
	if (size <= 0 || siglen != (size_t) size)
		return 0;
	return jwt_digest_verify(key->pkey, EVP_sha256(), true, sig, siglen, tbs, tbslen);
}

static int
jwt_verify_hs256(const jwk_key *key, const mana_jwt_config *cfg, const unsigned char *sig,
				 size_t siglen, const unsigned char *tbs, size_t tbslen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	(void) key;
	if (siglen != 32 || cfg->hs256_secret_len > (size_t) INT_MAX)
		return 0;
	if (HMAC(EVP_sha256(), cfg->hs256_secret, (int) cfg->hs256_secret_len,
			 tbs, tbslen, mac, &maclen) == NULL || maclen != 32)
		return 0;
	return CRYPTO_memcmp(mac, sig, 32) == 0;
}

/* now is past t by more than leeway (t + leeway < now), without overflow */
static bool
jwt_past(int64_t now, int64_t t, int64_t leeway)
{
	return now > t && (uint64_t) now - (uint64_t) t > (uint64_t) leeway;
}

static mana_jwt_status
jwt_check_claims(const mana_json *payload, const mana_jwt_config *cfg,
				 mana_jwt_claims *out)
{
	int64_t		leeway = cfg->leeway > 0 ? cfg->leeway : 0;
	int64_t		exp = 0;
	int64_t		nbf = 0;
	const char *sub;
	size_t		sublen;

	if (mana_json_get(payload, "exp") == NULL)
		return MANA_JWT_NO_EXPIRY;
	if (mana_json_get_int64(payload, "exp", &exp) != 0)
		return MANA_JWT_MALFORMED;
	if (jwt_past(cfg->now, exp, leeway))
		return MANA_JWT_EXPIRED;

	if (mana_json_get(payload, "nbf") != NULL)
	{
		if (mana_json_get_int64(payload, "nbf", &nbf) != 0)
			return MANA_JWT_MALFORMED;
		if (jwt_past(nbf, cfg->now, leeway))
			return MANA_JWT_NOT_YET_VALID;
	}

	if (cfg->issuer != NULL)
	{
		size_t		isslen;
		const char *iss = mana_json_get_string(payload, "iss", &isslen);

		if (iss == NULL || !jwt_str_eq(iss, isslen, cfg->issuer))
			return MANA_JWT_BAD_ISSUER;
	}

	if (cfg->audience != NULL)
	{
		const mana_json *aud = mana_json_get(payload, "aud");
		bool		match = false;

		if (aud == NULL)
			return MANA_JWT_BAD_AUDIENCE;
		if (aud->type == MANA_JSON_STRING)
			match = jwt_str_eq(aud->str, aud->len, cfg->audience);
		else if (aud->type == MANA_JSON_ARRAY)
		{
			size_t		i;

			for (i = 0; i < aud->count; i++)
			{
				const mana_json *a = aud->items[i];

				if (a->type != MANA_JSON_STRING)
					return MANA_JWT_BAD_AUDIENCE;
				if (jwt_str_eq(a->str, a->len, cfg->audience))
					match = true;
			}
		}
		if (!match)
			return MANA_JWT_BAD_AUDIENCE;
	}

	sub = mana_json_get_string(payload, "sub", &sublen);
	if (sub == NULL || sublen == 0 || sublen > MANA_JWT_MAX_SUB)
		return MANA_JWT_BAD_SUBJECT;

	if (out != NULL)
	{
		memcpy(out->sub, sub, sublen);
		out->sub[sublen] = '\0';
		out->exp = exp;
		out->nbf = nbf;
	}
	return MANA_JWT_OK;
}

/* The work of mana_jwt_verify; mem is freed by the caller. */
static mana_jwt_status
jwt_verify_inner(const char *token, size_t len, const mana_jwt_config *cfg,
				 mana_jwt_claims *claims, char **mem)
{
	size_t		dot1 = len;
	size_t		dot2 = len;
	size_t		i;
	const char *hpart;
	size_t		hlen;
	const char *ppart;
	size_t		plen;
	const char *spart;
	size_t		slen;
	unsigned char *hdec;
	unsigned char *pdec;
	unsigned char *sdec;
	long		hdlen;
	long		pdlen;
	long		sdlen;
	size_t		decsize;
	size_t		arena_size;
	mana_arena	arena;
	const mana_json *header;
	const mana_json *payload;
	const mana_json *m;
	const char *alg;
	size_t		alglen;
	const char *kid = NULL;
	size_t		kidlen = 0;
	const jwt_alg_def *which;
	const jwk_key *key = NULL;
	mana_jwt_status st;

	/* shape: exactly two dots */
	for (i = 0; i < len; i++)
	{
		if (token[i] != '.')
			continue;
		if (dot1 == len)
			dot1 = i;
		else if (dot2 == len)
			dot2 = i;
		else
			return MANA_JWT_MALFORMED;
	}
	if (dot1 == len || dot2 == len)
		return MANA_JWT_MALFORMED;
	hpart = token;
	hlen = dot1;
	ppart = token + dot1 + 1;
	plen = dot2 - dot1 - 1;
	spart = token + dot2 + 1;
	slen = len - dot2 - 1;
	if (hlen == 0 || plen == 0)
		return MANA_JWT_MALFORMED;

	/*
	 * One block: the three decoded parts, then the JSON arena (64 times the
	 * decoded JSON is more than any JSON text can need).
	 */
	decsize = MANA_B64URL_DECLEN(hlen) + MANA_B64URL_DECLEN(plen) +
		MANA_B64URL_DECLEN(slen) + 24;
	arena_size = 64 * (MANA_B64URL_DECLEN(hlen) + MANA_B64URL_DECLEN(plen)) + 4096;
	*mem = malloc(decsize + arena_size);
	if (*mem == NULL)
		return MANA_JWT_MALFORMED;
	hdec = (unsigned char *) *mem;
	hdlen = mana_b64url_decode(hpart, hlen, hdec);
	if (hdlen <= 0)
		return MANA_JWT_MALFORMED;
	pdec = hdec + hdlen;
	pdlen = mana_b64url_decode(ppart, plen, pdec);
	if (pdlen <= 0)
		return MANA_JWT_MALFORMED;
	sdec = pdec + pdlen;
	sdlen = mana_b64url_decode(spart, slen, sdec);
	if (sdlen < 0)
		return MANA_JWT_MALFORMED;
	arena.buf = *mem + decsize;
	arena.size = arena_size;
	arena.used = 0;

	/* header */
	header = mana_json_parse((const char *) hdec, (size_t) hdlen, &arena, NULL);
	if (header == NULL || header->type != MANA_JSON_OBJECT)
		return MANA_JWT_MALFORMED;
	alg = mana_json_get_string(header, "alg", &alglen);
	if (alg == NULL)
		return MANA_JWT_MALFORMED;
	if (jwt_ascii_caseeq(alg, alglen, "none"))
		return MANA_JWT_ALG_NONE;
	which = jwt_alg_find(alg, alglen);
	if (which == NULL)
		return MANA_JWT_ALG_UNSUPPORTED;
	if (mana_json_get(header, "crit") != NULL)
		return MANA_JWT_MALFORMED;
	if ((m = mana_json_get(header, "kid")) != NULL)
	{
		if (m->type != MANA_JSON_STRING)
			return MANA_JWT_MALFORMED;
		kid = m->str;
		kidlen = m->len;
	}

	/* key */
	if (which->key_type == JWK_NONE)
	{
		if (cfg->hs256_secret == NULL || cfg->hs256_secret_len == 0)
			return MANA_JWT_NO_KEY;
	}
	else
	{
		st = jwt_select_key(cfg->jwks, which, kid, kidlen, &key);
		if (st != MANA_JWT_OK)
			return st;
	}

	/* signature over the ASCII "header.payload" */
	if (!which->verify(key, cfg, sdec, (size_t) sdlen, (const unsigned char *) token, dot2))
		return MANA_JWT_BAD_SIGNATURE;

	/* claims, now that they are signed */
	payload = mana_json_parse((const char *) pdec, (size_t) pdlen, &arena, NULL);
	if (payload == NULL || payload->type != MANA_JSON_OBJECT)
		return MANA_JWT_MALFORMED;
	return jwt_check_claims(payload, cfg, claims);
}

mana_jwt_status
mana_jwt_verify(const char *token, size_t len, const mana_jwt_config *cfg,
				mana_jwt_claims *claims)
{
	char	   *mem = NULL;
	mana_jwt_status st;

	if (claims != NULL)
		memset(claims, 0, sizeof(*claims));
	if (token == NULL || cfg == NULL || len == 0 || len > MANA_JWT_MAX_TOKEN)
		return MANA_JWT_MALFORMED;

	ERR_set_mark();
	st = jwt_verify_inner(token, len, cfg, claims, &mem);
	ERR_pop_to_mark();
	free(mem);
	return st;
}

const char *
mana_jwt_strerror(mana_jwt_status status)
{
	switch (status)
	{
		case MANA_JWT_OK:
			return "ok";
		case MANA_JWT_MALFORMED:
			return "malformed token";
		case MANA_JWT_ALG_NONE:
			return "unsigned token (alg none) refused";
		case MANA_JWT_ALG_UNSUPPORTED:
			return "unsupported algorithm";
		case MANA_JWT_ALG_MISMATCH:
			return "algorithm does not match the key's type";
		case MANA_JWT_NO_KEY:
			return "no key configured for this algorithm";
		case MANA_JWT_UNKNOWN_KID:
			return "unknown or missing key id (kid)";
		case MANA_JWT_BAD_SIGNATURE:
			return "bad signature";
		case MANA_JWT_EXPIRED:
			return "token expired";
		case MANA_JWT_NOT_YET_VALID:
			return "token not yet valid";
		case MANA_JWT_BAD_ISSUER:
			return "wrong issuer";
		case MANA_JWT_BAD_AUDIENCE:
			return "wrong audience";
		case MANA_JWT_BAD_SUBJECT:
			return "missing or bad subject";
		case MANA_JWT_NO_EXPIRY:
			return "token has no expiry (exp)";
	}
	return "unknown error";
}
