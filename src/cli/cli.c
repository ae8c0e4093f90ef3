/*
 * cli.c - global options, subcommand dispatch and the top-level help.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "log/log.h"
#include "cli/cli_i.h"

#include <getopt.h>

static const char usage_text[] =
	"usage: musicfs [-l LEVEL] <command> [<args>]\n"
	"\n"
	"MusicFS shows a music library as a read-only file system organized\n"
	"by its tags: /Artist/Album (Year) [FLAC]/01 - Title.flac\n"
	"\n"
	"commands:\n"
	"  mount     mount a library (musicfs mount --help for the options)\n"
	"  probe     print what MusicFS reads from audio files (tags,\n"
	"            picture, byte layout); no daemon needed\n"
	"  status    what the running daemon is doing\n"
	"  origin    list origins, their health; rescan one\n"
	"  events    follow the daemon's events\n"
	"  shutdown  stop the daemon (gracefully by default) and unmount\n"
	"  cache     chunk cache: stats, clear [ORIGIN], prefetch PATH...\n"
	"  search    search the library: musicfs search artist:metallica\n"
	"  collection  smart collections: list, show, create, delete\n"
	"  help      show this help, or a command's help: musicfs help mount\n"
	"\n"
	"options:\n"
	"  -l, --log-level LEVEL  error, warn, info, debug, trace, or per\n"
	"                         module: scan=debug,info (env MUSICFS_LOG)\n"
	"  -V, --version          print the version\n"
	"  -h, --help             show this help\n";

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv, const struct cli_global *g);
};

static const struct cli_command commands[] = {
	{ "mount", cmd_mount },
	{ "probe", cmd_probe },
	{ "status", cmd_status },
	{ "origin", cmd_origin },
	{ "events", cmd_events },
	{ "shutdown", cmd_shutdown },
	{ "cache", cmd_cache },
	{ "search", cmd_search },
	{ "collection", cmd_collection },
};

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("musicfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_apply_log_filters(const char *const *specs, size_t n)
{
	char err[256];
	size_t i;

	for (i = 0; i < n; i++) {
		if (str_empty(specs[i]))
			continue;
		if (mfs_log_set_filter(specs[i], err, sizeof(err))) {
			cli_error("%s", err);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

static int run_command(const char *name, int argc, char **argv,
		       const struct cli_global *g)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].run(argc, argv, g);
	cli_error("'%s' is not a musicfs command (see musicfs --help)", name);
	return CLI_EXIT_USAGE;
}

/* "musicfs help [CMD]" shows the command's own --help. */
static int cmd_help(int argc, char **argv, const struct cli_global *g)
{
	char *help_argv[] = { argv[0], (char *)"--help", NULL };

	if (argc < 2) {
		fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	return run_command(argv[1], 2, help_argv, g);
}

int cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_global g = { 0 };
	int c;

	/* stop at the first non-option: the subcommand parses the rest */
	while ((c = getopt_long(argc, argv, "+l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			g.log_level = optarg;
			break;
		case 'V':
			printf("musicfs %s\n", MUSICFS_VERSION);
			return CLI_EXIT_OK;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* reset getopt for the subcommand */
	if (!strcmp(argv[0], "help"))
		return cmd_help(argc, argv, &g);
	return run_command(argv[0], argc, argv, &g);
}
