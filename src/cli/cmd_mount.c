/*
 * cmd_mount.c - musicfs mount: configuration in, a live mount out.
 *
 * Precedence, lowest first: built-in defaults, the config file (--config,
 * else $XDG_CONFIG_HOME/musicfs/config.toml if it exists), the
 * environment (MUSICFS_LOG), the command-line flags.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "log/log.h"
#include "cli/cli_i.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "tree/tree.h"

#include <getopt.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char mount_usage[] =
	"usage: musicfs mount [MOUNTPOINT] [options]\n"
	"\n"
	"Mount the library of the origins on MOUNTPOINT (or the config's\n"
	"mount_point).  Without -f, returns once the mount is live and leaves\n"
	"the daemon running in the background; unmount with\n"
	"fusermount3 -u MOUNTPOINT.\n"
	"\n"
	"options:\n"
	"  -o, --origin DIR        a local folder of music (repeatable; NFS and\n"
	"                          SMB shares mounted by the OS work too)\n"
	"  -c, --config FILE       TOML config (see config.example.toml)\n"
	"  -C, --cache-dir DIR     catalog, lock and pid file location\n"
	"                          (default ~/.cache/musicfs, root:\n"
	"                          /var/cache/musicfs)\n"
	"  -t, --template T        path template (default\n"
	"                          '" TREE_DEFAULT_TEMPLATE "')\n"
	"  -x, --xattrs            serve tags as user.musicfs.* attributes\n"
	"  -p, --grpc-port PORT    loopback TCP port of the control API\n"
	"                          (default 50052, 0: Unix socket only)\n"
	"  -m, --metrics-port PORT GET /metrics on 127.0.0.1 (default 50053,\n"
	"                          0: none)\n"
	"  -f, --foreground        stay in the foreground (systemd, tests)\n"
	"  -l, --log-level LEVEL   error, warn, info, debug, trace, or per\n"
	"                          module: scan=debug,info\n"
	"  -d, --debug-fuse        trace every FUSE request (implies -f)\n"
	"  -h, --help              show this help\n";

struct mount_flags {
	const char *config;
	const char *cache_dir;
	const char *template_text;
	const char *log_level;
	const char *mountpoint;
	const char **origins;	/* --origin DIRs, in order */
	size_t n_origins;
	bool xattrs;
	const char *grpc_port;
	const char *metrics_port;
	struct daemon_options daemon;
};

