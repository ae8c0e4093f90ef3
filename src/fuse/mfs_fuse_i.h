/*
 * mfs_fuse_i.h - internals shared by the handlers in src/fuse/.
 */
#ifndef MFS_FUSE_MFS_FUSE_I_H
#define MFS_FUSE_MFS_FUSE_I_H

#include "common/mfs.h"
#include "catalog/catalog.h"
#include "fuse/mfs_fuse.h"
#include "scan/scan.h"
#include "vfile/vfile.h"

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>

#define MFS_FUSE_POOL_MAX 64

/*
 * Pushing verified chunks to the page cache (file.c): for reads up to
 * AROUND_READ_MAX (larger ones are the kernel's read-ahead, which asks
 * for the next bytes itself), from at most AROUND_SLOTS threads at once
 * (each may wait for page locks of reads in flight, whose replies need
 * free workers), through buffers of AROUND_CAP bytes.
 */
#define MFS_FUSE_AROUND_READ_MAX (128u << 10)
#define MFS_FUSE_AROUND_SLOTS 4
#define MFS_FUSE_AROUND_CAP (640u << 10)

/*
 * Inode numbers from here up are virtual nodes (virt.c): /.search, search
 * and collection folders and their symlinks.  Catalog vnodes are numbered
 * from 1 by AUTOINCREMENT and never come near (virt.c assumes < 2^40).
 */
#define MFS_FUSE_VIRT_BASE ((fuse_ino_t)1 << 62)

struct mfs_fuse_virt;

struct mfs_fuse {
	struct fuse_session *se;
	struct mfs_fuse_config cfg;
	char *mountpoint;
	char *db_path;
	struct scan *scan;		/* set once before the loop runs */
	bool mounted;
	uid_t uid;
	gid_t gid;
	pthread_t loop_thread;		/* runs mfs_fuse_loop: signalled to end it */

	pthread_mutex_t handles_lock;
	struct mfs_fuse_handle *handles;	/* open files (handles_lock) */
	atomic_uint_fast64_t open_handles;
	atomic_uint_fast64_t in_flight;	/* handlers running now */
	atomic_bool draining;		/* graceful shutdown: no new opens */

	pthread_mutex_t pool_lock;
	/* protected by pool_lock: idle reader connections */
	struct catalog *pool[MFS_FUSE_POOL_MAX];
	size_t pool_n;

	struct mfs_fuse_virt *virt;	/* search folders (virt.c) */

	pthread_mutex_t around_lock;
	/* protected by around_lock: idle buffers of file.c's pushes */
	uint8_t *around_idle[MFS_FUSE_AROUND_SLOTS];
	size_t around_n;	/* idle ones */
	size_t around_made;	/* allocated (idle or in use) */
};

/* Free the buffers of the pushes (at the end of the session). */
void mfs_fuse_around_free(struct mfs_fuse *f);

static inline bool mfs_fuse_is_virt(fuse_ino_t ino)
{
	return ino >= MFS_FUSE_VIRT_BASE;
}

/* An open file: fi->fh points to one. */
struct mfs_fuse_handle {
	struct vfile *vf;
	struct mfs_fuse_handle *prev, *next;
};

/* Close the files the kernel never released (at the end of the session). */
void mfs_fuse_close_handles(struct mfs_fuse *f);

/* The daemon state behind a request. */
static inline struct mfs_fuse *mfs_fuse_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Borrow a reader connection (NULL on failure) and give it back. */
struct catalog *mfs_fuse_reader_get(struct mfs_fuse *f);
void mfs_fuse_reader_put(struct mfs_fuse *f, struct catalog *c);

/* Fill st from a vnode. */
void mfs_fuse_fill_attr(const struct mfs_fuse *f, const struct catalog_vnode *v,
			struct stat *st);

/* Fill an entry reply from a vnode. */
void mfs_fuse_fill_entry(const struct mfs_fuse *f,
			 const struct catalog_vnode *v,
			 struct fuse_entry_param *e);

/* Tell the kernel to forget a name or a node's attributes and pages. */
void mfs_fuse_inval_entry(struct mfs_fuse *f, int64_t parent,
			  const char *name);
void mfs_fuse_inval_inode(struct mfs_fuse *f, int64_t ino);

/* ---- virtual nodes (virt.c) ---- */

int mfs_fuse_virt_new(struct mfs_fuse *f);
void mfs_fuse_virt_free(struct mfs_fuse *f);

/* Handlers for virtual inodes (and lookups in virtual folders). */
void mfs_fuse_virt_lookup(fuse_req_t req, fuse_ino_t parent,
			  const char *name);
void mfs_fuse_virt_getattr(fuse_req_t req, fuse_ino_t ino);
void mfs_fuse_readlink(fuse_req_t req, fuse_ino_t ino);
void mfs_fuse_virt_forget(struct mfs_fuse *f, fuse_ino_t ino,
			  uint64_t nlookup);

/*
 * List virtual folder ino from offset off through add (which returns 1
 * when the buffer is full).  0, or -errno before any entry.
 */
int mfs_fuse_virt_list(struct mfs_fuse *f, fuse_ino_t ino, off_t off,
		       int (*add)(void *ctx, const char *name,
				  const struct fuse_entry_param *e,
				  off_t next),
		       void *ctx);

/* A root name the catalog does not have: /.search or a collection. */
int mfs_fuse_virt_root_lookup(struct mfs_fuse *f, struct catalog *c,
			      const char *name, struct fuse_entry_param *e);

/* Is off past the catalog's children of the root (the collections)? */
bool mfs_fuse_virt_root_offset(off_t off);

/* The collections of the root listing, from offset off on (as above). */
int mfs_fuse_virt_root_list(struct mfs_fuse *f, struct catalog *c, off_t off,
			    bool plus,
			    int (*add)(void *ctx, const char *name,
				       const struct fuse_entry_param *e,
				       off_t next),
			    void *ctx);

/* A collection appeared or went: its root names and the root listing. */
void mfs_fuse_virt_root_changed(struct mfs_fuse *f, const char *name);

/* The tree changed root name `name`: a collection of that name moves. */
void mfs_fuse_virt_root_entry_changed(struct mfs_fuse *f, const char *name);

/* The origin whose catalog id is id, or NULL. */
struct origin *mfs_fuse_origin(const struct mfs_fuse *f, int64_t id);

/* Handlers, by file. */
void mfs_fuse_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void mfs_fuse_getattr(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void mfs_fuse_opendir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void mfs_fuse_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);
void mfs_fuse_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi);
void mfs_fuse_releasedir(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi);
void mfs_fuse_statfs(fuse_req_t req, fuse_ino_t ino);
void mfs_fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mfs_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void mfs_fuse_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void mfs_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size);
void mfs_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
