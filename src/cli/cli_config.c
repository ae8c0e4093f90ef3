/*
 * cli_config.c - the config file every command reads: --config FILE, else
 * $XDG_CONFIG_HOME/musicfs/config.toml (or ~/.config/...) if it exists.
 * mount takes its settings from it; the client commands, the cache dir
 * whose socket they talk to.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "cli/cli_i.h"
#include "config/config.h"

#include <unistd.h>

/* The default config file if it exists, else NULL.  Caller frees. */
static char *default_config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;

	if (xdg && *xdg)
		path = str_printf("%s/musicfs/config.toml", xdg);
	else if (home && *home)
		path = str_printf("%s/.config/musicfs/config.toml", home);
	if (path && access(path, R_OK)) {
		free(path);
		path = NULL;
	}
	return path;
}

int cli_load_config(struct config *cfg, const char *explicit_path)
{
	char *path = explicit_path ? strdup(explicit_path) : default_config_path();
	char err[512];
	int rc;

	if (!path)
		return 0;
	rc = config_load_file(cfg, path, err, sizeof(err));
	if (!rc) {
		/* the daemon reads it again on SIGHUP */
		free(cfg->config_path);
		cfg->config_path = path;
		path = NULL;
	}
	free(path);
	if (rc) {
		cli_error("%s", err);
		return CLI_EXIT_USAGE;
	}
	return 0;
}
