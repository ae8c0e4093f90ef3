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

/*
 * Version 2: search.  search_fts indexes the searchable fields of every
 * track (role 1).  Its content is the view search_src, so that FTS5's
 * 'rebuild' reads tracks only.  Triggers on files keep it, the fuzzy
 * vocabulary search_terms and the per-track data search_docs in step, in
 * the writer's own transaction (the scanner now, the overlay later); they
 * call the functions of search_fn.c, which catalog_open registers on
 * every connection.  search_terms holds every word ever indexed, by
 * length (words of removed tracks stay: they match nothing, and a rebuild
 * drops them).  search_docs holds, for each track, its number of words
 * (BM25 needs it for every hit) and its year (a text search filtered by a
 * range tests it for every hit), 4 bytes per track, 2048 tracks a row:
 * id >> 11 is the row (CATALOG_DOCS_BITS).
 *
 * An update re-indexes a track only when an indexed field or the role
 * changed (the scanner rewrites every column of a file whose size or
 * mtime changed), and one trigger deletes the old entry before it inserts
 * the new: FTS5 drops every word a 'delete' names for that rowid, also the
 * ones an insert of the same row made just before (two triggers, which
 * SQLite runs newest first, lost the words that did not change).
 *
 * Years are filtered on their own B-tree index.  Searches with nothing to
 * rank (only years, only negations) list tracks in the tree's order,
 * album artist (album_key), album, disc, track: files_order gives that
 * order, with the year, so such a search stops after the first thousand
 * matches instead of sorting all of them (a million tracks: 0.6 ms
 * instead of 800 ms for year:[1973 TO *]).  collections holds the user's
 * smart collections.
 */
#define SEARCH_COLS "title, artist, album, album_artist, genre, composer, year"
#define SEARCH_NEW "new.title, new.artist, new.album, new.album_artist, " \
	"new.genre, new.composer, new.year"
#define SEARCH_OLD "old.title, old.artist, old.album, old.album_artist, " \
	"old.genre, old.composer, old.year"

static const char schema_v2[] =
	"CREATE VIEW search_src AS SELECT id, " SEARCH_COLS " FROM files"
	"  WHERE role = 1;"
	"CREATE VIRTUAL TABLE search_fts USING fts5(" SEARCH_COLS ","
	"  content='search_src', content_rowid='id',"
	"  tokenize='unicode61 remove_diacritics 2');"
	"CREATE TABLE search_terms ("
	"  len INTEGER NOT NULL,"
	"  term TEXT NOT NULL,"
	"  PRIMARY KEY (len, term)) WITHOUT ROWID;"
	"CREATE TABLE search_docs ("
	"  chunk INTEGER PRIMARY KEY,"
	"  info BLOB NOT NULL);"
	"CREATE TRIGGER search_ai AFTER INSERT ON files WHEN new.role = 1 BEGIN"
	"  INSERT INTO search_fts (rowid, " SEARCH_COLS ")"
	"    VALUES (new.id, " SEARCH_NEW ");"
	"  INSERT OR IGNORE INTO search_terms SELECT length(value), value"
	"    FROM json_each(mfs_search_terms(" SEARCH_NEW "));"
	"  INSERT OR IGNORE INTO search_docs"
	"    VALUES (new.id >> 11, zeroblob(8192));"
	"  UPDATE search_docs SET info = mfs_search_doc(info, new.id, "
	SEARCH_NEW ") WHERE chunk = new.id >> 11;"
	"END;"
	"CREATE TRIGGER search_ad AFTER DELETE ON files WHEN old.role = 1 BEGIN"
	"  INSERT INTO search_fts (search_fts, rowid, " SEARCH_COLS ")"
	"    VALUES ('delete', old.id, " SEARCH_OLD ");"
	"  UPDATE search_docs SET info = mfs_search_doc(info, old.id)"
	"    WHERE chunk = old.id >> 11;"
	"END;"
	"CREATE TRIGGER search_au AFTER UPDATE OF " SEARCH_COLS ", role"
	"  ON files WHEN (old.role = 1 OR new.role = 1) AND ("
	"  old.role IS NOT new.role OR old.title IS NOT new.title OR"
	"  old.artist IS NOT new.artist OR old.album IS NOT new.album OR"
	"  old.album_artist IS NOT new.album_artist OR"
	"  old.genre IS NOT new.genre OR old.composer IS NOT new.composer OR"
	"  old.year IS NOT new.year) BEGIN"
	"  INSERT INTO search_fts (search_fts, rowid, " SEARCH_COLS ")"
	"    SELECT 'delete', old.id, " SEARCH_OLD " WHERE old.role = 1;"
	"  INSERT INTO search_fts (rowid, " SEARCH_COLS ")"
	"    SELECT new.id, " SEARCH_NEW " WHERE new.role = 1;"
	"  INSERT OR IGNORE INTO search_terms SELECT length(value), value"
	"    FROM json_each(mfs_search_terms(" SEARCH_NEW "))"
	"    WHERE new.role = 1;"
	"  INSERT OR IGNORE INTO search_docs"
	"    VALUES (new.id >> 11, zeroblob(8192));"
	"  UPDATE search_docs SET info = CASE WHEN new.role = 1"
	"    THEN mfs_search_doc(info, new.id, " SEARCH_NEW ")"
	"    ELSE mfs_search_doc(info, new.id) END"
	"    WHERE chunk = new.id >> 11;"
	"END;"
	/* a catalog of version 1: index what it has */
	"INSERT INTO search_fts (search_fts) VALUES ('rebuild');"
	"CREATE VIRTUAL TABLE temp.search_vocab USING fts5vocab (main,"
	"  search_fts, row);"
	"INSERT OR IGNORE INTO search_terms SELECT length(term), term"
	"  FROM temp.search_vocab;"
	"DROP TABLE temp.search_vocab;"
	"INSERT INTO search_docs SELECT id >> 11, mfs_search_docs(id, "
	SEARCH_COLS ") FROM search_src GROUP BY id >> 11;"
	"CREATE INDEX files_year ON files (year) WHERE role = 1;"
	"CREATE INDEX files_order ON files (album_key, disc, track, year)"
	"  WHERE role = 1;"
	"CREATE INDEX files_added ON files (added_at) WHERE role = 1;"
	"CREATE TABLE collections ("
	"  name TEXT PRIMARY KEY,"
	"  query TEXT NOT NULL,"
	"  builtin INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL) WITHOUT ROWID;";

