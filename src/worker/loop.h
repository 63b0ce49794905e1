/*
 * loop.h
 *     The push worker's event loop (loop.c): one libev loop (epoll) that
 *     libwebsockets runs its sockets on, and that anything else the worker
 *     waits for joins as a watched descriptor.  The rest of the worker uses
 *     only this interface; the loop knows nothing of HTTP, WebSockets, the
 *     intake or the pool.
 */
#ifndef MANA_LOOP_H
#define MANA_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

struct ev_loop;

/* ---- watched descriptors ---------------------------------------------- */

typedef enum mana_watch_event
{
	MANA_WATCH_READABLE,
	MANA_WATCH_WRITABLE,		/* after lws_callback_on_writable(wsi) */
	MANA_WATCH_CLOSED			/* it went away unasked (or the loop is being destroyed) */
} mana_watch_event;

typedef struct mana_watch mana_watch;

/*
 * One per kind of watched descriptor (an intake connection, a pool
 * connection, the commit_hook eventfd, the postmaster death pipe).  The
 * event function returns 0, or -1 to stop watching: lws then closes its
 * copy of the descriptor and no MANA_WATCH_CLOSED follows.
 */
typedef struct mana_watch_ops
{
	const char *name;			/* for the log */
	int			(*event) (mana_watch *w, struct lws *wsi, mana_watch_event ev);
} mana_watch_ops;

/* embed it in the state of what is watched; container_of gets it back */
struct mana_watch
{
	const mana_watch_ops *ops;
};

#define mana_container_of(ptr, type, member) \
	((type *) ((char *) (ptr) - offsetof(type, member)))

/*
 * Watch a duplicate of fd (lws closes what it watches; the caller keeps
 * fd).  Returns the lws handle, or NULL (out of descriptors: the caller
 * polls instead or gives up).
 */
extern struct lws *mana_loop_watch(int fd, mana_watch *w);
/* stop watching now (no more events; lws closes its copy soon); *wsip = NULL */
extern void mana_loop_unwatch(struct lws **wsip);

/* ---- the loop ----------------------------------------------------------- */

/*
 * Create the libev loop and the lws context without a listener of its own
 * (listen.c accepts).  protocols must include mana_loop_protocol() (the
 * watched descriptors).  false: could not (logged).
 */
extern bool mana_loop_create(const struct lws_protocols *protocols, unsigned int fd_limit);
extern void mana_loop_destroy(void);
/* wait for the next events and run their callbacks */
extern void mana_loop_run_once(void);
/* the lws protocol of watched descriptors, for the protocols array */
extern const struct lws_protocols *mana_loop_protocol(void);

extern struct lws_vhost *mana_loop_vhost(void);
extern struct ev_loop *mana_loop_ev(void);

/* shutting down: refuse new work, close what is open (set once) */
extern void mana_loop_set_stopping(void);
extern bool mana_loop_stopping(void);

/* wake the loop from a signal handler */
extern void mana_loop_wake(void);

/* wall clock, milliseconds (for the state machines' retry times) */
extern int64_t mana_loop_now_ms(void);

/*
 * Memory: after many connections came and went, or a big buffer was freed,
 * the loop hands the freed heap back to the system (at most every 5 s).
 */
extern void mana_loop_note_churn(void);
extern void mana_loop_note_big_free(void);

#endif