static int parse_flags(int argc, char **argv, struct mount_flags *fl)
{
	static const struct option opts[] = {
		{ "origin", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "template", required_argument, NULL, 't' },
		{ "xattrs", no_argument, NULL, 'x' },
		{ "grpc-port", required_argument, NULL, 'p' },
		{ "metrics-port", required_argument, NULL, 'm' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "debug-fuse", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:c:C:t:xp:m:fl:dh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			fl->origins[fl->n_origins++] = optarg;
			break;
		case 'c': fl->config = optarg; break;
		case 'C': fl->cache_dir = optarg; break;
		case 't': fl->template_text = optarg; break;
		case 'x': fl->xattrs = true; break;
		case 'p': fl->grpc_port = optarg; break;
		case 'm': fl->metrics_port = optarg; break;
		case 'f': fl->daemon.foreground = true; break;
		case 'l': fl->log_level = optarg; break;
		case 'd':
			fl->daemon.debug_fuse = true;
			fl->daemon.foreground = true;
			break;
		case 'h':
			fputs(mount_usage, stdout);
			return -1;
		default:
			fputs(mount_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		fl->mountpoint = argv[optind++];
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Replace *field with a copy of value. */
static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int apply_log_level(const struct config *cfg, const char *flag,
			   const char *global_flag)
{
	const char *specs[] = { cfg->logging.level, getenv("MUSICFS_LOG"),
				global_flag, flag };

	return cli_apply_log_filters(specs, MFS_ARRAY_SIZE(specs));
}

static int parse_port(const char *flag, const char *text, int *out)
{
	long long v;

	if (str_to_ll(text, 0, 65535, &v)) {
		cli_error("%s: '%s' is not a port number (0-65535)", flag, text);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

/* Flags override the file; --origin folders are added to its origins. */
static int apply_flags(struct config *cfg, const struct mount_flags *fl)
{
	size_t i;

	for (i = 0; i < fl->n_origins; i++)
		if (config_add_local_origin(cfg, fl->origins[i]))
			return CLI_EXIT_FAILURE;
	if (fl->mountpoint && set_string(&cfg->mount_point, fl->mountpoint))
		return CLI_EXIT_FAILURE;
	if (fl->cache_dir && set_string(&cfg->cache_dir, fl->cache_dir))
		return CLI_EXIT_FAILURE;
	if (fl->template_text &&
	    set_string(&cfg->path_template, fl->template_text))
		return CLI_EXIT_FAILURE;
	if (fl->xattrs)
		cfg->tag_xattrs = true;
	if (fl->grpc_port && parse_port("--grpc-port", fl->grpc_port,
					&cfg->grpc_port))
		return CLI_EXIT_USAGE;
	if (fl->metrics_port && parse_port("--metrics-port", fl->metrics_port,
					   &cfg->metrics_port))
		return CLI_EXIT_USAGE;
	return 0;
}

static int check_mount(const struct config *cfg)
{
	struct stat st;
	char err[512];

	if (config_validate(cfg, err, sizeof(err))) {
		cli_error("%s", err);
		return CLI_EXIT_USAGE;
	}
	if (tree_template_check(cfg->path_template, err, sizeof(err))) {
		cli_error("path_template: %s", err);
		return CLI_EXIT_USAGE;
	}
	if (stat(cfg->mount_point, &st) && errno == ENOTCONN) {
		/*
		 * A musicfs that crashed (or was killed by the watchdog) left
		 * its mount behind, and every access fails: detach it so that
		 * a restart (systemd's Restart=on-failure) can mount again.
		 */
		if (umount2(cfg->mount_point, MNT_DETACH))
			cli_error("'%s' is a dead mount (ENOTCONN) and cannot be "
				  "detached (%s): fusermount3 -uz %s",
				  cfg->mount_point, strerror(errno),
				  cfg->mount_point);
		else
			cli_error("warning: detached the dead mount left on '%s' "
				  "by an earlier musicfs",
				  cfg->mount_point);
	}
	if (stat(cfg->mount_point, &st) || !S_ISDIR(st.st_mode)) {
		cli_error("mount point '%s' is not a folder (create it first)",
			  cfg->mount_point);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int cmd_mount(int argc, char **argv, const struct cli_global *g)
{
	struct mount_flags fl = { 0 };
	struct config cfg;
	int rc;

	config_init(&cfg);
	/* no more --origin flags than arguments */
	fl.origins = calloc((size_t)argc, sizeof(*fl.origins));
	rc = fl.origins ? parse_flags(argc, argv, &fl) : CLI_EXIT_FAILURE;
	if (!rc)
		rc = cli_load_config(&cfg, fl.config);
	if (!rc)
		rc = apply_flags(&cfg, &fl);
	if (!rc)
		rc = apply_log_level(&cfg, fl.log_level, g->log_level);
	fl.daemon.log_overrides[0] = getenv("MUSICFS_LOG");
	fl.daemon.log_overrides[1] = g->log_level;
	fl.daemon.log_overrides[2] = fl.log_level;
	if (!rc && fl.daemon.debug_fuse)
		mfs_log_levels[MFS_LOGM_FUSE] = MFS_LOG_DEBUG;
	if (!rc)
		rc = check_mount(&cfg);
	if (!rc)
		rc = daemon_run(&cfg, &fl.daemon);
	config_release(&cfg);
	free(fl.origins);
	return rc < 0 ? CLI_EXIT_OK : rc;
}
