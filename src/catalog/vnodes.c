/*
 * vnodes.c - the materialized virtual tree.
 *
 * A vnode is a row: inode number (rowid, never reused), parent, display
 * name, fold key (NFC + case fold, unique per parent so that names that
 * differ only by case or normalization cannot both exist), kind, and what
 * getattr needs (size, mtime) so that FUSE answers stat with one indexed
 * lookup.  Children are listed by (parent, ino), so readdir resumes from
 * the last inode it returned instead of rebuilding the listing.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

/* Copy the current row of a VNODE_COLUMNS statement into v. */
static void read_vnode(sqlite3_stmt *st, struct catalog_vnode *v)
{
	const unsigned char *name;

	v->ino = sqlite3_column_int64(st, 0);
	v->parent = sqlite3_column_int64(st, 1);
	v->kind = (enum catalog_vnode_kind)sqlite3_column_int(st, 2);
	v->file = sqlite3_column_int64(st, 3);
	v->size = sqlite3_column_int64(st, 4);
	v->mtime_ns = sqlite3_column_int64(st, 5);
	v->src_offset = sqlite3_column_int64(st, 6);
	name = sqlite3_column_text(st, 7);
	str_copy(v->name, name ? (const char *)name : "", sizeof(v->name));
}

/* Run a statement expected to give one vnode row. */
static int one_vnode(struct catalog *c, sqlite3_stmt *st,
		     struct catalog_vnode *v, const char *what)
{
	int rc = catalog_step_row(c, st, what);

	if (rc)
		return rc;
	read_vnode(st, v);
	sqlite3_reset(st);
	return 0;
}

int catalog_vnode_get(struct catalog *c, int64_t ino, struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_GET);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, ino);
	return one_vnode(c, st, v, "read a vnode");
}

int catalog_vnode_lookup_fold(struct catalog *c, int64_t parent,
			      const char *fold, struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_LOOKUP);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_text(st, 2, fold, -1, SQLITE_STATIC);
	return one_vnode(c, st, v, "look up a name");
}

int catalog_vnode_children(struct catalog *c, int64_t parent, int64_t after,
			   int (*cb)(void *ctx, const struct catalog_vnode *v),
			   void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_CHILDREN);
	struct catalog_vnode v;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_int64(st, 2, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_vnode(st, &v);
		if (cb(ctx, &v))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : catalog_errno(c, rc, "list a folder");
}

int catalog_vnode_insert(struct catalog *c, struct catalog_vnode *v,
			 const char *fold)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_INSERT);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, v->parent);
	sqlite3_bind_text(st, 2, v->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, fold, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)v->kind);
	if (v->file)
		sqlite3_bind_int64(st, 5, v->file);
	sqlite3_bind_int64(st, 6, v->size);
	sqlite3_bind_int64(st, 7, v->mtime_ns);
	sqlite3_bind_int64(st, 8, v->src_offset);
	rc = catalog_step_done(c, st, "add a vnode");
	if (rc)
		return rc;
	v->ino = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* Statements that take an inode and maybe one more value. */
static int by_ino(struct catalog *c, enum catalog_stmt id, int64_t ino,
		  const char *what)
{
	return catalog_exec_ints(c, id, ino, 0, what);
}

int catalog_vnode_delete(struct catalog *c, int64_t ino)
{
	return by_ino(c, STMT_VNODE_DELETE, ino, "delete a vnode");
}

int catalog_vnode_rename(struct catalog *c, int64_t ino, const char *name,
			 const char *fold)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_RENAME);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, fold, -1, SQLITE_STATIC);
	return catalog_step_done(c, st, "rename a vnode");
}

int catalog_vnode_update(struct catalog *c, const struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_UPDATE);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, v->ino);
	sqlite3_bind_int64(st, 2, v->file);
	sqlite3_bind_int64(st, 3, v->size);
	sqlite3_bind_int64(st, 4, v->mtime_ns);
	sqlite3_bind_int64(st, 5, v->src_offset);
	return catalog_step_done(c, st, "update a vnode");
}

