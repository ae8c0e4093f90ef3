/*
 * config.c - the MusicFS configuration schema (work in progress: the
 * schema is not implemented yet; these stubs only keep the build whole).
 */
#include "common/mfs.h"
#include "config/config.h"

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void config_release(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

int config_load_file(struct config *cfg, const char *path, char *err,
		     size_t errsize)
{
	(void)cfg;
	(void)path;
	snprintf(err, errsize, "not implemented");
	return -ENOSYS;
}

int config_load_text(struct config *cfg, const char *text, size_t len,
		     const char *filename, char *err, size_t errsize)
{
	(void)cfg;
	(void)text;
	(void)len;
	(void)filename;
	snprintf(err, errsize, "not implemented");
	return -ENOSYS;
}

int config_add_local_origin(struct config *cfg, const char *dir)
{
	(void)cfg;
	(void)dir;
	return -ENOSYS;
}

int config_validate(const struct config *cfg, char *err, size_t errsize)
{
	(void)cfg;
	snprintf(err, errsize, "not implemented");
	return -ENOSYS;
}

const char *config_origin_type_name(enum config_origin_type type)
{
	(void)type;
	return "unknown";
}
