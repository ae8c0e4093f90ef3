/*
 * test_catalog.c - the catalog and the tree placed on it.
 *
 * Builds catalogs in a temporary folder, stores files as the scanner
 * would, places them with the tree and checks the vnodes: paths, folder
 * merging by spelling, collisions, multi-disc re-placement, covers,
 * pruning of empty folders, stable inode numbers and invalidations.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "catalog/catalog.h"
#include "tree/tree.h"
#include "tree/template_i.h"

#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[96];
	struct catalog *db;
	struct tree *tree;
	int64_t origin;
	int64_t gen;
	int invals;
};

static void count_entry(void *ctx, int64_t parent, const char *name)
{
	(void)parent;
	(void)name;
	((struct fixture *)ctx)->invals++;
}

static void count_inode(void *ctx, int64_t ino)
{
	(void)ino;
	((struct fixture *)ctx)->invals++;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct tree_listener l = { count_entry, count_inode, NULL };
	char err[128];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mfs-test-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/musicfs.db", fx->dir);
	assert_int_equal(catalog_open(fx->path, CATALOG_WRITER, 0, &fx->db), 0);
	assert_int_equal(tree_new(fx->db, NULL, &fx->tree, err, sizeof(err)), 0);
	l.ctx = fx;
	tree_set_listener(fx->tree, &l);
	assert_int_equal(catalog_begin(fx->db), 0);
	assert_int_equal(catalog_origin_ensure(fx->db, "local", "local", "/m",
					       &fx->origin), 0);
	assert_int_equal(tree_sync_template(fx->tree), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	catalog_rollback(fx->db);
	tree_free(fx->tree);
	catalog_close(&fx->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

struct track_spec {
	const char *relpath;
	const char *artist, *album_artist, *album, *title;
	int year, track, disc, disc_total;
	bool picture;
};

/* Store and place a track as the scanner does; returns its file id. */
static int64_t add_track(struct fixture *fx, const struct track_spec *t)
{
	struct formats_meta m = { 0 };
	struct catalog_file_info info = { 0 };
	char *key;
	int64_t id;

	m.kind = str_ends_with_ci(t->relpath, ".mp3") ? FORMATS_MP3
						      : FORMATS_FLAC;
	m.tags.artist = (char *)t->artist;
	m.tags.album_artist = (char *)t->album_artist;
	m.tags.album = (char *)t->album;
	m.tags.title = (char *)t->title;
	m.tags.year = t->year;
	m.tags.track = t->track;
	m.tags.disc = t->disc;
	m.tags.disc_total = t->disc_total;
	if (t->picture) {
		m.picture.present = true;
		snprintf(m.picture.mime, sizeof(m.picture.mime), "image/png");
		m.picture.offset = 100;
		m.picture.length = 500;
	}
	key = tree_album_key(&m.tags);
	info.origin = fx->origin;
	info.relpath = t->relpath;
	info.size = 1000;
	info.mtime_ns = 1;
	info.role = CATALOG_ROLE_TRACK;
	info.meta = &m;
	info.album_key = key;
	info.gen = fx->gen;
	assert_int_equal(catalog_file_put(fx->db, &info, &id), 0);
	assert_int_equal(tree_place(fx->tree, id), 0);
	free(key);
	return id;
}

