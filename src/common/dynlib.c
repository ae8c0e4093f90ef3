/*
 * dynlib.c - shared libraries loaded when first needed (see dynlib.h).
 */
#include "common/dynlib.h"

#include <dlfcn.h>

static void clear_all(const struct mfs_dynsym *syms, size_t n)
{
	void *none = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(syms[i].fn, &none, sizeof(none));
}

bool mfs_dynlib_load(const char *soname, const struct mfs_dynsym *syms,
		     size_t n, char *err, size_t errsize)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	void *sym;
	size_t i;

	if (!lib) {
		snprintf(err, errsize, "%s", dlerror());
		clear_all(syms, n);
		return false;
	}
	for (i = 0; i < n; i++) {
		sym = dlsym(lib, syms[i].name);
		if (!sym) {
			snprintf(err, errsize, "%s", dlerror());
			clear_all(syms, n);
			return false;
		}
		/* a function pointer from a void *: copied, not cast */
		memcpy(syms[i].fn, &sym, sizeof(sym));
	}
	return true;
}
