/*
 * schema.c - the catalog schema and its migrations.
 *
 * The schema version lives in the meta table ("schema_version").  Each
 * migration moves the schema from version N-1 to N inside one transaction,
 * so a crash during a migration leaves the old version intact.  A catalog
 * with a version newer than this binary knows is refused rather than
 * guessed at.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

/*
 * Version 1: origins, files (tags inline, extra tags and decoded pictures
 * in their own tables), the materialized virtual tree and folder
 * spellings.  vnodes.want is the fold key of the name a track would
 * have had if another had not taken it first (it got " (2)"), so the name
 * can be given back when it frees up.  vnodes_children covers every
 * column readdir returns, so listing a folder reads the index alone
 * instead of one table page per entry.  vnodes uses AUTOINCREMENT so an inode number is never given
 * to a second node, even after deletes: NFS clients keep file handles.
 */
static const char schema_v1[] =
	"CREATE TABLE origins ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL,"
	"  root TEXT);"
	"CREATE TABLE files ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  origin INTEGER NOT NULL,"
	"  relpath TEXT NOT NULL,"
	"  dir TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  mtime INTEGER NOT NULL,"
	"  role INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL DEFAULT 0,"
	"  title TEXT, artist TEXT, album TEXT, album_artist TEXT,"
	"  genre TEXT, composer TEXT, date TEXT, comment TEXT,"
	"  year INTEGER, track INTEGER, track_total INTEGER,"
	"  disc INTEGER, disc_total INTEGER, compilation INTEGER,"
	"  duration REAL, sample_rate INTEGER, channels INTEGER,"
	"  bitrate INTEGER, audio_start INTEGER, audio_end INTEGER,"
	"  pic_type INTEGER, pic_mime TEXT, pic_offset INTEGER,"
	"  pic_length INTEGER, pic_blob INTEGER NOT NULL DEFAULT 0,"
	"  album_key TEXT, placed_multi INTEGER NOT NULL DEFAULT 0,"
	"  scan_gen INTEGER NOT NULL DEFAULT 0,"
	"  added_at INTEGER NOT NULL,"
	"  UNIQUE (origin, relpath));"
	"CREATE INDEX files_dir ON files (origin, dir);"
	"CREATE INDEX files_album ON files (album_key);"
	"CREATE TABLE file_tags ("
	"  file INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL);"
	"CREATE INDEX file_tags_file ON file_tags (file);"
	"CREATE TABLE pictures ("
	"  file INTEGER PRIMARY KEY,"
	"  data BLOB NOT NULL);"
	"CREATE TABLE vnodes ("
	"  ino INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  parent INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  fold TEXT NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  file INTEGER,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  mtime INTEGER NOT NULL DEFAULT 0,"
	"  src_offset INTEGER NOT NULL DEFAULT 0,"
	"  want TEXT,"
	"  UNIQUE (parent, fold));"
	"CREATE INDEX vnodes_want ON vnodes (parent, want) "
	"  WHERE want IS NOT NULL;"
	"CREATE INDEX vnodes_children ON vnodes (parent, ino, kind, file, size,"
	"  mtime, src_offset, name);"
	"CREATE INDEX vnodes_file ON vnodes (file);"
	"CREATE TABLE spellings ("
	"  dir INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (dir, name)) WITHOUT ROWID;"
	"CREATE INDEX spellings_top ON spellings (dir, count DESC, name);"
	"INSERT INTO vnodes (ino, parent, name, fold, kind, mtime)"
	"  VALUES (1, 1, '', '', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000000);";

static const char *const migrations[] = {
	NULL,		/* version 0: empty database */
	schema_v1,
};

static int schema_version(struct catalog *c, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(c->db,
				"SELECT value FROM meta WHERE key = "
				"'schema_version'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return catalog_errno(c, rc, "read schema version");
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : catalog_errno(c, rc, "read schema version");
}

static int run_migration(struct catalog *c, int to)
{
	char sql[96];
	int rc;

	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return catalog_errno(c, rc, "begin migration");
	rc = sqlite3_exec(c->db, migrations[to], NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_rollback;
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO meta VALUES ('schema_version', '%d')",
		 to);
	rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_rollback;
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_rollback;
	mfs_log(MFS_LOG_INFO, "catalog '%s' migrated to schema version %d",
		c->path, to);
	return 0;

out_rollback:
	rc = catalog_errno(c, rc, "migrate schema");
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int catalog_migrate(struct catalog *c)
{
	int version;
	int rc;

	rc = sqlite3_exec(c->db,
			  "CREATE TABLE IF NOT EXISTS meta ("
			  "  key TEXT PRIMARY KEY, value TEXT)",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return catalog_errno(c, rc, "create meta table");
	rc = schema_version(c, &version);
	if (rc)
		return rc;
	if (version > CATALOG_SCHEMA_VERSION)
		return mfs_error(-EPROTO,
				 "catalog '%s' has schema version %d, newer "
				 "than this musicfs (%d): upgrade musicfs",
				 c->path, version, CATALOG_SCHEMA_VERSION);
	while (version < CATALOG_SCHEMA_VERSION) {
		rc = run_migration(c, version + 1);
		if (rc)
			return rc;
		version++;
	}
	return 0;
}
