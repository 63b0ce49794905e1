/*
 * listen.h
 *     The push worker's listening sockets (listen.c): bound exactly to
 *     mana_sync.listen_address, accepted connections handed to a callback.
 */
#ifndef MANA_LISTEN_H
#define MANA_LISTEN_H

struct ev_loop;

/* mana_sync.listen_address, mana_sync.port */
extern char *mana_listen_address;
extern int	mana_port;
extern void mana_listen_define_settings(void);

/* takes ownership of an accepted, non-blocking socket */
typedef void (*mana_listen_accept_fn) (int fd);

/*
 * Open a listening socket for every address of every comma-separated entry
 * ("*" or empty: all), watched in loop.  Returns how many are open; each is
 * logged, each failure too.
 */
extern int	mana_listen_open(struct ev_loop *loop, const char *addresses, int port,
							 mana_listen_accept_fn fn);
/* stop accepting (shutdown) */
extern void mana_listen_close(void);

#endif
