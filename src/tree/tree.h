/*
 * tree.h - the virtual tree: where each track appears in the mount.
 *
 * Owns: the placement rules.  Given the files in the catalog, it renders
 * each track's path with the path template (template.c), and keeps the
 * vnodes table (catalog) equal to what the rules give, incrementally: a
 * file placed or unplaced touches only its own path, its album folder's
 * cover, and, when an album gains or loses its second disc, the album's
 * other tracks.  It merges folders whose names differ only by case or
 * Unicode normalization (shown with the most used spelling), gives two
 * tracks with the same path distinct names (" (2)"), and removes folders
 * left empty.
 *
 * The kernel caches names and attributes for a long time; every change
 * made here is recorded and sent to the listener (the FUSE module) by
 * tree_publish() once the transaction that made it is committed.
 *
 * Threads: a struct tree is used by the one thread that owns the writer
 * catalog connection (the scanner), inside that connection's
 * transactions.  The listener is called from that thread.
 */
#ifndef MFS_TREE_TREE_H
#define MFS_TREE_TREE_H

#include "common/mfs.h"
#include "catalog/catalog.h"

#define TREE_DEFAULT_TEMPLATE \
	"$albumartist/$album ($year) [$format_upper]/$track - $title.$format"

struct tree;

/* Where tree changes are announced (the kernel's caches, in practice). */
struct tree_listener {
	/* the name under parent appeared, vanished or now means another node */
	void (*inval_entry)(void *ctx, int64_t parent, const char *name);
	/* the node's attributes or, for a folder, its listing changed */
	void (*inval_inode)(void *ctx, int64_t ino);
	void *ctx;
};

/*
 * Make a tree that places files through the writer connection with the
 * given path template (NULL: TREE_DEFAULT_TEMPLATE).  -EINVAL with a
 * message in err if the template does not compile.  Caller frees with
 * tree_free.
 */
int tree_new(struct catalog *writer, const char *template_text,
	     struct tree **out, char *err, size_t errsize);

void tree_free(struct tree *t);

/*
 * The key under which a name is looked up among its siblings (Unicode NFC
 * and case folding: "Boredoms" and "BOREDOMS" are one folder).  Caller
 * frees; NULL on ENOMEM.  Any thread.
 */
char *tree_fold_name(const char *name);

/*
 * name made a valid folder or file name by the rules of the tree's names
 * (no '/', no control characters, NFC, at most 255 bytes, ...; with
 * keep_ext a final ".ext" survives the cut).  Caller frees; NULL on
 * ENOMEM.  Any thread.
 */
char *tree_sanitize_name(const char *name, bool keep_ext);

/* Check a template without making a tree (config validation). */
int tree_template_check(const char *template_text, char *err, size_t errsize);

void tree_set_listener(struct tree *t, const struct tree_listener *l);

/*
 * If the catalog's tree was built with another template, rebuild it all.
 * Call inside a transaction, before placing anything.
 */
int tree_sync_template(struct tree *t);

/*
 * The album grouping key of a track's tags (album artist, else artist, and
 * album, case folded): caller frees; NULL on ENOMEM.
 */
char *tree_album_key(const struct formats_tags *tags);

/*
 * Show the catalog file in the tree (no-op for non-track files).  Call it
 * after the file's row was written (catalog_file_put).
 */
int tree_place(struct tree *t, int64_t file_id);

/*
 * Take the file out of the tree.  Call it *before* the file's row is
 * changed or deleted: it re-renders the old path to undo folder spellings.
 */
int tree_unplace(struct tree *t, int64_t file_id);

/*
 * The images in folder dir of origin changed: recompute the covers of the
 * albums with tracks from that folder.
 */
int tree_folder_images_changed(struct tree *t, int64_t origin,
			       const char *dir);

/*
 * Finish a batch, inside its transaction: re-place tracks of albums whose
 * multi-disc state changed, recompute covers and folder times.
 */
int tree_finish(struct tree *t);

/* After the commit: announce the batch's changes to the listener. */
void tree_publish(struct tree *t);

/* After a rollback: forget the batch's pending changes. */
void tree_discard(struct tree *t);

#endif
