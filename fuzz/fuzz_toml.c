/*
 * fuzz_toml.c - libFuzzer target for the TOML parser and the config schema.
 *
 * Each input is parsed by toml_parse (as is: not NUL-terminated, so ASan
 * sees any read past the end), every value of the tree is read back
 * through the accessors, and the same bytes go through config_load_text
 * and config_validate.  Warnings about unknown keys would flood the output,
 * so the log filter is set to "error" once at start.
 *
 * Build: CC=clang meson setup build-fuzz -Dfuzzers=true
 *        -Db_sanitize=address,undefined -Db_lundef=false
 * Seed it with tests/data/toml-test/valid and invalid.
 */
#include "common/mfs.h"
#include "config/config.h"
#include "log/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mfs_log_set_filter("error", NULL, 0);
	return 0;
}

/* Read every value back; the depth cap keeps this recursion bounded. */
static size_t walk(const struct toml_value *v, int depth)
{
	size_t n = 0;
	size_t len;
	size_t i;

	if (depth > TOML_MAX_DEPTH + 1)
		__builtin_trap();
	n += (size_t)toml_line(v) + (size_t)toml_col(v);
	switch (toml_type_of(v)) {
	case TOML_TABLE:
		for (i = 0; i < toml_count(v); i++) {
			/* not toml_get(key): a key may hold a NUL */
			n += strlen(toml_key_at(v, i));
			n += walk(toml_at(v, i), depth + 1);
		}
		break;
	case TOML_ARRAY:
		for (i = 0; i < toml_count(v); i++)
			n += walk(toml_at(v, i), depth + 1);
		break;
	case TOML_STRING:
		if (toml_string(v, &len))
			n += len;
		break;
	case TOML_INTEGER:
		n += (size_t)toml_int(v);
		break;
	case TOML_FLOAT:
		n += toml_float(v) > 0;
		break;
	case TOML_BOOL:
		n += toml_bool(v);
		break;
	default:
		n += strlen(toml_datetime(v));
		break;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_value *root = NULL;
	volatile size_t sink;
	struct config cfg;
	char err[256];

	if (toml_parse((const char *)data, size, "fuzz.toml", &root, err,
		       sizeof(err)) == 0) {
		sink = walk(root, 0);
		(void)sink;
		toml_free(root);
	} else if (!strchr(err, ':')) {
		__builtin_trap();	/* every error names FILE:LINE:COL */
	}
	config_init(&cfg);
	if (config_load_text(&cfg, (const char *)data, size, "fuzz.toml", err,
			     sizeof(err)) == 0)
		config_validate(&cfg, err, sizeof(err));
	config_release(&cfg);
	return 0;
}
