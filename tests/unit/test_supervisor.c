/*
 * test_supervisor.c - supervised tasks: a task that fails is restarted
 * (after its back-off) with its error and restart count reported; a task
 * that runs is stopped and joined; a task in back-off stops at once.
 */
#include "common/mfs.h"
#include "supervisor/supervisor.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

struct fake_task {
	atomic_int runs;
	int fail_first;		/* fail this many runs, then run until stopped */
	struct supervisor *sup;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken;
};

static int fake_run(void *arg, const atomic_bool *stop)
{
	struct fake_task *t = arg;
	int n = atomic_fetch_add(&t->runs, 1) + 1;

	if (n <= t->fail_first) {
		supervisor_task_error(t->sup, "fake", "run %d failed", n);
		return -EIO;
	}
	pthread_mutex_lock(&t->lock);
	while (!atomic_load(stop) && !t->woken)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void fake_wake(void *arg)
{
	struct fake_task *t = arg;

	pthread_mutex_lock(&t->lock);
	t->woken = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static const struct task_ops fake_ops = { fake_run, fake_wake };

static void init_task(struct fake_task *t, int fail_first)
{
	memset(t, 0, sizeof(*t));
	t->fail_first = fail_first;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
}

static struct task_status status_of(struct supervisor *s)
{
	struct task_status st[4];

	assert_int_equal(supervisor_status(s, st, 4), 1);
	return st[0];
}

/* Poll until the task's state is want (or 5 s). */
static struct task_status wait_state(struct supervisor *s, enum task_state want)
{
	struct task_status st;
	int i;

	for (i = 0; i < 500; i++) {
		st = status_of(s);
		if (st.state == want)
			return st;
		usleep(10000);
	}
	fail_msg("task never reached state %s", task_state_name(want));
	return st;
}

static void test_running_task_stops(void **state)
{
	struct supervisor *s;
	struct fake_task t;
	struct task_status st;

	(void)state;
	init_task(&t, 0);
	assert_int_equal(supervisor_new(&s), 0);
	t.sup = s;
	assert_int_equal(supervisor_add(s, "fake", &fake_ops, &t), 0);
	st = wait_state(s, TASK_RUNNING);
	assert_string_equal(st.name, "fake");
	assert_int_equal(st.restarts, 0);
	assert_string_equal(st.last_error, "");
	supervisor_free(s);	/* wakes, stops and joins */
	assert_int_equal(atomic_load(&t.runs), 1);
}

static void test_failed_task_restarts_after_backoff(void **state)
{
	struct supervisor *s;
	struct fake_task t;
	struct task_status st;
	struct timespec a, b;

	(void)state;
	init_task(&t, 1);
	assert_int_equal(supervisor_new(&s), 0);
	t.sup = s;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(supervisor_add(s, "fake", &fake_ops, &t), 0);
	st = wait_state(s, TASK_BACKOFF);
	assert_int_equal(st.restarts, 1);
	assert_string_equal(st.last_error, "run 1 failed");
	/* the second run starts after the first back-off (1 s) */
	while (atomic_load(&t.runs) < 2)
		usleep(10000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000 +
			    (b.tv_nsec - a.tv_nsec) / 1000000 >= 900);
	st = wait_state(s, TASK_RUNNING);
	assert_int_equal(st.restarts, 1);
	assert_string_equal(st.last_error, "run 1 failed");	/* kept */
	supervisor_free(s);
}

static void test_stop_during_backoff_is_prompt(void **state)
{
	struct supervisor *s;
	struct fake_task t;
	struct timespec a, b;

	(void)state;
	init_task(&t, 1000);	/* always fails */
	assert_int_equal(supervisor_new(&s), 0);
	t.sup = s;
	assert_int_equal(supervisor_add(s, "fake", &fake_ops, &t), 0);
	wait_state(s, TASK_BACKOFF);
	clock_gettime(CLOCK_MONOTONIC, &a);
	supervisor_free(s);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000 +
			    (b.tv_nsec - a.tv_nsec) / 1000000 < 500);
	assert_int_equal(atomic_load(&t.runs), 1);
}

static void test_error_without_message_uses_errno(void **state)
{
	struct supervisor *s;
	struct fake_task t;
	struct task_status st;

	(void)state;
	init_task(&t, 1);
	assert_int_equal(supervisor_new(&s), 0);
	t.sup = s;
	assert_int_equal(supervisor_add(s, "other", &fake_ops, &t), 0);
	/* the task reports under "fake", which does not exist: no message */
	st = wait_state(s, TASK_BACKOFF);
	assert_string_equal(st.name, "other");
	assert_string_equal(st.last_error, strerror(EIO));
	supervisor_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running_task_stops),
		cmocka_unit_test(test_failed_task_restarts_after_backoff),
		cmocka_unit_test(test_stop_during_backoff_is_prompt),
		cmocka_unit_test(test_error_without_message_uses_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
