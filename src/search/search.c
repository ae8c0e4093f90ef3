/*
 * search.c - compile and run a query in one call, for the callers that
 * hold a query string (the mount's /.search/, the CLI, the gRPC server).
 */
#include "common/mfs.h"
#include "search/search_i.h"

int search_run(struct catalog *c, const char *query, size_t offset,
	       size_t limit,
	       int (*cb)(void *ctx, const struct catalog_search_row *row),
	       void *ctx, struct catalog_search_info *info, char *err,
	       size_t errsize)
{
	struct search_plan *plan;
	int rc;

	rc = search_compile(query, &plan, err, errsize);
	if (rc)
		return rc;
	rc = catalog_search(c, search_plan_query(plan), offset, limit, cb, ctx,
			    info);
	if (rc && errsize)
		snprintf(err, errsize, "search failed: %s", strerror(-rc));
	search_plan_free(plan);
	return rc;
}
