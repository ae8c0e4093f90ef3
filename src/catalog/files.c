/*
 * files.c - the files table: what the scanner found in each origin.
 *
 * A row per file, keyed by (origin, relpath), with its stamp (size and
 * mtime, to skip unchanged files on a rescan), its role (track or cover
 * image), the tags MusicFS has named fields for, technical info and where
 * its embedded picture is.  Other tags live in file_tags, decoded
 * pictures in pictures.  scan_gen implements mark-and-sweep: a rescan
 * stamps every file it sees with a new generation; files left with an
 * older one have vanished.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <time.h>

/*
 * files.pic_blob: where the picture's bytes are.  An Ogg picture located
 * but not decoded by the scan (FORMATS_PIC_OGG_BASE64: pic_offset is where
 * its base64 text starts) is decoded from the file when it is read; older
 * catalogs hold such pictures decoded, as blobs, which stay valid.
 */
enum catalog_pic_store {
	CATALOG_PIC_RANGE = 0,		/* [pic_offset, +pic_length) of the file */
	CATALOG_PIC_BLOB = 1,		/* decoded, in the pictures table */
	CATALOG_PIC_OGG_BASE64 = 2,	/* base64 in the file's Ogg pages */
};

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

void catalog_file_release(struct catalog_file *f)
{
	free(f->relpath);
	formats_meta_release(&f->meta);
	memset(f, 0, sizeof(*f));
}

int catalog_file_stamp(struct catalog *c, int64_t origin, const char *relpath,
		       int64_t *id, int64_t *size, int64_t *mtime_ns)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_STAMP);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, origin);
	sqlite3_bind_text(st, 2, relpath, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*size = sqlite3_column_int64(st, 1);
		*mtime_ns = sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ENOENT
				 : catalog_errno(c, rc, "read a file stamp");
}

/* The folder part of relpath, as a length ("" for the origin root). */
static size_t dir_length(const char *relpath)
{
	const char *slash = strrchr(relpath, '/');

	return slash ? (size_t)(slash - relpath) : 0;
}

static void bind_meta(sqlite3_stmt *st, const struct formats_meta *m)
{
	const struct formats_tags *t = &m->tags;
	const struct formats_picture *p = &m->picture;

	sqlite3_bind_int(st, 7, (int)m->kind);
	catalog_bind_text(st, 8, t->title);
	catalog_bind_text(st, 9, t->artist);
	catalog_bind_text(st, 10, t->album);
	catalog_bind_text(st, 11, t->album_artist);
	catalog_bind_text(st, 12, t->genre);
	catalog_bind_text(st, 13, t->composer);
	catalog_bind_text(st, 14, t->date);
	catalog_bind_text(st, 15, t->comment);
	bind_opt_int(st, 16, t->year);
	bind_opt_int(st, 17, t->track);
	bind_opt_int(st, 18, t->track_total);
	bind_opt_int(st, 19, t->disc);
	bind_opt_int(st, 20, t->disc_total);
	sqlite3_bind_int(st, 21, t->compilation);
	sqlite3_bind_double(st, 22, m->duration);
	sqlite3_bind_int64(st, 23, m->sample_rate);
	sqlite3_bind_int64(st, 24, m->channels);
	sqlite3_bind_int64(st, 25, m->bitrate);
	sqlite3_bind_int64(st, 26, (int64_t)m->audio_start);
	sqlite3_bind_int64(st, 27, (int64_t)m->audio_end);
	if (p->present) {
		sqlite3_bind_int64(st, 28, p->type);
		sqlite3_bind_text(st, 29, p->mime, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 30, (int64_t)p->offset);
		sqlite3_bind_int64(st, 31, (int64_t)(p->data ? p->data_len
							      : p->length));
		sqlite3_bind_int(st, 32, p->data ? CATALOG_PIC_BLOB
					 : p->store == FORMATS_PIC_OGG_BASE64
						 ? CATALOG_PIC_OGG_BASE64
						 : CATALOG_PIC_RANGE);
	} else {
		sqlite3_bind_int(st, 32, 0);
	}
}

static int put_extras(struct catalog *c, int64_t id,
		      const struct formats_meta *m)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	rc = catalog_exec_ints(c, STMT_EXTRA_DELETE, id, 0, "drop tags");
	for (i = 0; !rc && m && i < m->tags.n_extra; i++) {
		st = catalog_stmt(c, STMT_EXTRA_INSERT);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, id);
		catalog_bind_text(st, 2, m->tags.extra[i].key);
		catalog_bind_text(st, 3, m->tags.extra[i].value ?
					     m->tags.extra[i].value : "");
		rc = catalog_step_done(c, st, "store a tag");
	}
	return rc;
}

