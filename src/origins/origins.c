/*
 * origins.c - the generic side of origins: vtable wrappers.
 */
#include "common/mfs.h"
#include "origins/origins.h"

void origin_free(struct origin *o)
{
	if (o)
		o->ops->free(o);
}

int origin_list_dir(struct origin *o, const char *reldir,
		    int (*cb)(void *ctx, const struct origin_entry *e),
		    void *ctx)
{
	return o->ops->list_dir ? o->ops->list_dir(o, reldir, cb, ctx)
				: -EOPNOTSUPP;
}

int origin_stat(struct origin *o, const char *relpath,
		struct origin_entry *out)
{
	return o->ops->stat(o, relpath, out);
}

int origin_file_open(struct origin *o, const char *relpath,
		     struct origin_file **out)
{
	return o->ops->open(o, relpath, out);
}

ssize_t origin_file_pread(struct origin_file *f, void *buf, size_t len,
			  uint64_t off)
{
	return f->origin->ops->pread(f, buf, len, off);
}

int origin_file_fd(struct origin_file *f)
{
	return f->origin->ops->fd ? f->origin->ops->fd(f) : -1;
}

void origin_file_close(struct origin_file *f)
{
	if (f)
		f->origin->ops->close(f);
}

int origin_probe(struct origin *o)
{
	return o->ops->probe ? o->ops->probe(o) : 0;
}

int origin_file_stat(struct origin_file *f, struct origin_entry *out)
{
	return f->origin->ops->fstat ? f->origin->ops->fstat(f, out)
				     : -EOPNOTSUPP;
}
