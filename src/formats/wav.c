/*
 * wav.c - RIFF WAVE (and RF64): technical info, LIST/INFO and "id3 " tags.
 *
 * A WAVE file is "RIFF" size "WAVE" and then chunks (4-byte id, 32-bit
 * little-endian size, the body, a pad byte when the size is odd).  Only
 * chunk headers are read while walking; the bodies read are "fmt " (rate,
 * channels, byte rate), LIST/INFO and an ID3v2 tag in an "id3 "/"ID3 "
 * chunk.  ID3v2 wins over INFO, which only fills fields still empty.  The
 * audio is the body of the "data" chunk.  RF64 stores the sizes that do
 * not fit in 32 bits in its "ds64" chunk.
 *
 * Caveat: a chunk whose size runs past the end of the file ends the walk
 * (a "data" chunk then ends at the end of the file).
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

#include <strings.h>

/* Chunks looked at, at most. */
#define WAV_MAX_CHUNKS 4096
/* Largest LIST chunk read. */
#define WAV_MAX_LIST ((size_t)1 << 20)

static const char wav_info_keys[][2][12] = {
	{ "INAM", "TITLE" },	  { "IART", "ARTIST" },
	{ "IPRD", "ALBUM" },	  { "ICMT", "COMMENT" },
	{ "IGNR", "GENRE" },	  { "ICRD", "DATE" },
	{ "ITRK", "TRACKNUMBER" }, { "IPRT", "TRACKNUMBER" },
	{ "IMUS", "COMPOSER" },	  { "IWRI", "COMPOSER" },
};

struct wav_state {
	struct formats_ctx *ctx;
	uint64_t data_off;	/* of the data body, 0 if none */
	uint64_t data_len;
	uint64_t ds64_data;	/* RF64: the real data size */
	uint32_t byte_rate;
	uint64_t id3_off;	/* of the "id3 " body, 0 if none */
	uint64_t id3_len;
	uint64_t list_off;	/* of the first LIST INFO body, 0 if none */
	uint64_t list_len;
	bool rf64;
};

static bool wav_probe(const struct formats_ctx *ctx MFS_UNUSED,
		      const uint8_t *p, size_t n)
{
	return n >= 12 &&
	       (!memcmp(p, "RIFF", 4) || !memcmp(p, "RF64", 4)) &&
	       !memcmp(p + 8, "WAVE", 4);
}

static int wav_fmt(struct wav_state *w, uint64_t off, uint64_t len)
{
	struct formats_meta *m = w->ctx->meta;
	struct formats_chunk c;
	struct byte_reader r;
	int rc;

	if (len < 16)
		return 0;
	rc = formats_fetch(w->ctx, off, 16, &c);
	if (!rc && c.len == 16) {
		byte_reader_init(&r, c.p, c.len);
		byte_reader_le16(&r);	/* format tag */
		m->channels = byte_reader_le16(&r);
		m->sample_rate = byte_reader_le32(&r);
		w->byte_rate = byte_reader_le32(&r);
	}
	formats_chunk_release(&c);
	return rc;
}

/* RF64: riff size (8), data size (8), sample count (8), ... */
static int wav_ds64(struct wav_state *w, uint64_t off, uint64_t len)
{
	struct formats_chunk c;
	struct byte_reader r;
	int rc;

	if (len < 24)
		return 0;
	rc = formats_fetch(w->ctx, off, 24, &c);
	if (!rc && c.len == 24) {
		byte_reader_init(&r, c.p + 8, 8);
		w->ds64_data = byte_reader_le64(&r);
	}
	formats_chunk_release(&c);
	return rc;
}

/* The INFO items of a LIST chunk body. */
static int wav_info(struct formats_ctx *ctx, const uint8_t *p, size_t n)
{
	struct byte_reader r;
	const uint8_t *id;
	const uint8_t *v;
	const char *key;
	char raw[5];
	uint32_t len;
	size_t next;
	size_t i;
	int rc = 0;

	byte_reader_init(&r, p, n);
	byte_reader_skip(&r, 4);	/* "INFO" */
	formats_tag_begin(ctx);
	while (!rc && byte_reader_left(&r) >= 8) {
		byte_reader_bytes(&r, 4, &id);
		len = byte_reader_le32(&r);
		if (byte_reader_bytes(&r, len, &v))
			break;
		byte_reader_skip(&r, len & 1);
		for (i = 0; i < 4; i++)
			raw[i] = id[i] > 0x20 && id[i] < 0x7f ? (char)id[i] :
								 '_';
		raw[4] = '\0';
		key = raw;
		for (i = 0; i < MFS_ARRAY_SIZE(wav_info_keys); i++)
			if (!memcmp(id, wav_info_keys[i][0], 4))
				key = wav_info_keys[i][1];
		len = (uint32_t)formats_text_len(FORMATS_ENC_LATIN1, v, len,
						 &next);
		rc = formats_tag_add_text(ctx, key, formats_text_guess(v, len),
					  v, len, FORMATS_TAG_IF_EMPTY);
	}
	return rc;
}

