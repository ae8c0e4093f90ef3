/*
 * cmd_cache.c - musicfs cache stats | clear [ORIGIN] | prefetch PATH...
 */
#include "common/mfs.h"
#include "common/str.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"

#include <getopt.h>
#include <unistd.h>

static const char cache_usage[] =
	"usage: musicfs cache stats [options]\n"
	"       musicfs cache clear [ORIGIN] [--dry-run] [options]\n"
	"       musicfs cache prefetch PATH... [options]\n"
	"\n"
	"stats     hit rate, size, chunks, dedup ratio, per origin\n"
	"clear     forget cached content: all, or one origin's (--dry-run:\n"
	"          only say how much would go)\n"
	"prefetch  read files, or every track under folders, into the cache\n"
	"          (paths in the mount, absolute or from its root); a\n"
	"          progress bar on a terminal\n"
	"\n"
	"options:\n"
	"  -n, --dry-run           clear: change nothing\n" CLI_CLIENT_HELP;

static void human(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < MFS_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void print_stats(const ProtobufCMessage *m)
{
	const Musicfs__V1__CacheStats *s = (const Musicfs__V1__CacheStats *)m;
	char a[32], b[32], c[32];
	size_t i;

	human(s->stored_bytes, a, sizeof(a));
	human(s->file_bytes, b, sizeof(b));
	if (s->budget_bytes)
		human(s->budget_bytes, c, sizeof(c));
	else
		snprintf(c, sizeof(c), "no limit");
	printf("size       %s on disk in %" PRIu64 " chunks (budget %s)\n", a,
	       s->chunks, c);
	printf("serves     %s of files (dedup ratio %.2f)\n", b,
	       s->dedup_ratio);
	printf("hit rate   %.1f%% (%" PRIu64 " windows from the cache, %" PRIu64
	       " from origins, since start)\n",
	       s->hit_rate * 100, s->hits, s->misses);
	printf("evicted    %" PRIu64 " chunks; %" PRIu64
	       " bad chunks dropped and refetched\n",
	       s->evicted_chunks, s->bad_chunks);
	for (i = 0; i < s->n_origins; i++) {
		human(s->origins[i]->bytes, a, sizeof(a));
		printf("  %-16s %s in %" PRIu64 " chunks\n",
		       s->origins[i]->origin_id, a, s->origins[i]->chunks);
	}
}

static void print_cleared(const ProtobufCMessage *m)
{
	const Musicfs__V1__ClearCacheResponse *r =
		(const Musicfs__V1__ClearCacheResponse *)m;
	char a[32];

	human(r->bytes, a, sizeof(a));
	printf("%s %" PRIu64 " chunks (%s)\n",
	       r->dry_run ? "would free" : "freed", r->chunks, a);
}

/* ---- prefetch ------------------------------------------------------------- */

struct prefetch_view {
	bool json;
	bool bar;
	char error[256];
};

static int on_progress(const ProtobufCMessage *m, void *arg)
{
	const Musicfs__V1__PrefetchProgress *p =
		(const Musicfs__V1__PrefetchProgress *)m;
	struct prefetch_view *v = arg;
	char a[32], b[32];

	if (v->json)
		cli_print_json(m);
	human(p->bytes_done, a, sizeof(a));
	human(p->bytes_total, b, sizeof(b));
	if (v->bar)
		fprintf(stderr, "\rprefetch: %" PRIu64 "/%" PRIu64 " files, %s of "
				"%s  ",
			p->files_done, p->files_total, a, b);
	if (!p->done)
		return 0;
	if (v->bar)
		fputc('\n', stderr);
	if (!v->json)
		printf("prefetched %" PRIu64 " files (%s)%s%" PRIu64
		       " skipped (origin not cached), %" PRIu64 " failed\n",
		       p->files_done - p->files_skipped - p->files_failed, a,
		       ", ", p->files_skipped, p->files_failed);
	if (*p->error)
		snprintf(v->error, sizeof(v->error), "%s", p->error);
	return 1;
}

/* A path of the mount: strip the mount point from an absolute path in it. */
static char *mount_relative(const char *path, const char *mount_point)
{
	size_t n = strlen(mount_point);

	while (n > 1 && mount_point[n - 1] == '/')
		n--;
	if (!strncmp(path, mount_point, n) && (path[n] == '/' || !path[n]))
		return strdup(path[n] ? path + n : "/");
	return strdup(path);
}

static int prefetch(const struct cli_common *co, char **paths, size_t n)
{
	Musicfs__V1__GetStatusRequest sreq = MUSICFS__V1__GET_STATUS_REQUEST__INIT;
	Musicfs__V1__PrefetchRequest req = MUSICFS__V1__PREFETCH_REQUEST__INIT;
	struct prefetch_view v = { .json = co->json,
				   .bar = !co->json && isatty(STDERR_FILENO) };
	ProtobufCMessage *status = NULL;
	struct cli_client *c;
	size_t i;
	int rc;

	rc = cli_client_open(&co->target, &c);
	if (rc)
		return rc;
	rc = cli_client_unary(c, "/musicfs.v1.MusicFS/GetStatus", &sreq.base,
			      &musicfs__v1__get_status_response__descriptor,
			      &status);
	req.paths = calloc(n, sizeof(*req.paths));
	for (i = 0; !rc && req.paths && i < n; i++)
		req.paths[i] = mount_relative(
			paths[i],
			((Musicfs__V1__GetStatusResponse *)status)->mount_point);
	req.n_paths = n;
	if (!rc)
		rc = cli_client_stream(c, "/musicfs.v1.MusicFS/Prefetch",
				       &req.base,
				       &musicfs__v1__prefetch_progress__descriptor,
				       on_progress, &v);
	for (i = 0; req.paths && i < n; i++)
		free(req.paths[i]);
	free(req.paths);
	if (status)
		protobuf_c_message_free_unpacked(status, NULL);
	cli_client_close(c);
	if (!rc && *v.error) {
		cli_error("%s", v.error);
		rc = CLI_EXIT_FAILURE;
	}
	return rc;
}

static int take_option(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	*(bool *)ctx = true;	/* --dry-run */
	return 0;
}

int cmd_cache(int argc, char **argv, const struct cli_global *g)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	Musicfs__V1__GetCacheStatsRequest sreq =
		MUSICFS__V1__GET_CACHE_STATS_REQUEST__INIT;
	Musicfs__V1__ClearCacheRequest creq = MUSICFS__V1__CLEAR_CACHE_REQUEST__INIT;
	bool dry_run = false;
	struct cli_extra_opts extra = { longopts, "n", take_option, &dry_run };
	struct cli_common co = { 0 };
	char **args;
	size_t n = 0;
	const char *action;
	int rc;

	(void)g;
	args = calloc((size_t)argc, sizeof(*args));
	if (!args)
		return CLI_EXIT_FAILURE;
	/* options may come anywhere: gather the operands between them */
	while (optind < argc) {
		rc = cli_client_parse(argc, argv, cache_usage, &extra, &co);
		if (rc) {
			free(args);
			return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
		}
		if (optind < argc)
			args[n++] = argv[optind++];
	}
	action = n ? args[0] : "";
	if (!strcmp(action, "stats") && n == 1)
		rc = cli_client_call_once(&co, "/musicfs.v1.MusicFS/GetCacheStats",
					  &sreq.base,
					  &musicfs__v1__cache_stats__descriptor,
					  print_stats);
	else if (!strcmp(action, "clear") && n <= 2) {
		creq.origin_id = n == 2 ? args[1] : (char *)"";
		creq.dry_run = dry_run;
		rc = cli_client_call_once(&co, "/musicfs.v1.MusicFS/ClearCache",
					  &creq.base,
					  &musicfs__v1__clear_cache_response__descriptor,
					  print_cleared);
	} else if (!strcmp(action, "prefetch") && n >= 2) {
		rc = prefetch(&co, args + 1, n - 1);
	} else {
		fputs(cache_usage, stderr);
		rc = CLI_EXIT_USAGE;
	}
	free(args);
	return rc;
}
