/*
 * ogg_i.h - what the Ogg parser (ogg.c) and the Ogg synthesizer
 * (ogg_synth.c) share: the page header, and reading the head of a picture
 * that a comment packet carries as base64 text (METADATA_BLOCK_PICTURE)
 * without reading the rest of it.
 *
 * Everything here runs on the caller's thread; nothing is shared.
 */
#ifndef MFS_FORMATS_OGG_I_H
#define MFS_FORMATS_OGG_I_H

#include "common/mfs.h"
#include "common/buf.h"
#include "formats/formats_i.h"

#define OGG_HEADER 27
/* The largest page: header, 255 lacing values, 255 segments of 255. */
#define OGG_MAX_PAGE (OGG_HEADER + 255 + 255 * 255)
/* Pages looked at while reading or rewriting the header packets. */
#define OGG_MAX_PAGES 4096
/* The comment holding a picture, and the length of that key with '='. */
#define OGG_PICTURE_KEY "METADATA_BLOCK_PICTURE="
#define OGG_PICTURE_KEY_LEN 23

struct ogg_page {
	uint64_t off;		/* of "OggS" */
	uint8_t type;		/* 1 continued, 2 first, 4 last */
	uint64_t granule;
	uint32_t serial;
	uint32_t seq;
	uint8_t nsegs;
	uint8_t lacing[255];
	uint64_t body;		/* offset of the segments */
	uint32_t body_len;
};

/*
 * Parse the page header at h (n bytes of the file from offset off): true
 * if it is one ("OggS", version 0, the lacing table within n).
 */
bool ogg_page_parse(const uint8_t *h, size_t n, uint64_t off,
		    struct ogg_page *pg);

/*
 * Append characters of a base64 value to text until it holds want of them
 * (the first text->len are there already).  0; 1 if the value has fewer
 * (its packet ended); -errno.
 */
typedef int (*ogg_text_fn)(void *ctx, struct buf *text, size_t want);

/*
 * The picture a METADATA_BLOCK_PICTURE value of value_len base64
 * characters describes, from its first characters only (all of them only
 * when the block header is longer than a few hundred bytes): *pic gets
 * type, MIME type (sniffed from the image when the block names none) and
 * the image length, with store FORMATS_PIC_OGG_BASE64 and offset 0 (the
 * caller knows where the text is); pic->present is false if the block is
 * no picture MusicFS keeps or is malformed.  *used: characters read.
 * 0, 1 (the value is cut short), -ENOMEM or a read's -errno.
 */
int ogg_picture_peek(ogg_text_fn read, void *ctx, uint64_t value_len,
		     struct formats_picture *pic, size_t *used);

/* The synthesizer of formats_ogg_ops (ogg_synth.c). */
int formats_ogg_synthesize(const struct formats_source *src,
			   const struct formats_meta *orig,
			   const struct formats_tags *tags,
			   const struct formats_picture *picture,
			   struct formats_synth *out);

#endif
