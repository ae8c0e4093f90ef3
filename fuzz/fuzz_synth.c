/*
 * fuzz_synth.c - libFuzzer target over formats_synthesize().
 *
 * Every input that parses is synthesized twice, with a full tag set and
 * with none, keeping its picture; the segments must then describe a file
 * of the announced size whose origin ranges lie inside the input, and the
 * Ogg ranges marked for renumbering must be whole pages.  The input is
 * also parsed as the scanner does (FORMATS_PARSE_LAZY_PICTURES) and
 * synthesized keeping that picture: an Ogg cover then keeps the origin's
 * base64 text and pages, and when the picture can be loaded from the
 * input, the output must parse and carry the same image.  A broken
 * promise aborts.
 *
 *   CC=clang meson setup build-fuzz -Dfuzzers=true \
 *       -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz fuzz/fuzz_synth
 *   build-fuzz/fuzz/fuzz_synth -jobs=1 corpus-dir tests/data/corpus
 */
#include "common/mfs.h"
#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_synth: broken promise: %s\n", what);
		abort();
	}
}

static void check_synth(const uint8_t *data, size_t size,
			const struct formats_synth *s)
{
	uint64_t total = 0;
	uint8_t *copy;
	size_t i;

	for (i = 0; i < s->n_segs; i++) {
		const struct formats_segment *seg = &s->segs[i];

		total += seg->length;
		if (seg->data) {
			check(seg->data >= s->mem &&
				      seg->data + seg->length <= s->mem + s->mem_len,
			      "bytes segment outside the synth memory");
			continue;
		}
		check(seg->src_offset <= size &&
			      seg->length <= size - seg->src_offset,
		      "origin range outside the file");
		if (!seg->ogg_seq_delta)
			continue;
		copy = malloc(seg->length ? seg->length : 1);
		check(copy != NULL, "allocation");
		memcpy(copy, data + seg->src_offset, seg->length);
		check(formats_ogg_fix_pages(copy, seg->length, seg->ogg_serial,
					    seg->ogg_seq_delta) == 0,
		      "renumbered range is not whole pages");
		free(copy);
	}
	check(total == s->size, "segment lengths do not add up");
}

/* The file s describes, renumbered as a reader sees it: caller frees. */
static uint8_t *synth_output(const uint8_t *data,
			     const struct formats_synth *s)
{
	uint8_t *out = malloc(s->size ? s->size : 1), *p = out;
	size_t i;

	check(out != NULL, "allocation");
	for (i = 0; i < s->n_segs; i++) {
		const struct formats_segment *seg = &s->segs[i];

		memcpy(p, seg->data ? seg->data : data + seg->src_offset,
		       seg->length);
		if (seg->ogg_seq_delta)
			formats_ogg_fix_pages(p, seg->length, seg->ogg_serial,
					      seg->ogg_seq_delta);
		p += seg->length;
	}
	return out;
}

/* A kept Ogg cover that loads from the input is the output's cover. */
static void check_kept_picture(const uint8_t *data,
			       const struct formats_source *src,
			       const struct formats_meta *meta,
			       const struct formats_synth *s)
{
	struct formats_source out_src;
	struct formats_mem mem;
	struct formats_meta got;
	uint8_t *image, *out;
	size_t len;

	if (formats_picture_load(src, &meta->picture, &image, &len))
		return;	/* damaged past its first characters */
	out = synth_output(data, s);
	formats_source_from_mem(&out_src, &mem, out, s->size);
	check(formats_parse(&out_src, "out.ogg", &got) == 0,
	      "the output of a kept Ogg cover does not parse");
	check(got.picture.data && got.picture.data_len == len &&
		      !memcmp(got.picture.data, image, len),
	      "the output does not carry the kept cover");
	formats_meta_release(&got);
	free(out);
	free(image);
}

static void synth_with(const uint8_t *data, size_t size,
		       const struct formats_source *src,
		       const struct formats_meta *meta,
		       const struct formats_tags *tags)
{
	const struct formats_picture *pic = &meta->picture;
	struct formats_synth s;
	int rc;

	rc = formats_synthesize(src, meta, tags, pic->present ? pic : NULL,
				&s);
	check(rc == 0 || rc == -EBADMSG || rc == -EFBIG || rc == -ENOTSUP ||
		      rc == -ENOMEM || rc == -EIO,
	      "unexpected error code");
	if (rc == 0)
		check_synth(data, size, &s);
	if (rc == 0 && pic->present && pic->store == FORMATS_PIC_OGG_BASE64 &&
	    !pic->data)
		check_kept_picture(data, src, meta, &s);
	formats_synth_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct formats_field extra[] = {
		{ (char *)"MUSICBRAINZ_TRACKID", (char *)"0-1-2" },
		{ (char *)"REPLAYGAIN_TRACK_GAIN", (char *)"-3.2 dB" },
	};
	struct formats_tags full = {
		.title = (char *)"Title", .artist = (char *)"Mot\xc3\xb6rhead",
		.album = (char *)"Album", .album_artist = (char *)"AA",
		.genre = (char *)"Rock", .composer = (char *)"C",
		.date = (char *)"1980-02-03", .comment = (char *)"c",
		.year = 1980, .track = 3, .track_total = 12, .disc = 1,
		.disc_total = 2, .compilation = true,
		.extra = extra, .n_extra = MFS_ARRAY_SIZE(extra),
	};
	struct formats_tags none = { 0 };
	struct formats_source src;
	struct formats_mem mem;
	struct formats_meta meta;

	formats_source_from_mem(&src, &mem, data, size);
	if (formats_parse(&src, "fuzz.mp3", &meta) == 0) {
		synth_with(data, size, &src, &meta, &full);
		synth_with(data, size, &src, &meta, &none);
	}
	formats_meta_release(&meta);
	if (formats_parse_flags(&src, "fuzz.mp3", FORMATS_PARSE_LAZY_PICTURES,
				&meta) == 0 &&
	    meta.picture.store == FORMATS_PIC_OGG_BASE64) {
		synth_with(data, size, &src, &meta, &full);
		synth_with(data, size, &src, &meta, &none);
	}
	formats_meta_release(&meta);
	return 0;
}
