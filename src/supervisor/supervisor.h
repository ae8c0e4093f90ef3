/*
 * supervisor.h - background tasks that are restarted when they fail.
 *
 * Owns: one thread per task and each task's state.  A task is a function
 * that runs until asked to stop and returns 0, or returns a negative errno
 * when it failed; the supervisor then restarts it after a back-off that
 * doubles from 1 s up to 60 s (reset after a minute of running), and
 * reports every task's state for GetStatus.  No fire-and-forget threads:
 * supervisor_stop asks every task to stop and joins it.
 *
 * Threads: add/stop on the daemon's main thread; status from any thread.
 */
#ifndef MFS_SUPERVISOR_SUPERVISOR_H
#define MFS_SUPERVISOR_SUPERVISOR_H

#include "common/mfs.h"

#include <stdatomic.h>

struct supervisor;

enum task_state {
	TASK_STARTING,
	TASK_RUNNING,
	TASK_BACKOFF,		/* failed; waiting to restart */
	TASK_STOPPED,
};

struct task_ops {
	/*
	 * Run until *stop is true (poll it, or be woken by ops->wake), then
	 * return 0; a negative errno means the task failed and is restarted.
	 * Called again (from the start) after each failure.
	 */
	int (*run)(void *arg, const atomic_bool *stop);
	/* Wake run() so that it sees *stop (may be NULL). */
	void (*wake)(void *arg);
};

struct task_status {
	char name[32];
	enum task_state state;
	unsigned restarts;
	char last_error[128];	/* "" if it never failed */
	int64_t since_unix_ms;	/* when it entered state */
};

int supervisor_new(struct supervisor **out);

/* Start a task on its own thread.  name is copied.  0 or -errno. */
int supervisor_add(struct supervisor *s, const char *name,
		   const struct task_ops *ops, void *arg);

/*
 * Record why a task is about to fail (the text shown in last_error);
 * call from the task's own thread before returning an error.
 */
void supervisor_task_error(struct supervisor *s, const char *name,
			   const char *fmt, ...) MFS_PRINTF(3, 4);

/* Copy at most max task states into out; returns the number of tasks. */
size_t supervisor_status(struct supervisor *s, struct task_status *out,
			 size_t max);

const char *task_state_name(enum task_state st);

/* Stop every task (in reverse order of adding) and join; NULL accepted. */
void supervisor_free(struct supervisor *s);

#endif