static int put_picture(struct catalog *c, int64_t id,
		       const struct formats_meta *m)
{
	sqlite3_stmt *st;
	int rc;

	rc = catalog_exec_ints(c, STMT_PICTURE_DELETE, id, 0, "drop picture");
	if (rc || !m || !m->picture.present || !m->picture.data)
		return rc;
	st = catalog_stmt(c, STMT_PICTURE_INSERT);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob64(st, 2, m->picture.data, m->picture.data_len,
			    SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(c, rc, "store picture");
}

int catalog_file_put(struct catalog *c, const struct catalog_file_info *info,
		     int64_t *id)
{
	static const struct formats_meta no_meta;
	const struct formats_meta *m = info->meta ? info->meta : &no_meta;
	int64_t old_size, old_mtime;
	sqlite3_stmt *st;
	char *dir;
	bool exists;
	int rc;

	rc = catalog_file_stamp(c, info->origin, info->relpath, id, &old_size,
				&old_mtime);
	if (rc && rc != -ENOENT)
		return rc;
	exists = rc == 0;
	dir = str_ndup(info->relpath, dir_length(info->relpath));
	if (!dir)
		return -ENOMEM;
	st = catalog_stmt(c, exists ? STMT_FILE_UPDATE : STMT_FILE_INSERT);
	if (!st) {
		free(dir);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, info->origin);
	sqlite3_bind_text(st, 2, info->relpath, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, info->size);
	sqlite3_bind_int64(st, 5, info->mtime_ns);
	sqlite3_bind_int(st, 6, (int)info->role);
	bind_meta(st, m);
	catalog_bind_text(st, 33, info->album_key);
	sqlite3_bind_int64(st, 34, info->gen);
	if (!exists)
		sqlite3_bind_int64(st, 35, (int64_t)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(dir);
	if (rc != SQLITE_DONE)
		return catalog_errno(c, rc, "store a file");
	if (!exists)
		*id = sqlite3_last_insert_rowid(c->db);
	rc = put_extras(c, *id, info->meta);
	if (rc)
		return rc;
	return put_picture(c, *id, info->meta);
}

int catalog_file_touch(struct catalog *c, int64_t id, int64_t gen)
{
	return catalog_exec_ints(c, STMT_FILE_TOUCH, id, gen, "mark a file");
}

int catalog_files_touch_under(struct catalog *c, int64_t origin,
			      const char *dir, int64_t gen)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_TOUCH_UNDER);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, origin);
	sqlite3_bind_int64(st, 2, gen);
	sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(c, rc, "mark files");
}

int catalog_file_delete(struct catalog *c, int64_t id)
{
	static const enum catalog_stmt stmts[] = {
		STMT_EXTRA_DELETE, STMT_PICTURE_DELETE, STMT_FILE_DELETE
	};
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < MFS_ARRAY_SIZE(stmts); i++)
		rc = catalog_exec_ints(c, stmts[i], id, 0, "delete a file");
	return rc;
}

static int column_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int(st, i);
}

static int read_tags(sqlite3_stmt *st, struct formats_tags *t)
{
	char **fields[] = { &t->title, &t->artist, &t->album,
			    &t->album_artist, &t->genre, &t->composer,
			    &t->date, &t->comment };
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(fields); i++) {
		const unsigned char *s = sqlite3_column_text(st, 7 + (int)i);

		if (s) {
			*fields[i] = strdup((const char *)s);
			if (!*fields[i])
				return -ENOMEM;
		}
	}
	t->year = column_int(st, 15);
	t->track = column_int(st, 16);
	t->track_total = column_int(st, 17);
	t->disc = column_int(st, 18);
	t->disc_total = column_int(st, 19);
	t->compilation = column_int(st, 20) != 0;
	return 0;
}

static void read_info(sqlite3_stmt *st, struct catalog_file *f)
{
	struct formats_meta *m = &f->meta;
	const unsigned char *mime;

	m->duration = sqlite3_column_double(st, 21);
	m->sample_rate = (uint32_t)sqlite3_column_int64(st, 22);
	m->channels = (uint16_t)column_int(st, 23);
	m->bitrate = (uint32_t)sqlite3_column_int64(st, 24);
	m->audio_start = (uint64_t)sqlite3_column_int64(st, 25);
	m->audio_end = (uint64_t)sqlite3_column_int64(st, 26);
	mime = sqlite3_column_text(st, 28);
	if (mime) {
		m->picture.present = true;
		m->picture.type = (uint32_t)sqlite3_column_int64(st, 27);
		snprintf(m->picture.mime, sizeof(m->picture.mime), "%s",
			 (const char *)mime);
		m->picture.offset = (uint64_t)sqlite3_column_int64(st, 29);
		m->picture.length = (uint64_t)sqlite3_column_int64(st, 30);
		if (column_int(st, 31) == CATALOG_PIC_OGG_BASE64)
			m->picture.store = FORMATS_PIC_OGG_BASE64;
	}
	f->pic_blob = column_int(st, 31) == CATALOG_PIC_BLOB;
	f->placed_multi = column_int(st, 32) != 0;
	f->added_at = sqlite3_column_int64(st, 33);
}

