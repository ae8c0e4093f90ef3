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

	atomic_uint_fast64_t open_handles;
	atomic_uint_fast64_t in_flight;	/* handlers running now */
	atomic_bool draining;		/* graceful shutdown: no new opens */

	pthread_mutex_t pool_lock;
	/* protected by pool_lock: idle reader connections */
	struct catalog *pool[MFS_FUSE_POOL_MAX];
	size_t pool_n;
};

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
