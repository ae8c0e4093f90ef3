/*
 * origins.h - where the music comes from: one interface, several backends.
 *
 * Owns: struct origin (one configured origin) and the handles it opens.
 * An origin is a const vtable (struct origin_ops) plus its state; a
 * backend leaves the methods it cannot offer NULL.  This issue provides
 * the local backend, which also serves NFS and SMB shares mounted by the
 * operating system.
 *
 * Threads: origin methods may be called from any thread at once (FUSE
 * workers, the scanner); backends keep no unguarded mutable state.
 * Memory: origin_open_* return an origin the caller frees with
 * origin_free; origin_file_open returns a handle released with
 * origin_file_close.
 */
#ifndef MFS_ORIGINS_ORIGINS_H
#define MFS_ORIGINS_ORIGINS_H

#include "common/mfs.h"
#include <sys/types.h>

struct origin;
struct origin_file;

/* One entry of a folder listing. */
struct origin_entry {
	const char *name;	/* valid during the callback only */
	bool is_dir;
	uint64_t size;
	int64_t mtime_ns;
};

struct origin_ops {
	unsigned version;	/* 1 */
	const char *type;	/* "local" */
	/* List folder reldir ("" = root); cb returns non-zero to stop. */
	int (*list_dir)(struct origin *o, const char *reldir,
			int (*cb)(void *ctx, const struct origin_entry *e),
			void *ctx);
	/* Size and mtime of relpath: -ENOENT if it is gone. */
	int (*stat)(struct origin *o, const char *relpath,
		    struct origin_entry *out);
	int (*open)(struct origin *o, const char *relpath,
		    struct origin_file **out);
	/* Read up to len bytes at off: bytes read (short only at EOF) or -errno. */
	ssize_t (*pread)(struct origin_file *f, void *buf, size_t len,
			 uint64_t off);
	/* Size and mtime of an open file (to detect a file that changed). */
	int (*fstat)(struct origin_file *f, struct origin_entry *out);
	/* A file descriptor the kernel can splice from, or -1. */
	int (*fd)(struct origin_file *f);
	void (*close)(struct origin_file *f);
	/* Is the origin reachable right now?  0 or -errno. */
	int (*probe)(struct origin *o);
	void (*free)(struct origin *o);
};

/* The part of every origin backend's state that callers see. */
struct origin {
	const struct origin_ops *ops;
	char *id;		/* config id, e.g. "local" */
	char *root;		/* local root path, or a URL for display */
	int64_t catalog_id;	/* row id in the catalog's origins table */
	int priority;
	bool cached;		/* reads go through the chunk cache */
};

/* A file opened through an origin. */
struct origin_file {
	struct origin *origin;
};

/*
 * Open a local origin rooted at path (a folder; NFS/SMB mounts included).
 * Fails with -ENOENT/-ENOTDIR/-EACCES if the folder cannot be opened now;
 * the caller may still keep the origin (it is then unhealthy).
 */
int origin_open_local(const char *id, const char *path, int priority,
		      struct origin **out);

/* Free an origin; NULL is accepted. */
void origin_free(struct origin *o);

/* Convenience wrappers over the vtable. */
int origin_list_dir(struct origin *o, const char *reldir,
		    int (*cb)(void *ctx, const struct origin_entry *e),
		    void *ctx);
int origin_stat(struct origin *o, const char *relpath,
		struct origin_entry *out);
int origin_file_open(struct origin *o, const char *relpath,
		     struct origin_file **out);
ssize_t origin_file_pread(struct origin_file *f, void *buf, size_t len,
			  uint64_t off);
int origin_file_fd(struct origin_file *f);
int origin_file_stat(struct origin_file *f, struct origin_entry *out);
void origin_file_close(struct origin_file *f);
int origin_probe(struct origin *o);

/* The absolute local path of relpath, or NULL if the origin is not local (caller frees). */
char *origin_local_path(struct origin *o, const char *relpath);

#endif
