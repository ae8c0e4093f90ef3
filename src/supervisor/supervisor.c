/*
 * supervisor.c - one thread per task, restarted with back-off on failure
 * (see supervisor.h).
 *
 * The back-off sleep waits on a condition variable, so supervisor_free
 * never waits out a 60 s back-off: it sets stop, wakes the task (its own
 * wake hook, for a task blocked in poll) and the back-off waiter, and joins.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_DAEMON
#include "log/log.h"
#include "supervisor/supervisor.h"

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define BACKOFF_RESET_MS 60000	/* a run this long was healthy */

struct task {
	struct supervisor *sup;
	struct task_ops ops;
	void *arg;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct task_status st;	/* protected by sup->lock */
	struct task *next;
};

struct supervisor {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* back-off sleeps */
	struct task *tasks;	/* newest first */
	size_t n;
};

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *task_state_name(enum task_state st)
{
	switch (st) {
	case TASK_STARTING:
		return "starting";
	case TASK_RUNNING:
		return "running";
	case TASK_BACKOFF:
		return "backoff";
	case TASK_STOPPED:
		return "stopped";
	}
	return "?";
}

static void set_state(struct task *t, enum task_state st)
{
	pthread_mutex_lock(&t->sup->lock);
	t->st.state = st;
	t->st.since_unix_ms = now_ms(CLOCK_REALTIME);
	pthread_mutex_unlock(&t->sup->lock);
}

/* Sleep ms unless stop is asked first. */
static void backoff_sleep(struct task *t, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->sup->lock);
	while (!atomic_load(&t->stop) &&
	       pthread_cond_timedwait(&t->sup->cond, &t->sup->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&t->sup->lock);
}

static void *task_main(void *arg)
{
	struct task *t = arg;
	int64_t backoff = BACKOFF_FIRST_MS, started;
	int rc;

	while (!atomic_load(&t->stop)) {
		set_state(t, TASK_RUNNING);
		started = now_ms(CLOCK_MONOTONIC);
		rc = t->ops.run(t->arg, &t->stop);
		if (atomic_load(&t->stop) || rc >= 0)
			break;
		if (now_ms(CLOCK_MONOTONIC) - started >= BACKOFF_RESET_MS)
			backoff = BACKOFF_FIRST_MS;
		pthread_mutex_lock(&t->sup->lock);
		if (!t->st.last_error[0])
			snprintf(t->st.last_error, sizeof(t->st.last_error),
				 "%s", strerror(-rc));
		t->st.restarts++;
		pthread_mutex_unlock(&t->sup->lock);
		mfs_log(MFS_LOG_ERROR, "task '%s' failed (%s): restarting in "
				       "%.0f s",
			t->st.name, t->st.last_error, (double)backoff / 1000);
		set_state(t, TASK_BACKOFF);
		backoff_sleep(t, backoff);
		backoff = MFS_MIN(backoff * 2, BACKOFF_MAX_MS);
	}
	set_state(t, TASK_STOPPED);
	return NULL;
}

int supervisor_new(struct supervisor **out)
{
	struct supervisor *s = calloc(1, sizeof(*s));

	*out = s;
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return 0;
}

int supervisor_add(struct supervisor *s, const char *name,
		   const struct task_ops *ops, void *arg)
{
	struct task *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->sup = s;
	t->ops = *ops;
	t->arg = arg;
	snprintf(t->st.name, sizeof(t->st.name), "%s", name);
	t->st.state = TASK_STARTING;
	t->st.since_unix_ms = now_ms(CLOCK_REALTIME);
	pthread_mutex_lock(&s->lock);
	t->next = s->tasks;
	s->tasks = t;
	s->n++;
	pthread_mutex_unlock(&s->lock);
	rc = pthread_create(&t->thread, NULL, task_main, t);
	if (rc) {
		set_state(t, TASK_STOPPED);
		return mfs_error(-rc, "cannot start task '%s': %s", name,
				 strerror(rc));
	}
	t->started = true;
	return 0;
}

void supervisor_task_error(struct supervisor *s, const char *name,
			   const char *fmt, ...)
{
	struct task *t;
	va_list ap;

	pthread_mutex_lock(&s->lock);
	for (t = s->tasks; t; t = t->next) {
		if (strcmp(t->st.name, name))
			continue;
		va_start(ap, fmt);
		vsnprintf(t->st.last_error, sizeof(t->st.last_error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
}

size_t supervisor_status(struct supervisor *s, struct task_status *out,
			 size_t max)
{
	struct task *t;
	size_t i = 0, n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	/* oldest first: the order they were added in */
	for (t = s->tasks; t; t = t->next, i++)
		if (n - 1 - i < max)
			out[n - 1 - i] = t->st;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void supervisor_free(struct supervisor *s)
{
	struct task *t, *next;

	if (!s)
		return;
	/* newest first: later tasks may depend on earlier ones */
	for (t = s->tasks; t; t = t->next) {
		atomic_store(&t->stop, true);
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		if (t->ops.wake)
			t->ops.wake(t->arg);
		if (t->started)
			pthread_join(t->thread, NULL);
	}
	for (t = s->tasks; t; t = next) {
		next = t->next;
		free(t);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