/* The inode at a slash-separated path, or -ENOENT. */
static int64_t resolve(struct fixture *fx, const char *path)
{
	char *copy = strdup(path), *save = NULL, *part;
	struct catalog_vnode v;
	int64_t ino = CATALOG_ROOT_INO;
	char *fold;

	for (part = strtok_r(copy, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		fold = template_fold(part);
		if (catalog_vnode_lookup_fold(fx->db, ino, fold, &v) ||
		    strcmp(v.name, part)) {
			free(fold);
			free(copy);
			return -ENOENT;
		}
		free(fold);
		ino = v.ino;
	}
	free(copy);
	return ino;
}

static void finish(struct fixture *fx)
{
	assert_int_equal(tree_finish(fx->tree), 0);
}

static void test_default_paths(void **state)
{
	struct fixture *fx = *state;
	struct track_spec t = { "a/x.flac", "Motörhead", NULL, "Overkill",
				"Stay Clean", 1979, 2, 0, 0, false };

	add_track(fx, &t);
	finish(fx);
	assert_true(resolve(fx, "Motörhead/Overkill (1979) [FLAC]/"
				"02 - Stay Clean.flac") > 0);
}

static void test_collision_suffix(void **state)
{
	struct fixture *fx = *state;
	struct track_spec a = { "a.flac", "A", NULL, "B", "T", 2000, 1, 0, 0, false };
	struct track_spec b = { "b.flac", "A", NULL, "B", "T", 2000, 1, 0, 0, false };

	add_track(fx, &a);
	add_track(fx, &b);
	finish(fx);
	assert_true(resolve(fx, "A/B (2000) [FLAC]/01 - T.flac") > 0);
	assert_true(resolve(fx, "A/B (2000) [FLAC]/01 - T (2).flac") > 0);
}

static void test_collision_name_given_back(void **state)
{
	struct fixture *fx = *state;
	struct track_spec a = { "a.flac", "A", NULL, "B", "T", 0, 1, 0, 0, false };
	struct track_spec b = { "b.flac", "A", NULL, "B", "T", 0, 1, 0, 0, false };
	struct track_spec c = { "c.flac", "A", NULL, "B", "T (2)", 0, 2, 0, 0, false };
	int64_t ida, ino_b;

	ida = add_track(fx, &a);
	add_track(fx, &b);
	add_track(fx, &c);
	finish(fx);
	ino_b = resolve(fx, "A/B [FLAC]/01 - T (2).flac");
	assert_true(ino_b > 0);
	assert_int_equal(tree_unplace(fx->tree, ida), 0);
	assert_int_equal(catalog_file_delete(fx->db, ida), 0);
	finish(fx);
	/* the same inode now has the plain name; a real "(2)" title stays */
	assert_int_equal(resolve(fx, "A/B [FLAC]/01 - T.flac"), ino_b);
	assert_int_equal(resolve(fx, "A/B [FLAC]/01 - T (2).flac"), -ENOENT);
	assert_true(resolve(fx, "A/B [FLAC]/02 - T (2).flac") > 0);
}

static void test_many_collisions(void **state)
{
	struct fixture *fx = *state;
	struct track_spec t = { NULL, "A", NULL, "B", "T", 0, 1, 0, 0, false };
	char path[32];
	int i;

	for (i = 1; i <= 500; i++) {
		snprintf(path, sizeof(path), "%d/track01.flac", i);
		t.relpath = path;
		add_track(fx, &t);
	}
	finish(fx);
	assert_true(resolve(fx, "A/B [FLAC]/01 - T.flac") > 0);
	for (i = 2; i <= 500; i++) {
		snprintf(path, sizeof(path), "A/B [FLAC]/01 - T (%d).flac", i);
		assert_true(resolve(fx, path) > 0);
	}
}

static void test_case_merge_most_common(void **state)
{
	struct fixture *fx = *state;
	struct track_spec t1 = { "1.flac", "BOREDOMS", NULL, "X", "a", 0, 1, 0, 0, false };
	struct track_spec t2 = { "2.flac", "Boredoms", NULL, "X", "b", 0, 2, 0, 0, false };
	struct track_spec t3 = { "3.flac", "Boredoms", NULL, "X", "c", 0, 3, 0, 0, false };

	add_track(fx, &t1);
	finish(fx);
	assert_true(resolve(fx, "BOREDOMS/X [FLAC]") > 0);
	add_track(fx, &t2);
	add_track(fx, &t3);
	finish(fx);
	/* one folder, renamed to the spelling two of three tracks use */
	assert_int_equal(resolve(fx, "BOREDOMS"), -ENOENT);
	assert_true(resolve(fx, "Boredoms/X [FLAC]/01 - a.flac") > 0);
	assert_true(resolve(fx, "Boredoms/X [FLAC]/03 - c.flac") > 0);
}

static void test_multi_disc_replaces_album(void **state)
{
	struct fixture *fx = *state;
	struct track_spec d1 = { "d1.flac", "A", NULL, "Live", "one", 0, 1, 1, 0, false };
	struct track_spec d2 = { "d2.flac", "A", NULL, "Live", "two", 0, 1, 2, 0, false };

	add_track(fx, &d1);
	finish(fx);
	assert_true(resolve(fx, "A/Live [FLAC]/01 - one.flac") > 0);
	add_track(fx, &d2);
	finish(fx);
	assert_int_equal(resolve(fx, "A/Live [FLAC]/01 - one.flac"), -ENOENT);
	assert_true(resolve(fx, "A/Live [FLAC]/1-01 - one.flac") > 0);
	assert_true(resolve(fx, "A/Live [FLAC]/2-01 - two.flac") > 0);
}

static void test_unplace_prunes_and_keeps_inodes(void **state)
{
	struct fixture *fx = *state;
	struct track_spec a = { "a.flac", "A", NULL, "B", "one", 0, 1, 0, 0, false };
	struct track_spec b = { "b.flac", "C", NULL, "D", "two", 0, 1, 0, 0, false };
	int64_t ida, ino_b;

	ida = add_track(fx, &a);
	add_track(fx, &b);
	finish(fx);
	ino_b = resolve(fx, "C/D [FLAC]/01 - two.flac");
	assert_int_equal(tree_unplace(fx->tree, ida), 0);
	assert_int_equal(catalog_file_delete(fx->db, ida), 0);
	finish(fx);
	assert_int_equal(resolve(fx, "A"), -ENOENT);
	assert_int_equal(resolve(fx, "C/D [FLAC]/01 - two.flac"), ino_b);
}

static void test_cover_from_first_track(void **state)
{
	struct fixture *fx = *state;
	struct track_spec a = { "a.flac", "A", NULL, "B", "one", 0, 2, 0, 0, true };
	struct track_spec b = { "b.flac", "A", NULL, "B", "two", 0, 1, 0, 0, false };
	struct catalog_vnode v;
	int64_t dir;

	add_track(fx, &a);
	finish(fx);
	dir = resolve(fx, "A/B [FLAC]");
	assert_int_equal(catalog_vnode_child_of_kind(fx->db, dir,
						     CATALOG_VNODE_COVER, &v), 0);
	assert_string_equal(v.name, "cover.png");
	assert_int_equal(v.src_offset, 100);
	assert_int_equal(v.size, 500);
	/* track 1 has no picture and no folder image: no cover now */
	add_track(fx, &b);
	finish(fx);
	assert_int_equal(catalog_vnode_child_of_kind(fx->db, dir,
						     CATALOG_VNODE_COVER, &v),
			 -ENOENT);
}

static void test_publish_after_commit(void **state)
{
	struct fixture *fx = *state;
	struct track_spec a = { "a.flac", "A", NULL, "B", "one", 0, 1, 0, 0, false };

	add_track(fx, &a);
	finish(fx);
	assert_int_equal(fx->invals, 0);
	assert_int_equal(catalog_commit(fx->db), 0);
	tree_publish(fx->tree);
	assert_true(fx->invals > 0);
	assert_int_equal(catalog_begin(fx->db), 0);
}

struct page {
	int64_t last;
	int taken;
	int seen[301];
};

/* Take at most 7 children per call, like a small readdir buffer. */
static int take_child(void *ctx, const struct catalog_vnode *v)
{
	struct page *p = ctx;
	int n;

	if (p->taken == 7)
		return 1;
	if (sscanf(v->name, "%d", &n) == 1 && n >= 1 && n <= 300)
		p->seen[n]++;
	p->last = v->ino;
	p->taken++;
	return 0;
}

static void test_readdir_resumes(void **state)
{
	struct fixture *fx = *state;
	struct track_spec t = { NULL, "A", NULL, "B", NULL, 0, 0, 0, 0, false };
	struct page p = { 0 };
	char path[32], title[32];
	int64_t dir;
	int i;

	for (i = 1; i <= 300; i++) {
		snprintf(path, sizeof(path), "%d.flac", i);
		snprintf(title, sizeof(title), "t%d", i);
		t.relpath = path;
		t.title = title;
		t.track = i;
		add_track(fx, &t);
	}
	finish(fx);
	dir = resolve(fx, "A/B [FLAC]");
	do {
		p.taken = 0;
		assert_int_equal(catalog_vnode_children(fx->db, dir, p.last,
							take_child, &p), 0);
	} while (p.taken == 7);
	for (i = 1; i <= 300; i++)
		assert_int_equal(p.seen[i], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision_suffix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision_name_given_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_merge_most_common, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_disc_replaces_album, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unplace_prunes_and_keeps_inodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cover_from_first_track, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_resumes, setup, teardown),
	};

	return cmocka_run_group_tests_name("catalog+tree", tests, NULL, NULL);
}
