/*
 * pool.h
 *     The HTTP endpoints' database connections (pool.c): per database, up
 *     to mana_sync.http_pool_size libpq connections and a bounded queue of
 *     jobs, driven by the loop; a job's callback gets its outcome.
 */
#ifndef MANA_POOL_H
#define MANA_POOL_H

#include <stdbool.h>

extern int	mana_http_pool_size;
extern int	mana_statement_timeout_ms;
extern void mana_pool_define_settings(void);

typedef struct mana_pool_result
{
	bool		ok;
	const char *value;			/* first column of the first row, or NULL */
	const char *values[8];		/* the first row's columns (NULL: SQL NULL or none) */
	const char *sqlstate;		/* on error */
	const char *message;
	const char *detail;
} mana_pool_result;

typedef struct mana_pool_job
{
	struct mana_pool_job *next;
	char	   *sql;
	int			nparams;
	char	   *params[8];		/* malloc'd; NULL = SQL NULL */
	/* called once with the outcome, unless arg was cleared (client gone) */
	void		(*done) (void *arg, const mana_pool_result *r);
	void	   *arg;
	int			retries;		/* times run again after a lost connection */
} mana_pool_job;

/* queue a job for dbname's pool; -1 when its queue is full */
extern int	mana_pool_submit(const char *dbname, mana_pool_job *job);
extern void mana_pool_job_free(mana_pool_job *job);
/* from the loop: start connections, dispatch, retry; a reload; the end */
extern void mana_pool_poll(void);
extern void mana_pool_reload(void);
extern void mana_pool_shutdown(void);

#endif