static int wav_chunk(struct wav_state *w, const uint8_t *id, uint64_t off,
		     uint64_t len)
{
	struct formats_chunk c;
	int rc = 0;

	if (!memcmp(id, "fmt ", 4))
		return wav_fmt(w, off, len);
	if (!memcmp(id, "ds64", 4))
		return wav_ds64(w, off, len);
	if (!memcmp(id, "data", 4) && !w->data_off) {
		w->data_off = off;
		w->data_len = len;
	} else if ((!memcmp(id, "id3 ", 4) || !memcmp(id, "ID3 ", 4)) &&
		   !w->id3_off) {
		w->id3_off = off;
		w->id3_len = len;
	} else if (!memcmp(id, "LIST", 4) && !w->list_off && len >= 4) {
		rc = formats_fetch(w->ctx, off, 4, &c);
		if (!rc && c.len == 4 && !memcmp(c.p, "INFO", 4)) {
			w->list_off = off;
			w->list_len = len;
		}
		formats_chunk_release(&c);
	}
	return rc;
}

static int wav_walk(struct wav_state *w)
{
	uint64_t size = w->ctx->src->size;
	uint64_t off = w->ctx->start + 12;
	struct formats_chunk c;
	uint8_t id[4];
	uint64_t len;
	unsigned n;
	int rc = 0;

	for (n = 0; n < WAV_MAX_CHUNKS && !rc; n++) {
		rc = formats_fetch(w->ctx, off, 8, &c);
		if (rc || c.len < 8) {
			formats_chunk_release(&c);
			break;
		}
		memcpy(id, c.p, 4);
		len = (uint64_t)c.p[4] | (uint64_t)c.p[5] << 8 |
		      (uint64_t)c.p[6] << 16 | (uint64_t)c.p[7] << 24;
		formats_chunk_release(&c);
		if (w->rf64 && !memcmp(id, "data", 4) && w->ds64_data)
			len = w->ds64_data;
		off += 8;
		if (len > size - off) {
			/* a cut file or a streamed header: up to the end */
			rc = wav_chunk(w, id, off, size - off);
			break;
		}
		rc = wav_chunk(w, id, off, len);
		off += len + (len & 1);
	}
	return rc;
}

static int wav_tags(struct wav_state *w)
{
	struct formats_chunk c;
	int rc = 0;

	if (w->id3_off)
		rc = formats_id3v2_parse(w->ctx, w->id3_off, w->id3_len, 0);
	if (rc || !w->list_off)
		return rc;
	rc = formats_fetch(w->ctx, w->list_off,
			   (size_t)MFS_MIN(w->list_len, WAV_MAX_LIST), &c);
	if (!rc)
		rc = wav_info(w->ctx, c.p, c.len);
	formats_chunk_release(&c);
	return rc;
}

static int wav_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	struct formats_chunk c;
	struct wav_state w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	rc = formats_fetch(ctx, ctx->start, 4, &c);
	w.rf64 = !rc && c.len == 4 && !memcmp(c.p, "RF64", 4);
	formats_chunk_release(&c);
	if (!rc)
		rc = wav_walk(&w);
	if (!rc)
		rc = wav_tags(&w);
	if (rc)
		return rc;
	if (!w.data_off)
		return -EBADMSG;
	m->audio_start = w.data_off;
	m->audio_end = w.data_off + w.data_len;
	if (w.byte_rate) {
		m->duration = (double)w.data_len / w.byte_rate;
		m->bitrate = w.byte_rate <= UINT32_MAX / 8 ? w.byte_rate * 8 :
							      0;
	}
	return 0;
}

/* ---- synthesis --------------------------------------------------------- */

/*
 * The new file keeps the chunks of the origin in their order (those bytes
 * are origin ranges), drops every LIST/INFO and ID3 chunk, and puts one
 * new "id3 " chunk right before "data": an ID3v2.4 tag (made by id3.c's
 * writer, shared with MP3 and AAC), which holds every field, where RIFF
 * INFO has no item for album artist, disc, compilation or a picture.  No
 * new LIST/INFO chunk: ffmpeg reads the ID3 chunk only when a file has no
 * INFO tags (with both it warns and drops the ID3 tags), mutagen reads
 * only the ID3 chunk.  The RIFF size (for RF64 the ds64 sizes) is patched
 * once the size of the file is known.
 */

