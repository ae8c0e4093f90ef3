/*
 * reflection_index.c - split a FileDescriptorSet into its files and index
 * their symbols (see reflection_i.h).
 *
 * The set is split by hand (it is one repeated field) so that each file
 * stays a pointer into the set's bytes; protobuf-c's descriptor.proto code
 * unpacks each file once, only to read its names, and is freed again.
 */
#include "common/mfs.h"
#include "common/byte_reader.h"
#include "common/str.h"
#include "control/descriptor.pb-c.h"
#include "control/reflection_i.h"

#include <stdlib.h>
#include <string.h>


/* Protobuf wire types, and the key of FileDescriptorSet.file (field 1). */
enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };
#define SET_FILE_KEY ((1u << 3) | WIRE_LEN)

struct refl_file {
	const uint8_t *data;	/* into the set: not owned */
	size_t len;
	char *name;
	size_t *deps;		/* indexes into files */
	size_t n_deps;
};

struct refl_symbol {
	char *name;
	size_t file;
	bool service;
};

struct refl_index {
	struct refl_file *files;
	size_t n_files;
	struct refl_symbol *symbols;	/* sorted by name once built */
	size_t n_symbols, cap_symbols;
	const char **services;		/* names owned by symbols */
	size_t n_services;
};

/* ---- splitting the set ------------------------------------------------ */

/* A base-128 varint; sets r->failed if it is cut short or too long. */
static uint64_t read_varint(struct byte_reader *r)
{
	uint64_t v = 0;
	unsigned shift;
	uint8_t b;

	for (shift = 0; shift < 64; shift += 7) {
		b = byte_reader_u8(r);	/* 0 once past the end: stops */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->failed = true;
	return 0;
}

/* Skip the value of a field of another number than file's. */
static int skip_value(struct byte_reader *r, unsigned wire)
{
	uint64_t n;

	switch (wire) {
	case WIRE_VARINT:
		read_varint(r);
		return r->failed ? -EBADMSG : 0;
	case WIRE_I64:
		return byte_reader_skip(r, 8);
	case WIRE_LEN:
		n = read_varint(r);
		if (r->failed || n > byte_reader_left(r))
			return -EBADMSG;
		return byte_reader_skip(r, (size_t)n);
	case WIRE_I32:
		return byte_reader_skip(r, 4);
	}
	return -EBADMSG;
}

/*
 * Count the files of the set in *n and, if files is not NULL, record where
 * each one's bytes are.  Run twice, so the table is allocated once.
 */
static int split_set(const uint8_t *set, size_t len, struct refl_file *files,
		     size_t *n)
{
	struct byte_reader r;
	uint64_t key, flen;
	size_t count = 0;

	byte_reader_init(&r, set, len);
	while (byte_reader_left(&r)) {
		key = read_varint(&r);
		if (r.failed)
			return -EBADMSG;
		if (key != SET_FILE_KEY) {
			if (skip_value(&r, (unsigned)(key & 7)))
				return -EBADMSG;
			continue;
		}
		flen = read_varint(&r);
		if (r.failed || flen > byte_reader_left(&r))
			return -EBADMSG;
		if (files) {
			files[count].data = byte_reader_ptr(&r);
			files[count].len = (size_t)flen;
		}
		byte_reader_skip(&r, (size_t)flen);
		count++;
	}
	*n = count;
	return 0;
}

/* Split the set and unpack each file into protos[] (the caller frees it,
 * with free_protos, whatever the result). */
static int load_files(struct refl_index *ix, const uint8_t *set, size_t len,
		      Google__Protobuf__FileDescriptorProto ***protos)
{
	Google__Protobuf__FileDescriptorProto **fp;
	size_t i, n;
	int rc = split_set(set, len, NULL, &n);

	if (rc || n == 0)
		return rc;
	ix->files = calloc(n, sizeof(*ix->files));
	fp = calloc(n, sizeof(*fp));
	*protos = fp;
	if (!ix->files || !fp)
		return -ENOMEM;
	ix->n_files = n;
	split_set(set, len, ix->files, &n);	/* same bytes: succeeds */
	for (i = 0; i < n; i++) {
		fp[i] = google__protobuf__file_descriptor_proto__unpack(
			NULL, ix->files[i].len, ix->files[i].data);
		if (!fp[i] || str_empty(fp[i]->name))
			return -EBADMSG;
		ix->files[i].name = str_dup(fp[i]->name);
		if (!ix->files[i].name)
			return -ENOMEM;
	}
	return 0;
}

static void free_protos(Google__Protobuf__FileDescriptorProto **protos,
			size_t n)
{
	size_t i;

	for (i = 0; protos && i < n; i++)
		if (protos[i])
			google__protobuf__file_descriptor_proto__free_unpacked(
				protos[i], NULL);
	free(protos);
}

/* Dependencies by index; every one must be in the set (--include_imports). */
static int resolve_deps(struct refl_index *ix, size_t file,
			const Google__Protobuf__FileDescriptorProto *fp)
{
	struct refl_file *f = &ix->files[file];
	ssize_t d;
	size_t i;

	if (fp->n_dependency == 0)
		return 0;
	f->deps = calloc(fp->n_dependency, sizeof(*f->deps));
	if (!f->deps)
		return -ENOMEM;
	for (i = 0; i < fp->n_dependency; i++) {
		d = refl_find_file(ix, fp->dependency[i]);
		if (d < 0)
			return -ENOENT;
		f->deps[f->n_deps++] = (size_t)d;
	}
	return 0;
}

/* ---- symbols ---------------------------------------------------------- */

/* Add scope.name (just name in the empty scope); *full, if asked, gets
 * the stored name, to be the scope of what the symbol contains. */
static int add_symbol(struct refl_index *ix, const char *scope,
		      const char *name, size_t file, bool service,
		      const char **full)
{
	struct refl_symbol *grown;
	size_t cap;
	char *s;

	if (str_empty(name))
		return -EBADMSG;
	if (ix->n_symbols == ix->cap_symbols) {
		cap = ix->cap_symbols ? 2 * ix->cap_symbols : 64;
		grown = realloc(ix->symbols, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		ix->symbols = grown;
		ix->cap_symbols = cap;
	}
	s = *scope ? str_printf("%s.%s", scope, name) : str_dup(name);
	if (!s)
		return -ENOMEM;
	ix->symbols[ix->n_symbols++] = (struct refl_symbol){ s, file, service };
	if (full)
		*full = s;
	return 0;
}

static int index_fields(struct refl_index *ix, const char *scope,
			Google__Protobuf__FieldDescriptorProto *const *fields,
			size_t n, size_t file)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n; i++)
		rc = add_symbol(ix, scope, fields[i]->name, file, false, NULL);
	return rc;
}

