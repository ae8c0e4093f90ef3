/*
 * fdio.h - reads and writes of a whole buffer, past short counts and EINTR.
 *
 * Owns nothing: the loops every caller of read(2), pread(2) and write(2)
 * on a file needs, written once.
 */
#ifndef MFS_COMMON_FDIO_H
#define MFS_COMMON_FDIO_H

#include "common/mfs.h"

/* read(2) until len bytes or end of file: the count, or -errno. */
ssize_t mfs_read_full(int fd, void *buf, size_t len);

/* pread(2) at off until len bytes or end of file: the count, or -errno
 * (-EINVAL for an offset past what off_t holds). */
ssize_t mfs_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* write(2) all of buf: 0, or -errno (-EIO if the file takes nothing). */
int mfs_write_full(int fd, const void *buf, size_t len);

#endif
