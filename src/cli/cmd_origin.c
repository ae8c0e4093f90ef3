/*
 * cmd_origin.c - musicfs origin list | health ID | rescan ID.
 */
#include "common/mfs.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

static const char origin_usage[] =
	"usage: musicfs origin list [options]\n"
	"       musicfs origin health ID [options]\n"
	"       musicfs origin rescan ID [options]\n"
	"\n"
	"list    every configured origin with its health and file count\n"
	"health  the health checks of one origin\n"
	"rescan  walk one origin again now; shows progress until done (a\n"
	"        progress bar on a terminal, JSON lines with --json)\n"
	"\n"
	"options:\n" CLI_CLIENT_HELP;

static const char *health_name(Musicfs__V1__HealthState st)
{
	switch (st) {
	case MUSICFS__V1__HEALTH_STATE__HEALTH_STATE_HEALTHY:
		return "healthy";
	case MUSICFS__V1__HEALTH_STATE__HEALTH_STATE_UNHEALTHY:
		return "unhealthy";
	default:
		return "unknown";
	}
}

static void print_list(const ProtobufCMessage *m)
{
	const Musicfs__V1__ListOriginsResponse *r =
		(const Musicfs__V1__ListOriginsResponse *)m;
	size_t i;

	printf("%-16s %-6s %-4s %-10s %8s  %s\n", "ID", "TYPE", "PRIO",
	       "HEALTH", "FILES", "PATH");
	for (i = 0; i < r->n_origins; i++) {
		const Musicfs__V1__OriginInfo *o = r->origins[i];

		printf("%-16s %-6s %-4d %-10s %8" PRIu64 "  %s\n", o->id,
		       o->origin_type, o->priority,
		       !o->enabled   ? "disabled"
		       : !o->serving ? "unsupported"
				     : health_name(o->health),
		       o->file_count, o->path);
	}
}

static void print_time(const char *label, int64_t unix_ms)
{
	char buf[64];
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (!unix_ms) {
		printf("%-20s never\n", label);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-20s %s\n", label, buf);
}

static void print_health(const ProtobufCMessage *m)
{
	const Musicfs__V1__OriginHealth *h = (const Musicfs__V1__OriginHealth *)m;

	printf("%-20s %s\n", "origin", h->origin_id);
	printf("%-20s %s\n", "state", health_name(h->state));
	print_time("since", h->state_since_unix_ms);
	print_time("last check", h->last_check_unix_ms);
	printf("%-20s %.3f ms\n", "last latency",
	       (double)h->last_latency_us / 1000);
	printf("%-20s %u of %u before unhealthy\n", "failures in a row",
	       h->consecutive_failures, h->unhealthy_threshold);
	printf("%-20s %" PRIu64 " (%" PRIu64 " failed)\n", "checks",
	       h->checks_total, h->failures_total);
	if (*h->last_error)
		printf("%-20s %s\n", "last error", h->last_error);
}

/* ---- rescan ------------------------------------------------------------ */

struct rescan_view {
	bool json;
	bool bar;		/* a terminal: redraw one line */
	char error[256];
};

static void draw_bar(const Musicfs__V1__RescanProgress *p)
{
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	uint64_t total = p->files_known > p->files_seen ? p->files_known
							: p->files_seen;
	size_t fill = total ? (size_t)(p->files_seen * WIDTH / total) : 0;

	if (p->done)
		fill = WIDTH;
	memset(bar, '#', fill);
	memset(bar + fill, '.', WIDTH - fill);
	bar[WIDTH] = '\0';
	fprintf(stderr, "\rrescan %s [%s] %" PRIu64 "/%" PRIu64 " files, %" PRIu64
			" changed, %" PRIu64 " removed  ",
		p->origin_id, bar, p->files_seen, total, p->files_parsed,
		p->files_removed);
}

static int on_progress(const ProtobufCMessage *m, void *arg)
{
	const Musicfs__V1__RescanProgress *p =
		(const Musicfs__V1__RescanProgress *)m;
	struct rescan_view *v = arg;

	if (v->json)
		cli_print_json(m);
	else if (v->bar)
		draw_bar(p);
	if (!p->done)
		return 0;
	if (v->bar)
		fputc('\n', stderr);
	if (*p->error)
		snprintf(v->error, sizeof(v->error), "%s", p->error);
	else if (!v->json)
		printf("rescanned '%s' in %.1f s: %" PRIu64 " files seen, %" PRIu64
		       " new or changed, %" PRIu64 " removed\n",
		       p->origin_id, (double)p->elapsed_ms / 1000, p->files_seen,
		       p->files_parsed, p->files_removed);
	return 1;
}

static int rescan(const struct cli_common *co, const char *id)
{
	Musicfs__V1__RescanOriginRequest req =
		MUSICFS__V1__RESCAN_ORIGIN_REQUEST__INIT;
	struct rescan_view v = { .json = co->json,
				 .bar = !co->json && isatty(STDERR_FILENO) };
	struct cli_client *c;
	int rc;

	req.origin_id = (char *)id;
	rc = cli_client_open(&co->target, &c);
	if (rc)
		return rc;
	rc = cli_client_stream(c, "/musicfs.v1.MusicFS/RescanOrigin", &req.base,
			       &musicfs__v1__rescan_progress__descriptor,
			       on_progress, &v);
	cli_client_close(c);
	if (!rc && *v.error) {
		cli_error("rescan of '%s' failed: %s", id, v.error);
		rc = CLI_EXIT_FAILURE;
	}
	return rc;
}

int cmd_origin(int argc, char **argv, const struct cli_global *g)
{
	Musicfs__V1__ListOriginsRequest list = MUSICFS__V1__LIST_ORIGINS_REQUEST__INIT;
	Musicfs__V1__GetOriginHealthRequest health =
		MUSICFS__V1__GET_ORIGIN_HEALTH_REQUEST__INIT;
	struct cli_common co = { 0 };
	const char *action, *id = NULL;
	int rc;

	(void)g;
	rc = cli_client_parse(argc, argv, origin_usage, NULL, &co);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	action = optind < argc ? argv[optind++] : NULL;
	/* options may follow the action and its argument */
	if (action && strcmp(action, "list") && optind < argc &&
	    argv[optind][0] != '-')
		id = argv[optind++];
	rc = cli_client_parse(argc, argv, origin_usage, NULL, &co);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	if (!action || optind < argc ||
	    (strcmp(action, "list") && !id)) {
		if (action && optind < argc)
			cli_error("unexpected argument '%s'", argv[optind]);
		fputs(origin_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(action, "list"))
		return cli_client_call_once(&co, "/musicfs.v1.MusicFS/ListOrigins",
					    &list.base,
					    &musicfs__v1__list_origins_response__descriptor,
					    print_list);
	if (!strcmp(action, "health")) {
		health.origin_id = (char *)id;
		return cli_client_call_once(&co,
					    "/musicfs.v1.MusicFS/GetOriginHealth",
					    &health.base,
					    &musicfs__v1__origin_health__descriptor,
					    print_health);
	}
	if (!strcmp(action, "rescan"))
		return rescan(&co, id);
	cli_error("'%s' is not an origin action (list, health, rescan)",
		  action);
	return CLI_EXIT_USAGE;
}
