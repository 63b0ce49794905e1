/*
 * hintring.h
 *     mana_sync.notify_mode and the commit_hook intake (hintring.c): hints
 *     recorded at commit in a shared-memory ring, drained by the worker.
 */
#ifndef MANA_HINTRING_H
#define MANA_HINTRING_H


typedef enum mana_notify_mode_t
{
	MANA_NOTIFY_NOTIFY,
	MANA_NOTIFY_COMMIT_HOOK
} mana_notify_mode_t;

extern int	mana_notify_mode;
/* the settings; preloaded, also the ring's shared memory and eventfd */
extern void mana_hintring_init(void);
extern bool mana_hintring_active(void);
extern bool mana_hintring_record(const char *dbname, const char *payload);
extern int	mana_hintring_fd(void);
extern void mana_hintring_ack(void);
extern uint64 mana_hintring_drain(void (*deliver) (const char *payload, size_t len),
								  void (*broadcast) (const char *dbname), bool may_sleep);

#endif
