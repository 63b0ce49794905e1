/*
 * auth.h
 *     Who a client is (auth.c): its token verified against the configured
 *     keys; the claims' sub is the user.
 */
#ifndef MANA_AUTH_H
#define MANA_AUTH_H

#include "core/jwt.h"

extern char *mana_jwks_file;
extern char *mana_jwt_secret;
extern char *mana_jwt_issuer;
extern char *mana_jwt_audience;

extern void mana_auth_define_settings(void);
/* (re)load the keys: at start and on SIGHUP; a bad file keeps the old keys */
extern void mana_auth_reload(void);
extern void mana_auth_shutdown(void);
extern mana_jwt_status mana_auth_verify(const char *token, mana_jwt_claims *claims);

#endif
