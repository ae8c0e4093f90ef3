/*
 * dynlib.h - shared libraries loaded when first needed, not linked.
 *
 * Owns nothing but the loading: a library that only the daemon uses
 * (libsystemd for the journal and sd_notify, libmicrohttpd for /metrics)
 * would otherwise be mapped and relocated, with everything it pulls in,
 * by every start of musicfs, CLI commands included (libsystemd and its six
 * libraries: 0.6-0.8 ms of each start on the development machine).
 */
#ifndef MFS_COMMON_DYNLIB_H
#define MFS_COMMON_DYNLIB_H

#include "common/mfs.h"

/* A function to look up: name, and where its address goes (a function
 * pointer of the right type, passed as its address). */
struct mfs_dynsym {
	const char *name;
	void *fn;
};

/*
 * dlopen(soname) (never closed: threads of the library may outlive its
 * users) and look up every symbol: all or none.  true when all were found;
 * otherwise every function pointer is NULL and err says why.
 */
bool mfs_dynlib_load(const char *soname, const struct mfs_dynsym *syms,
		     size_t n, char *err, size_t errsize);

#endif
