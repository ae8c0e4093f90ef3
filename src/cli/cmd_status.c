/*
 * cmd_status.c - musicfs status: what the running daemon is doing.
 */
#include "common/mfs.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"

#include <getopt.h>

static const char status_usage[] =
	"usage: musicfs status [options]\n"
	"\n"
	"Show the running daemon: version, uptime, mount, catalog size, open\n"
	"files and the state of its background tasks.\n"
	"\n"
	"options:\n" CLI_CLIENT_HELP;

static const char *task_state(Musicfs__V1__TaskState st)
{
	switch (st) {
	case MUSICFS__V1__TASK_STATE__TASK_STATE_STARTING:
		return "starting";
	case MUSICFS__V1__TASK_STATE__TASK_STATE_RUNNING:
		return "running";
	case MUSICFS__V1__TASK_STATE__TASK_STATE_BACKOFF:
		return "restarting";
	case MUSICFS__V1__TASK_STATE__TASK_STATE_STOPPED:
		return "stopped";
	default:
		return "?";
	}
}

static void print_uptime(int64_t s)
{
	if (s >= 86400)
		printf("%" PRId64 "d %02" PRId64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		printf("%" PRId64 "h %02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		printf("%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
}

static void print_status(const ProtobufCMessage *m)
{
	const Musicfs__V1__GetStatusResponse *r =
		(const Musicfs__V1__GetStatusResponse *)m;
	size_t i;

	printf("musicfs %s, pid %" PRId64 ", up ", r->version, r->pid);
	print_uptime(r->uptime_seconds);
	printf("\nmounted on %s%s\n", r->mount_point,
	       r->draining ? " (shutting down: draining)" : "");
	printf("cache dir  %s\n", r->cache_dir);
	printf("tracks     %" PRIu64 "%s\n", r->tracks,
	       r->initial_scan_done ? "" : " (first scan still running)");
	printf("open files %" PRIu64 ", operations in flight %" PRIu64 "\n",
	       r->open_handles, r->in_flight_operations);
	printf("tasks:\n");
	for (i = 0; i < r->n_tasks; i++) {
		const Musicfs__V1__TaskStatus *t = r->tasks[i];

		printf("  %-10s %-10s restarts %u%s%s\n", t->name,
		       task_state(t->state), t->restarts,
		       *t->last_error ? ", last error: " : "", t->last_error);
	}
}

int cmd_status(int argc, char **argv, const struct cli_global *g)
{
	Musicfs__V1__GetStatusRequest req = MUSICFS__V1__GET_STATUS_REQUEST__INIT;
	struct cli_common co = { 0 };
	int rc;

	(void)g;
	rc = cli_client_parse(argc, argv, status_usage, NULL, &co);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return cli_client_call_once(&co, "/musicfs.v1.MusicFS/GetStatus",
				    &req.base,
				    &musicfs__v1__get_status_response__descriptor,
				    print_status);
}