/* Largest ds64 chunk rewritten (a header, and a table of chunk sizes). */
#define WAV_MAX_DS64 ((size_t)64 << 10)
/* Leading ID3v2 tags skipped, at most (as formats_parse does). */
#define WAV_MAX_ID3 8

static const uint8_t wav_zero[1];

/* A synthesis in progress. */
struct wav_synth {
	const struct formats_source *src;
	const struct formats_meta *orig;
	const struct formats_tags *tags;
	const struct formats_picture *pic;
	struct formats_synth *out;
	bool rf64;
	bool data_done;
	bool have_ds64;
	size_t head_mem;	/* the RIFF header in out->mem */
	size_t ds64_mem;	/* the ds64 body in out->mem */
	uint64_t ds64_data;	/* its data size */
};

static uint64_t wav_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- the "id3 " chunk ---- */

/*
 * The "id3 " chunk: an ID3v2.4 tag with every field, the extra tags (INFO
 * items such as ISFT too, as TXXX) and the picture.
 */
static int wav_add_id3(struct wav_synth *ws)
{
	size_t at = ws->out->mem_len;
	uint64_t before = ws->out->size;
	uint64_t len;
	int rc;

	rc = formats_synth_add_bytes(ws->out, "id3 \0\0\0\0", 8);
	if (!rc)
		rc = formats_id3v24_write(ws->src, ws->tags, ws->pic, 0,
					  ws->out);
	if (rc)
		return rc;
	len = ws->out->size - before - 8;
	if (len > UINT32_MAX)
		return -EFBIG;
	formats_put_le32(ws->out->mem + at + 4, (uint32_t)len);
	return len & 1 ? formats_synth_add_bytes(ws->out, wav_zero, 1) : 0;
}

/* ---- the chunks ---- */

/* The first "data" chunk: the tags, then a new header and the audio. */
static int wav_add_data(struct wav_synth *ws, uint64_t body, uint64_t len)
{
	const struct formats_meta *o = ws->orig;
	uint8_t h[8];
	int rc;

	if (body != o->audio_start || len != o->audio_end - o->audio_start)
		return -EBADMSG;
	if (!ws->have_ds64 && len > UINT32_MAX)
		return -EFBIG;
	rc = wav_add_id3(ws);
	if (rc)
		return rc;
	memcpy(h, "data", 4);
	formats_put_le32(h + 4, ws->have_ds64 ? UINT32_MAX : (uint32_t)len);
	rc = formats_synth_add_bytes(ws->out, h, 8);
	if (!rc)
		rc = formats_synth_add_origin(ws->out, body, len);
	if (!rc && (len & 1))
		rc = formats_synth_add_bytes(ws->out, wav_zero, 1);
	ws->data_done = true;
	return rc;
}

/* RF64's ds64: copied into memory, its sizes patched in wav_finish. */
static int wav_add_ds64(struct wav_synth *ws, uint64_t off, uint64_t len)
{
	uint8_t *p;
	int rc;

	if (len < 24 || len > WAV_MAX_DS64)
		return -EBADMSG;
	p = malloc((size_t)len + 9);
	if (!p)
		return -ENOMEM;
	rc = formats_read_exact(ws->src, off, p, (size_t)len + 8);
	if (!rc) {
		p[len + 8] = 0;		/* the pad byte */
		ws->ds64_data = wav_le64(p + 16);
		ws->ds64_mem = ws->out->mem_len + 8;
		ws->have_ds64 = true;
		rc = formats_synth_add_bytes(ws->out, p,
					     (size_t)(len + 8 + (len & 1)));
	}
	free(p);
	return rc;
}

/* Is the chunk at off (id, body of len bytes) a tag that is replaced? */
static int wav_is_tag(struct wav_synth *ws, const uint8_t *id, uint64_t off,
		      uint64_t len, bool *tag)
{
	uint8_t type[4];
	int rc;

	*tag = !memcmp(id, "id3 ", 4) || !memcmp(id, "ID3 ", 4);
	if (*tag || memcmp(id, "LIST", 4) || len < 4)
		return 0;
	rc = formats_read_exact(ws->src, off + 8, type, 4);
	*tag = !rc && !memcmp(type, "INFO", 4);
	return rc;
}

/* One chunk of the origin (header at off) of len body bytes. */
static int wav_synth_chunk(struct wav_synth *ws, const uint8_t *id,
			   uint64_t off, uint64_t len)
{
	bool tag;
	int rc;

	if (!memcmp(id, "data", 4) && !ws->data_done)
		return wav_add_data(ws, off + 8, len);
	if (!memcmp(id, "ds64", 4) && ws->rf64 && !ws->have_ds64)
		return wav_add_ds64(ws, off, len);
	rc = wav_is_tag(ws, id, off, len, &tag);
	if (rc || tag)
		return rc;
	rc = formats_synth_add_origin(ws->out, off, 8 + len);
	if (!rc && (len & 1))
		rc = formats_synth_add_bytes(ws->out, wav_zero, 1);
	return rc;
}

