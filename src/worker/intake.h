/*
 * intake.h
 *     The databases the worker serves and their NOTIFY intake (intake.c):
 *     it finds every database with the extension, reads its registry
 *     (which apps it serves), and LISTENs on mana_sync there; hints go to
 *     the fan-out.  The commit_hook intake (ring.c) uses its registry too.
 */
#ifndef MANA_INTAKE_H
#define MANA_INTAKE_H

extern void mana_intake_start(void);
/* from the loop: connection state machines, catalog scans */
extern void mana_intake_poll(void);
extern void mana_intake_shutdown(void);

/* the database that registered app, or NULL */
extern const char *mana_intake_app_database(const char *app);
/* hints were lost for a database (NULL: all): every client of its apps pulls */
extern void mana_intake_broadcast_db(const char *dbname);

#endif