/*
 * Version 3: the content-addressed chunk cache.  chunks: one row per
 * stored chunk (SHA-256, size, how many file ranges use it, last read for
 * LRU eviction, pinned while a trashed file needs it).  file_chunks: which
 * chunk holds bytes [offset, offset + length) of a file, per 4 MiB window,
 * for the file's content of modification time `stamp` (a window fetched
 * just before the file changed and recorded just after is never served
 * for the new content); rows of a file go when the file changes or goes,
 * and refs follow by trigger, so a chunk with refs = 0 is garbage.
 */
static const char schema_v3[] =
	"CREATE TABLE chunks ("
	"  hash BLOB PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  refs INTEGER NOT NULL DEFAULT 0,"
	"  last_access INTEGER NOT NULL,"
	"  pinned INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE INDEX chunks_lru ON chunks (last_access);"
	"CREATE TABLE file_chunks ("
	"  file INTEGER NOT NULL,"
	"  win INTEGER NOT NULL,"
	"  offset INTEGER NOT NULL,"
	"  length INTEGER NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  stamp INTEGER NOT NULL,"
	"  PRIMARY KEY (file, offset)) WITHOUT ROWID;"
	"CREATE INDEX file_chunks_hash ON file_chunks (hash);"
	"CREATE TRIGGER file_chunks_ai AFTER INSERT ON file_chunks BEGIN"
	"  UPDATE chunks SET refs = refs + 1 WHERE hash = new.hash;"
	"END;"
	"CREATE TRIGGER file_chunks_ad AFTER DELETE ON file_chunks BEGIN"
	"  UPDATE chunks SET refs = refs - 1 WHERE hash = old.hash;"
	"END;"
	"CREATE TRIGGER files_chunks_changed AFTER UPDATE OF size, mtime ON files"
	"  BEGIN DELETE FROM file_chunks WHERE file = old.id; END;"
	"CREATE TRIGGER files_chunks_gone AFTER DELETE ON files"
	"  BEGIN DELETE FROM file_chunks WHERE file = old.id; END;";

/*
 * Version 4: the checksum (XXH3-128) of each chunk's content, recorded
 * when the chunk is stored (from the same bytes as its SHA-256 name) and
 * checked on every read from disk; rows from before have none and are
 * checked against their SHA-256 name instead.
 */
static const char schema_v4[] = "ALTER TABLE chunks ADD COLUMN sum BLOB;";

static const char *const migrations[] = {
	NULL,		/* version 0: empty database */
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
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