/* Walk the chunks as wav_walk does, writing the new file's. */
static int wav_synth_walk(struct wav_synth *ws, uint64_t off)
{
	uint64_t size = ws->src->size;
	uint8_t h[8];
	uint64_t len;
	unsigned n;
	bool cut;
	int rc = 0;

	for (n = 0; n < WAV_MAX_CHUNKS && !rc; n++) {
		if (off > size || size - off < 8)
			break;
		rc = formats_read_exact(ws->src, off, h, 8);
		if (rc)
			return rc;
		len = (uint64_t)h[4] | (uint64_t)h[5] << 8 |
		      (uint64_t)h[6] << 16 | (uint64_t)h[7] << 24;
		if (ws->rf64 && !memcmp(h, "data", 4) && ws->ds64_data)
			len = ws->ds64_data;
		cut = len > size - off - 8;
		if (cut && memcmp(h, "data", 4))
			break;	/* a cut chunk: dropped */
		if (cut)
			len = size - off - 8;
		rc = wav_synth_chunk(ws, h, off, len);
		if (cut)
			break;
		off += 8 + len + (len & 1);
	}
	return rc;
}

/* Where "RIFF" is: after the ID3v2 tags at the start, if any. */
static int wav_find_start(struct wav_synth *ws, uint64_t *start)
{
	const struct formats_source *src = ws->src;
	uint8_t h[12];
	uint64_t off = 0;
	uint64_t size;
	int i;
	int rc;

	for (i = 0; i < WAV_MAX_ID3 && src->size - off >= 10; i++) {
		rc = formats_read_exact(src, off, h, 10);
		if (rc)
			return rc;
		size = formats_id3v2_size(h, 10);
		if (!size || size > src->size - off)
			break;
		off += size;
	}
	if (src->size - off < 12)
		return -EBADMSG;
	rc = formats_read_exact(src, off, h, 12);
	if (rc)
		return rc;
	if (memcmp(h + 8, "WAVE", 4) ||
	    (memcmp(h, "RIFF", 4) && memcmp(h, "RF64", 4)))
		return -EBADMSG;
	ws->rf64 = !memcmp(h, "RF64", 4);
	*start = off;
	return 0;
}

/* Fill in the sizes now that the file is complete. */
static int wav_finish(struct wav_synth *ws)
{
	struct formats_synth *out = ws->out;
	uint8_t *head = out->mem + ws->head_mem;

	if (!ws->data_done)
		return -EBADMSG;
	if (ws->have_ds64) {
		memcpy(head, "RF64", 4);
		formats_put_le32(head + 4, UINT32_MAX);
		formats_put_le64(out->mem + ws->ds64_mem, out->size - 8);
		formats_put_le64(out->mem + ws->ds64_mem + 8,
			     ws->orig->audio_end - ws->orig->audio_start);
		return 0;
	}
	if (out->size - 8 > UINT32_MAX)
		return -EFBIG;
	memcpy(head, "RIFF", 4);
	formats_put_le32(head + 4, (uint32_t)(out->size - 8));
	return 0;
}

/*
 * A new RIFF file: the origin's chunks but its tags, new LIST/INFO and
 * "id3 " chunks before "data", the sizes fixed.  A leading ID3v2 tag is
 * dropped.
 */
static int wav_synthesize(const struct formats_source *src,
			  const struct formats_meta *orig,
			  const struct formats_tags *tags,
			  const struct formats_picture *picture,
			  struct formats_synth *out)
{
	struct wav_synth ws;
	uint64_t start;
	int rc;

	if (orig->kind != FORMATS_WAV || orig->audio_start > orig->audio_end ||
	    orig->audio_end > src->size)
		return -EBADMSG;
	memset(&ws, 0, sizeof(ws));
	ws.src = src;
	ws.orig = orig;
	ws.tags = tags;
	ws.pic = picture;
	ws.out = out;
	rc = wav_find_start(&ws, &start);
	if (rc)
		return rc;
	ws.head_mem = out->mem_len;
	rc = formats_synth_add_bytes(out, "RIFF\0\0\0\0WAVE", 12);
	if (!rc)
		rc = wav_synth_walk(&ws, start + 12);
	return rc ? rc : wav_finish(&ws);
}

const struct formats_ops formats_wav_ops = {
	.kind = FORMATS_WAV,
	.name = "wav",
	.probe = wav_probe,
	.parse = wav_parse,
	.synthesize = wav_synthesize,
};
