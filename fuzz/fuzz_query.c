/*
 * fuzz_query.c - libFuzzer target for the search query compiler.
 *
 * Each input is made a C string (the query API takes one: a NUL inside
 * the input cuts it there, as it would for any caller) and compiled.  A
 * success must give a plan whose statement text never contains a byte of
 * the query that the compiler did not write itself: every user string
 * goes into parameters, so the SQL is built from a fixed alphabet.  An
 * error must leave a message.  Nothing may crash, leak or recurse
 * without bound (ASan/UBSan).
 *
 * Build: CC=clang meson setup build-fuzz -Dfuzzers=true
 *        -Db_sanitize=address,undefined -Db_lundef=false
 * Seeds: tests/data/search; dictionary: fuzz/fuzz_query.dict.
 */
#include "common/mfs.h"
#include "log/log.h"
#include "search/search.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mfs_log_set_filter("error", NULL, 0);
	return 0;
}

/* Only what compile.c writes: no quote-free user text, no comment. */
static void check_sql(const char *sql)
{
	const char *p;

	if (!sql || strstr(sql, "--") || strstr(sql, "/*"))
		__builtin_trap();
	for (p = sql; *p; p++)
		if ((unsigned char)*p >= 0x80)
			__builtin_trap();
}

static void check_plan(const struct search_plan *plan)
{
	const struct catalog_search_query *q = search_plan_query(plan);
	size_t i;

	if (!q->key || !*q->key || q->key != search_plan_key(plan))
		__builtin_trap();
	check_sql(q->hits_sql);
	check_sql(q->count_sql);
	for (i = 0; i < q->n_params; i++)
		if (q->params[i].text && !strlen(q->params[i].text))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct search_plan *plan = NULL;
	char *query = malloc(size + 1);
	char err[128];
	int rc;

	if (!query)
		return 0;
	memcpy(query, data, size);
	query[size] = 0;
	err[0] = 0;
	rc = search_compile(query, &plan, err, sizeof(err));
	if (rc == 0)
		check_plan(plan);
	else if ((rc != -EINVAL && rc != -ENOMEM) || plan || !err[0])
		__builtin_trap();
	search_plan_free(plan);
	free(query);
	return 0;
}
