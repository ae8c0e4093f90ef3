/*
 * metrics_i.h - what the files of the metrics module share.
 *
 * metrics.c owns the text being rendered (struct metrics_out) and the
 * collectors; fuse_ops.c owns the FUSE statistics and writes them first
 * in every render; http.c serves the result.
 */
#ifndef MFS_METRICS_METRICS_I_H
#define MFS_METRICS_METRICS_I_H

#include "common/mfs.h"
#include "common/buf.h"
#include "metrics/metrics.h"

/* Largest rendered text. */
#define METRICS_MAX_TEXT ((size_t)16 << 20)

struct metrics_out {
	struct buf text;
	int err;		/* first allocation error, sticky */
	char bad_name[80];	/* first invalid name written, for the log */
};

/* Write the musicfs_fuse_* families. */
void metrics_fuse_render(struct metrics_out *out);

#endif
