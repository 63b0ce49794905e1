/*
 * ring.h
 *     The commit_hook intake, the worker's side (ring.c).
 */
#ifndef MANA_RING_H
#define MANA_RING_H

/* watch the ring's eventfd (after the loop exists) */
extern void mana_ring_start(void);
/* from the loop, after every wake-up: hand the ring's hints to the fan-out */
extern void mana_ring_drain(void);

#endif