static int index_enum(struct refl_index *ix, const char *scope,
		      const Google__Protobuf__EnumDescriptorProto *e,
		      size_t file)
{
	size_t i;
	int rc = add_symbol(ix, scope, e->name, file, false, NULL);

	/* values are siblings of their enum in protobuf's scoping:
	 * musicfs.v1.TASK_STATE_RUNNING, not musicfs.v1.TaskState.... */
	for (i = 0; !rc && i < e->n_value; i++)
		rc = add_symbol(ix, scope, e->value[i]->name, file, false,
				NULL);
	return rc;
}

static int index_message(struct refl_index *ix, const char *scope,
			 const Google__Protobuf__DescriptorProto *m,
			 size_t file)
{
	const char *name;
	size_t i;
	int rc = add_symbol(ix, scope, m->name, file, false, &name);

	if (!rc)
		rc = index_fields(ix, name, m->field, m->n_field, file);
	if (!rc)
		rc = index_fields(ix, name, m->extension, m->n_extension,
				  file);
	for (i = 0; !rc && i < m->n_oneof_decl; i++)
		rc = add_symbol(ix, name, m->oneof_decl[i]->name, file, false,
				NULL);
	for (i = 0; !rc && i < m->n_nested_type; i++)
		rc = index_message(ix, name, m->nested_type[i], file);
	for (i = 0; !rc && i < m->n_enum_type; i++)
		rc = index_enum(ix, name, m->enum_type[i], file);
	return rc;
}

static int index_service(struct refl_index *ix, const char *scope,
			 const Google__Protobuf__ServiceDescriptorProto *s,
			 size_t file)
{
	const char *name;
	size_t i;
	int rc = add_symbol(ix, scope, s->name, file, true, &name);

	for (i = 0; !rc && i < s->n_method; i++)
		rc = add_symbol(ix, name, s->method[i]->name, file, false,
				NULL);
	return rc;
}

