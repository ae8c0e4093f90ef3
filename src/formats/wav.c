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

const struct formats_ops formats_wav_ops = {
	.kind = FORMATS_WAV,
	.name = "wav",
	.probe = wav_probe,
	.parse = wav_parse,
};
