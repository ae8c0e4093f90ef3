/*
 * test_collections.c - the list of smart collections on a real catalog.
 *
 * Built-in, config and API collections in listing order; config errors
 * with the file and line; names that are not folder names, queries that
 * do not compile, names taken up to case; deletes refused for built-in
 * and config ones; API collections kept in the catalog across instances
 * and hidden by a config collection of the same name; the listener told
 * of each change; and the runs: Recently Added by the earlier of first
 * scan and file mtime, newest first, and the decades by year.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "catalog/catalog.h"
#include "collections/collections.h"
#include "tree/tree.h"

#include <setjmp.h>
#include <cmocka.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[96];
	struct catalog *db;
	struct config cfg;
	char heard[8][64];	/* names the listener was told */
	size_t n_heard;
};

struct track {
	const char *artist, *title;
	int year;
	int64_t age_days;	/* of the file's mtime */
};

static const struct track tracks[] = {
	{ "Motörhead", "Ace of Spades", 1980, 3 },
	{ "Metallica", "Battery", 1986, 400 },
	{ "Björk", "Jóga", 1997, 1 },
	{ "Sigur Rós", "Svefn-g-englar", 1999, 10 },
	{ "Daft Punk", "One More Time", 2001, 60 },
};

static void add_tracks(struct fixture *fx)
{
	struct tree *tree = NULL;
	int64_t origin;
	char err[128];
	size_t i;

	assert_int_equal(tree_new(fx->db, NULL, &tree, err, sizeof(err)), 0);
	assert_int_equal(catalog_begin(fx->db), 0);
	assert_int_equal(catalog_origin_ensure(fx->db, "local", "local", "/m",
					       &origin), 0);
	assert_int_equal(tree_sync_template(tree), 0);
	for (i = 0; i < MFS_ARRAY_SIZE(tracks); i++) {
		struct formats_meta m = { .kind = FORMATS_FLAC };
		struct catalog_file_info info = { 0 };
		char relpath[32];
		int64_t id;

		m.tags.artist = (char *)tracks[i].artist;
		m.tags.title = (char *)tracks[i].title;
		m.tags.album = (char *)"Album";
		m.tags.year = tracks[i].year;
		m.tags.track = 1;
		snprintf(relpath, sizeof(relpath), "t/%zu.flac", i);
		info.origin = origin;
		info.relpath = relpath;
		info.size = 1000;
		info.mtime_ns = ((int64_t)time(NULL) -
				 tracks[i].age_days * 86400) * 1000000000;
		info.role = CATALOG_ROLE_TRACK;
		info.meta = &m;
		info.album_key = tree_album_key(&m.tags);
		info.gen = 1;
		assert_int_equal(catalog_file_put(fx->db, &info, &id), 0);
		assert_int_equal(tree_place(tree, id), 0);
		free((char *)info.album_key);
	}
	assert_int_equal(tree_finish(tree), 0);
	assert_int_equal(catalog_commit(fx->db), 0);
	tree_free(tree);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mfs-coll-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/musicfs.db", fx->dir);
	assert_int_equal(catalog_open(fx->path, CATALOG_WRITER, 0, &fx->db), 0);
	add_tracks(fx);
	config_init(&fx->cfg);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	config_release(&fx->cfg);
	catalog_close(&fx->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void load_config(struct fixture *fx, const char *text)
{
	char err[256];

	config_release(&fx->cfg);
	config_init(&fx->cfg);
	fx->cfg.config_path = str_dup("c.toml");
	if (config_load_text(&fx->cfg, text, strlen(text), "c.toml", err,
			     sizeof(err)))
		fail_msg("%s", err);
}

static void heard(void *ctx, const char *name)
{
	struct fixture *fx = ctx;

	if (fx->n_heard < MFS_ARRAY_SIZE(fx->heard))
		snprintf(fx->heard[fx->n_heard++], sizeof(fx->heard[0]), "%s",
			 name);
}

/* "name:source" of every collection, comma-separated. */
struct listing {
	char text[512];
};

static int list_one(void *ctx, const struct collections_info *info)
{
	struct listing *l = ctx;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s%s:%s", n ? "," : "",
		 info->name, collections_source_name(info->source));
	return 0;
}

static const char *listing(struct collections *cs, struct listing *l)
{
	l->text[0] = '\0';
	assert_int_equal(collections_list(cs, list_one, l), 0);
	return l->text;
}

#define BUILTIN "Recently Added:builtin,80s Music:builtin,90s Music:builtin"

static void test_config_collections(void **state)
{
	static const char *const bad[][2] = {
		{ "[[collections]]\nname = \"X\"\nquery = \"year:[1 TO\"\n",
		  "c.toml:1: query of collection 'X': column 11: " },
		{ "[[collections]]\nname = \"Trailing \"\nquery = \"x\"\n",
		  "c.toml:1: collection name 'Trailing ' is not a folder name "
		  "(as one it would read 'Trailing')" },
		{ "[[collections]]\nname = \"a\"\nquery = \"x\"\n\n"
		  "[[collections]]\nname = \"80S MUSIC\"\nquery = \"x\"\n",
		  "c.toml:5: collection '80S MUSIC' has the name of another "
		  "collection" },
	};
	struct fixture *fx = *state;
	struct collections *cs = NULL;
	struct listing l;
	char err[256];
	size_t i;

	load_config(fx, "[[collections]]\nname = \"Jazz\"\n"
			"query = \"genre:jazz\"\n");
	assert_int_equal(collections_new(fx->path, &fx->cfg, &cs, err,
					 sizeof(err)), 0);
	assert_string_equal(listing(cs, &l), BUILTIN ",Jazz:config");
	collections_free(cs);
	for (i = 0; i < MFS_ARRAY_SIZE(bad); i++) {
		load_config(fx, bad[i][0]);
		cs = (struct collections *)1;
		assert_int_equal(collections_new(fx->path, &fx->cfg, &cs, err,
						 sizeof(err)), -EINVAL);
		assert_null(cs);
		if (strncmp(err, bad[i][1], strlen(bad[i][1])))
			fail_msg("got '%s', want '%s'", err, bad[i][1]);
	}
	/* no catalog (yet): the built-in ones still work */
	config_release(&fx->cfg);
	config_init(&fx->cfg);
	assert_int_equal(collections_new(NULL, &fx->cfg, &cs, err,
					 sizeof(err)), 0);
	assert_string_equal(listing(cs, &l), BUILTIN);
	assert_int_equal(collections_create(cs, "A", "a", err, sizeof(err)),
			 -ENOENT);
	collections_free(cs);
}

static void test_api_collections(void **state)
{
	struct fixture *fx = *state;
	struct collections_listener lis = { heard, fx };
	struct collections *cs = NULL;
	struct listing l;
	char err[256];

	load_config(fx, "[[collections]]\nname = \"Jazz\"\nquery = \"j\"\n");
	assert_int_equal(collections_new(fx->path, &fx->cfg, &cs, err,
					 sizeof(err)), 0);
	collections_set_listener(cs, &lis);
	assert_int_equal(collections_create(cs, "Électro", "genre:electro",
					    err, sizeof(err)), 0);
	assert_int_equal(collections_create(cs, "jazz", "x", err,
					    sizeof(err)), -EEXIST);
	assert_string_equal(err, "collection 'Jazz' exists (config)");
	assert_int_equal(collections_create(cs, "ÉLECTRO", "x", err,
					    sizeof(err)), -EEXIST);
	assert_int_equal(collections_create(cs, "a/b", "x", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(collections_create(cs, "", "x", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(collections_create(cs, "B", "(a", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "column"));
	assert_int_equal(collections_create(cs, "Later", "later", err,
					    sizeof(err)), 0);
	assert_string_equal(listing(cs, &l),
			    BUILTIN ",Jazz:config,Électro:api,Later:api");
	assert_int_equal(collections_delete(cs, "80s Music", err,
					    sizeof(err)), -EPERM);
	assert_string_equal(err, "collection '80s Music' is built in");
	assert_int_equal(collections_delete(cs, "Jazz", err, sizeof(err)),
			 -EPERM);
	assert_int_equal(collections_delete(cs, "Nope", err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(collections_delete(cs, "Later", err, sizeof(err)), 0);
	assert_int_equal(fx->n_heard, 3);
	assert_string_equal(fx->heard[0], "Électro");
	assert_string_equal(fx->heard[2], "Later");
	collections_free(cs);

	/* kept in the catalog; a config collection of its name hides it */
	load_config(fx, "[[collections]]\nname = \"électro\"\n"
			"query = \"e\"\n");
	assert_int_equal(collections_new(fx->path, &fx->cfg, &cs, err,
					 sizeof(err)), 0);
	assert_string_equal(listing(cs, &l), BUILTIN ",électro:config");
	fx->n_heard = 0;
	collections_set_listener(cs, &lis);
	/* a reload without it shows the API one again, and says so */
	load_config(fx, "");
	assert_int_equal(collections_set_config(cs, &fx->cfg, err,
						sizeof(err)), 0);
	assert_string_equal(listing(cs, &l), BUILTIN ",Électro:api");
	assert_int_equal(fx->n_heard, 2);
	assert_string_equal(fx->heard[0], "électro");
	assert_string_equal(fx->heard[1], "Électro");
	/* a bad reload changes nothing */
	load_config(fx, "[[collections]]\nname = \"x\"\nquery = \"(\"\n");
	assert_int_equal(collections_set_config(cs, &fx->cfg, err,
						sizeof(err)), -EINVAL);
	assert_string_equal(listing(cs, &l), BUILTIN ",Électro:api");
	assert_int_equal(collections_delete(cs, "Électro", err, sizeof(err)),
			 0);
	collections_free(cs);
}

struct titles {
	char text[256];
};

static int add_title(void *ctx, const struct catalog_search_row *row)
{
	struct titles *t = ctx;
	size_t n = strlen(t->text);

	assert_non_null(row->path);
	snprintf(t->text + n, sizeof(t->text) - n, "%s%s", n ? "," : "",
		 row->title);
	return 0;
}

static const char *run(struct fixture *fx, struct collections *cs,
		       const char *name, struct titles *t)
{
	char err[256];
	int rc;

	t->text[0] = '\0';
	rc = collections_run(cs, fx->db, name, 0, 100, add_title, t, NULL,
			     err, sizeof(err));
	if (rc)
		return rc == -ENOENT ? "ENOENT" : "error";
	return t->text;
}

static void test_run(void **state)
{
	struct fixture *fx = *state;
	struct collections *cs = NULL;
	struct titles t;
	char err[256];

	load_config(fx, "[[collections]]\nname = \"Accents\"\n"
			"query = \"bjork OR ros\"\n");
	assert_int_equal(collections_new(fx->path, &fx->cfg, &cs, err,
					 sizeof(err)), 0);
	/* newest first; the 60- and 400-day-old files are not recent */
	assert_string_equal(run(fx, cs, "Recently Added", &t),
			    "Jóga,Ace of Spades,Svefn-g-englar");
	assert_string_equal(run(fx, cs, "80s Music", &t),
			    "Battery,Ace of Spades");
	assert_string_equal(run(fx, cs, "90s Music", &t),
			    "Jóga,Svefn-g-englar");
	assert_string_equal(run(fx, cs, "Accents", &t),
			    "Jóga,Svefn-g-englar");
	assert_string_equal(run(fx, cs, "accents", &t), "ENOENT");
	collections_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_collections,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_collections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