int catalog_vnode_touch(struct catalog *c, int64_t ino, int64_t mtime_ns)
{
	return catalog_exec_ints(c, STMT_VNODE_TOUCH, ino, mtime_ns,
				 "touch a vnode");
}

int catalog_vnode_set_want(struct catalog *c, int64_t ino, const char *fold)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_SET_WANT);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, ino);
	catalog_bind_text(st, 2, fold);
	return catalog_step_done(c, st, "record a wanted name");
}

int catalog_vnode_wanting(struct catalog *c, int64_t parent, const char *fold,
			  struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_WANTING);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_text(st, 2, fold, -1, SQLITE_STATIC);
	return one_vnode(c, st, v, "find a wanted name");
}

int catalog_vnode_of_file(struct catalog *c, int64_t file,
			  enum catalog_vnode_kind kind, struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_OF_FILE);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, file);
	sqlite3_bind_int(st, 2, (int)kind);
	return one_vnode(c, st, v, "find a track");
}

int catalog_vnode_child_of_kind(struct catalog *c, int64_t parent,
				enum catalog_vnode_kind kind,
				struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_CHILD_KIND);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_int(st, 2, (int)kind);
	return one_vnode(c, st, v, "find a child");
}

int catalog_vnode_has_children(struct catalog *c, int64_t parent, bool *any)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_HAS_CHILDREN);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	rc = catalog_step_row(c, st, "list a folder");
	*any = rc == 0;
	sqlite3_reset(st);
	return rc == -ENOENT ? 0 : rc;
}

int catalog_vnode_first_track(struct catalog *c, int64_t dir,
			      struct catalog_vnode *v)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_FIRST_TRACK);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, dir);
	return one_vnode(c, st, v, "find the first track");
}

int catalog_vnode_count(struct catalog *c, enum catalog_vnode_kind kind,
			int64_t *n)
{
	return catalog_count(c, STMT_VNODE_COUNT, kind, n, "count vnodes");
}

int catalog_vnode_count_prefix(struct catalog *c, int64_t parent,
			       const char *prefix, int64_t *n)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_COUNT_RANGE);
	size_t len = strlen(prefix);
	char *upper;
	int rc;

	*n = 0;
	if (!st)
		return -EIO;
	if (!len || (unsigned char)prefix[len - 1] == 0xff)
		return -EINVAL;
	upper = strdup(prefix);
	if (!upper)
		return -ENOMEM;
	/* every string starting with prefix sorts below this one */
	upper[len - 1] = (char)((unsigned char)upper[len - 1] + 1);
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, upper, -1, SQLITE_STATIC);
	rc = catalog_step_row(c, st, "count names");
	if (!rc) {
		*n = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	free(upper);
	return rc;
}

int catalog_vnode_clear(struct catalog *c)
{
	int rc = sqlite3_exec(c->db,
			      "DELETE FROM vnodes WHERE ino != 1;"
			      "DELETE FROM spellings;"
			      "UPDATE files SET placed_multi = 0;",
			      NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : catalog_errno(c, rc, "clear the tree");
}

int catalog_spelling_add(struct catalog *c, int64_t dir, const char *spelling,
			 int delta, char *top)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_SPELLING_ADD);
	const unsigned char *name;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, dir);
	sqlite3_bind_text(st, 2, spelling, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, delta);
	rc = catalog_step_done(c, st, "count a spelling");
	if (rc)
		return rc;
	if (delta < 0) {
		rc = by_ino(c, STMT_SPELLING_DELETE_ZERO, dir,
			    "drop a spelling");
		if (rc)
			return rc;
	}
	st = catalog_stmt(c, STMT_SPELLING_TOP);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, dir);
	rc = catalog_step_row(c, st, "read spellings");
	if (rc)
		return rc;
	name = sqlite3_column_text(st, 0);
	str_copy(top, name ? (const char *)name : "", CATALOG_NAME_MAX + 1);
	sqlite3_reset(st);
	return 0;
}
