/*
 * cmd_shutdown.c - musicfs shutdown [--graceful BOOL] [--timeout S].
 */
#include "common/mfs.h"
#include "common/str.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"

#include <getopt.h>

static const char shutdown_usage[] =
	"usage: musicfs shutdown [--graceful true|false] [--timeout S] "
	"[options]\n"
	"\n"
	"Stop the daemon and unmount.  Graceful (the default): new opens are\n"
	"refused, open files and running operations may finish for up to\n"
	"--timeout seconds (default 30), then the file system is unmounted.\n"
	"--graceful false unmounts at once.\n"
	"\n"
	"options:\n"
	"  -g, --graceful BOOL     true (default) or false\n"
	"  -t, --timeout S         longest drain, in seconds\n" CLI_CLIENT_HELP;

static int take_option(int c, const char *arg, void *ctx)
{
	Musicfs__V1__ShutdownRequest *req = ctx;
	long long v;

	if (c == 'g') {
		if (!strcmp(arg, "true") || !strcmp(arg, "yes") ||
		    !strcmp(arg, "1")) {
			req->immediate = false;
			return 0;
		}
		if (!strcmp(arg, "false") || !strcmp(arg, "no") ||
		    !strcmp(arg, "0")) {
			req->immediate = true;
			return 0;
		}
		cli_error("--graceful: '%s' is not true or false", arg);
		return CLI_EXIT_USAGE;
	}
	if (str_to_ll(arg, 1, 86400, &v)) {
		cli_error("--timeout: '%s' is not a number of seconds (1-86400)",
			  arg);
		return CLI_EXIT_USAGE;
	}
	req->timeout_seconds = (uint32_t)v;
	return 0;
}

static void print_reply(const ProtobufCMessage *m)
{
	const Musicfs__V1__ShutdownResponse *r =
		(const Musicfs__V1__ShutdownResponse *)m;

	if (r->open_handles)
		printf("shutting down: waiting for %" PRIu64 " open file(s)\n",
		       r->open_handles);
	else
		printf("shutting down\n");
}

int cmd_shutdown(int argc, char **argv, const struct cli_global *g)
{
	static const struct option longopts[] = {
		{ "graceful", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	Musicfs__V1__ShutdownRequest req = MUSICFS__V1__SHUTDOWN_REQUEST__INIT;
	struct cli_extra_opts extra = { longopts, "g:t:", take_option, &req };
	struct cli_common co = { 0 };
	int rc;

	(void)g;
	rc = cli_client_parse(argc, argv, shutdown_usage, &extra, &co);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return cli_client_call_once(&co, "/musicfs.v1.MusicFS/Shutdown",
				    &req.base,
				    &musicfs__v1__shutdown_response__descriptor,
				    print_reply);
}
