/*
 * prefetch.h - read tracks of the mount into the chunk cache (the work of
 * the Prefetch RPC).
 *
 * Owns: one job thread per Prefetch call, its catalog reader, and the
 * progress the RPC streams.  prefetch_free cancels the job (between two
 * 1 MiB reads) and joins its thread: a client that goes away stops it.
 */
#ifndef MFS_CONTROL_PREFETCH_H
#define MFS_CONTROL_PREFETCH_H

#include "common/mfs.h"
#include "control/control.h"

struct prefetch_job;

struct prefetch_status {
	uint64_t files_total;
	uint64_t files_done;
	uint64_t bytes_total;
	uint64_t bytes_done;
	uint64_t files_skipped;	/* their origin is not read through the cache */
	uint64_t files_failed;	/* their origin could not be read */
	bool done;
};

/*
 * Resolve paths (of the mount: files or folders, every track below a
 * folder) and start reading them.  -ENOENT/-ENOTDIR with the path named in
 * err for a path that does not exist.
 */
int prefetch_start(const struct control_deps *deps, char *const *paths,
		   size_t n, struct prefetch_job **out, char *err,
		   size_t errsize);

void prefetch_get(struct prefetch_job *j, struct prefetch_status *out);

/* Cancel (if running), join and free; NULL accepted. */
void prefetch_free(struct prefetch_job *j);

#endif