static int index_file(struct refl_index *ix, size_t file,
		      const Google__Protobuf__FileDescriptorProto *fp)
{
	const char *pkg = fp->package ? fp->package : "";
	size_t i;
	int rc = index_fields(ix, pkg, fp->extension, fp->n_extension, file);

	for (i = 0; !rc && i < fp->n_message_type; i++)
		rc = index_message(ix, pkg, fp->message_type[i], file);
	for (i = 0; !rc && i < fp->n_enum_type; i++)
		rc = index_enum(ix, pkg, fp->enum_type[i], file);
	for (i = 0; !rc && i < fp->n_service; i++)
		rc = index_service(ix, pkg, fp->service[i], file);
	return rc;
}

static int cmp_symbols(const void *a, const void *b)
{
	return strcmp(((const struct refl_symbol *)a)->name,
		      ((const struct refl_symbol *)b)->name);
}

/* Sort the symbols for bsearch; list the services (in that order). */
static int finish_symbols(struct refl_index *ix)
{
	size_t i;

	if (ix->n_symbols == 0)
		return 0;
	qsort(ix->symbols, ix->n_symbols, sizeof(*ix->symbols), cmp_symbols);
	ix->services = calloc(ix->n_symbols, sizeof(*ix->services));
	if (!ix->services)
		return -ENOMEM;
	for (i = 0; i < ix->n_symbols; i++)
		if (ix->symbols[i].service)
			ix->services[ix->n_services++] = ix->symbols[i].name;
	return 0;
}

/* ---- the API ---------------------------------------------------------- */

int refl_index_build(const uint8_t *set, size_t len, struct refl_index **out)
{
	struct refl_index *ix = calloc(1, sizeof(*ix));
	Google__Protobuf__FileDescriptorProto **protos = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (!ix)
		return -ENOMEM;
	rc = load_files(ix, set, len, &protos);
	/* names first, all of them: a file may import one listed later */
	for (i = 0; !rc && i < ix->n_files; i++)
		rc = resolve_deps(ix, i, protos[i]);
	for (i = 0; !rc && i < ix->n_files; i++)
		rc = index_file(ix, i, protos[i]);
	if (!rc)
		rc = finish_symbols(ix);
	free_protos(protos, ix->n_files);
	if (rc) {
		refl_index_free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

void refl_index_free(struct refl_index *ix)
{
	size_t i;

	if (!ix)
		return;
	for (i = 0; i < ix->n_files; i++) {
		free(ix->files[i].name);
		free(ix->files[i].deps);
	}
	for (i = 0; i < ix->n_symbols; i++)
		free(ix->symbols[i].name);
	free(ix->files);
	free(ix->symbols);
	free(ix->services);
	free(ix);
}

size_t refl_file_count(const struct refl_index *ix)
{
	return ix->n_files;
}

const char *refl_file_name(const struct refl_index *ix, size_t file)
{
	return ix->files[file].name;
}

const uint8_t *refl_file_bytes(const struct refl_index *ix, size_t file,
			       size_t *len)
{
	*len = ix->files[file].len;
	return ix->files[file].data;
}

ssize_t refl_find_file(const struct refl_index *ix, const char *name)
{
	size_t i;

	/* a handful of files: no table needed */
	for (i = 0; i < ix->n_files; i++)
		if (!strcmp(ix->files[i].name, name))
			return (ssize_t)i;
	return -ENOENT;
}

static int cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct refl_symbol *)elem)->name);
}

ssize_t refl_find_symbol(const struct refl_index *ix, const char *symbol)
{
	const struct refl_symbol *s;

	if (ix->n_symbols == 0)
		return -ENOENT;
	s = bsearch(symbol, ix->symbols, ix->n_symbols, sizeof(*s), cmp_key);
	return s ? (ssize_t)s->file : -ENOENT;
}

static bool holds(const size_t *list, size_t n, size_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

size_t refl_closure(const struct refl_index *ix, size_t file, size_t *out)
{
	const struct refl_file *f;
	size_t n = 0, head, i;

	/* breadth first, out[] doubling as the queue; each file enters it
	 * once, so it never holds more than n_files */
	out[n++] = file;
	for (head = 0; head < n; head++) {
		f = &ix->files[out[head]];
		for (i = 0; i < f->n_deps; i++)
			if (!holds(out, n, f->deps[i]))
				out[n++] = f->deps[i];
	}
	return n;
}

size_t refl_service_count(const struct refl_index *ix)
{
	return ix->n_services;
}

const char *refl_service_name(const struct refl_index *ix, size_t i)
{
	return ix->services[i];
}
