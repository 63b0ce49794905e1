/*
 * trigger.h
 *     The row trigger of synced tables (trigger.c).
 */
#ifndef MANA_TRIGGER_H
#define MANA_TRIGGER_H

/* mana_sync.hard_delete */
extern bool mana_hard_delete;

/* the table mana_apply_changeset is writing (its timestamps are kept), or 0 */
extern Oid	mana_apply_relid;

/* the settings */
extern void mana_trigger_init(void);

#endif