int catalog_file_get(struct catalog *c, int64_t id, struct catalog_file *f)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_GET);
	int rc;

	memset(f, 0, sizeof(*f));
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT
					 : catalog_errno(c, rc, "read a file");
	}
	f->id = sqlite3_column_int64(st, 0);
	f->origin = sqlite3_column_int64(st, 1);
	f->relpath = strdup((const char *)sqlite3_column_text(st, 2));
	f->size = sqlite3_column_int64(st, 3);
	f->mtime_ns = sqlite3_column_int64(st, 4);
	f->role = (enum catalog_role)column_int(st, 5);
	f->meta.kind = (enum formats_kind)column_int(st, 6);
	rc = f->relpath ? read_tags(st, &f->meta.tags) : -ENOMEM;
	read_info(st, f);
	sqlite3_reset(st);
	if (rc)
		catalog_file_release(f);
	return rc;
}

int catalog_file_picture(struct catalog *c, int64_t id, uint8_t **data,
			 size_t *len)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_PICTURE);
	const void *blob;
	int rc;

	*data = NULL;
	*len = 0;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT
					 : catalog_errno(c, rc, "read picture");
	}
	blob = sqlite3_column_blob(st, 0);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	*data = malloc(*len ? *len : 1);
	if (*data && *len)
		memcpy(*data, blob, *len);
	sqlite3_reset(st);
	return *data ? 0 : -ENOMEM;
}

int catalog_file_set_placed_multi(struct catalog *c, int64_t id, bool multi)
{
	return catalog_exec_ints(c, STMT_FILE_SET_PLACED, id, multi,
				 "mark a file");
}

int catalog_file_extra(struct catalog *c, int64_t id,
		       int (*cb)(void *ctx, const char *key, const char *value),
		       void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_EXTRA);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1)))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : catalog_errno(c, rc, "read tags");
}

/* Shared driver of the queries that list file ids by origin and folder. */
static int list_ids(struct catalog *c, enum catalog_stmt id, int64_t origin,
		    const char *dir, int (*cb)(void *ctx, int64_t id),
		    void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, id);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, origin);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	return catalog_step_ids(c, st, cb, ctx, "list files");
}

int catalog_files_unseen(struct catalog *c, int64_t origin, const char *dir,
			 int64_t gen, int (*cb)(void *ctx, int64_t id),
			 void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILES_UNSEEN);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, origin);
	sqlite3_bind_int64(st, 2, gen);
	sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
	return catalog_step_ids(c, st, cb, ctx, "list vanished files");
}

int catalog_files_under(struct catalog *c, int64_t origin, const char *dir,
			int (*cb)(void *ctx, int64_t id), void *ctx)
{
	return list_ids(c, STMT_FILES_UNDER, origin, dir, cb, ctx);
}

int catalog_tracks_in_dir(struct catalog *c, int64_t origin, const char *dir,
			  int (*cb)(void *ctx, int64_t id), void *ctx)
{
	return list_ids(c, STMT_TRACKS_IN_DIR, origin, dir, cb, ctx);
}

int catalog_files_count(struct catalog *c, int64_t origin, int64_t *n)
{
	return catalog_count(c, STMT_FILES_COUNT, origin, n, "count files");
}

/* Rank of an image name as a cover: lower is better, -1 = not a cover. */
static int cover_rank(const char *relpath)
{
	static const char *const names[] = {
		"cover.jpg", "cover.jpeg", "cover.png", "folder.jpg",
		"folder.jpeg", "folder.png", "front.jpg", "front.jpeg",
		"front.png",
	};
	const char *base = strrchr(relpath, '/');
	size_t i;

	base = base ? base + 1 : relpath;
	for (i = 0; i < MFS_ARRAY_SIZE(names); i++)
		if (!strcasecmp(base, names[i]))
			return (int)i;
	return -1;
}

int catalog_image_in_dir(struct catalog *c, int64_t origin, const char *dir,
			 int64_t *id)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_IMAGES_IN_DIR);
	int best = INT_MAX;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, origin);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int rank = cover_rank((const char *)sqlite3_column_text(st, 1));

		if (rank >= 0 && rank < best) {
			best = rank;
			*id = sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(c, rc, "list images");
	return best == INT_MAX ? -ENOENT : 0;
}

int catalog_album_multi_disc(struct catalog *c, const char *album_key,
			     bool *multi)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_ALBUM_MULTI);
	int rc;

	*multi = false;
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, album_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*multi = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : catalog_errno(c, rc, "read an album");
}

int catalog_album_misplaced(struct catalog *c, const char *album_key,
			    bool multi, int (*cb)(void *ctx, int64_t id),
			    void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_ALBUM_MISPLACED);

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, album_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, multi);
	return catalog_step_ids(c, st, cb, ctx, "read an album");
}

int catalog_tracks_all(struct catalog *c, int (*cb)(void *ctx, int64_t id),
		       void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_TRACKS_ALL);

	if (!st)
		return -EIO;
	return catalog_step_ids(c, st, cb, ctx, "list tracks");
}
