/*
 * synth.c - the format-independent side of header synthesis.
 *
 * formats_synthesize() picks the backend of the file's kind and lets it
 * describe the new file as segments.  Synthesized bytes are appended to
 * one growing buffer (out->mem) and segments refer to it by offset while
 * it grows; formats_synth_finish turns the offsets into pointers once the
 * buffer stops moving.
 */
#include "common/mfs.h"
#include "formats/formats_i.h"

/* Caps what one synthesized header may hold (tags plus a picture). */
#define FORMATS_MAX_SYNTH_BYTES (FORMATS_MAX_TAG_BYTES + (64u << 20))

static const struct formats_ops *const synth_backends[] = {
	&formats_flac_ops, &formats_mp3_ops, &formats_adts_ops,
	&formats_ogg_ops, &formats_wav_ops, &formats_mp4_ops,
};

static int add_segment(struct formats_synth *out,
		       const struct formats_segment *seg)
{
	struct formats_segment *p;

	if (seg->length == 0)
		return 0;
	p = realloc(out->segs, (out->n_segs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	out->segs = p;
	out->segs[out->n_segs++] = *seg;
	out->size += seg->length;
	return 0;
}

int formats_synth_add_bytes(struct formats_synth *out, const void *p,
			    size_t len)
{
	struct formats_segment seg = { 0 };
	uint8_t *mem;

	if (len > FORMATS_MAX_SYNTH_BYTES - out->mem_len)
		return -EFBIG;
	if (len == 0)
		return 0;
	if (len > out->mem_alloc - out->mem_len) {
		/* grow geometrically: a header is built from many small parts */
		size_t want = MFS_MAX(out->mem_len + len, out->mem_alloc * 2);

		mem = realloc(out->mem, MFS_MAX(want, (size_t)4096));
		if (!mem)
			return -ENOMEM;
		out->mem = mem;
		out->mem_alloc = MFS_MAX(want, (size_t)4096);
	}
	memcpy(out->mem + out->mem_len, p, len);
	/* an offset for now: pointers are fixed in finish_pointers() */
	seg.data = (const uint8_t *)(uintptr_t)(out->mem_len + 1);
	seg.length = len;
	out->mem_len += len;
	return add_segment(out, &seg);
}

int formats_synth_add_origin(struct formats_synth *out, uint64_t offset,
			     uint64_t length)
{
	struct formats_segment seg = { 0 };

	seg.src_offset = offset;
	seg.length = length;
	return add_segment(out, &seg);
}

int formats_read_exact(const struct formats_source *src, uint64_t off,
		       void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	if (off > src->size || len > src->size - off)
		return -EBADMSG;
	while (len) {
		n = src->read_at(src->ctx, p, len, off);
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EBADMSG;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Turn the byte segments' offsets (+1, so 0 stays "origin") into pointers. */
static void finish_pointers(struct formats_synth *out)
{
	size_t i;

	for (i = 0; i < out->n_segs; i++)
		if (out->segs[i].data)
			out->segs[i].data =
				out->mem + ((uintptr_t)out->segs[i].data - 1);
}

int formats_synthesize(const struct formats_source *src,
		       const struct formats_meta *orig,
		       const struct formats_tags *tags,
		       const struct formats_picture *picture,
		       struct formats_synth *out)
{
	const struct formats_ops *ops = NULL;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < MFS_ARRAY_SIZE(synth_backends); i++)
		if (synth_backends[i]->kind == orig->kind)
			ops = synth_backends[i];
	/* Ogg Opus shares the Ogg backend */
	if (!ops && orig->kind == FORMATS_OPUS)
		ops = &formats_ogg_ops;
	if (!ops || !ops->synthesize)
		return -ENOTSUP;
	rc = ops->synthesize(src, orig, tags, picture, out);
	if (rc) {
		formats_synth_release(out);
		return rc;
	}
	finish_pointers(out);
	return 0;
}

void formats_synth_release(struct formats_synth *synth)
{
	free(synth->segs);
	free(synth->mem);
	memset(synth, 0, sizeof(*synth));
}
