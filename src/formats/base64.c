/*
 * base64.c - the base64 codec of the formats module.
 *
 * Vorbis comments carry pictures as base64 text (METADATA_BLOCK_PICTURE),
 * hundreds of KiB of it, so both directions are table-driven: the decoder
 * looks up four characters at once in pre-shifted tables (one test of the
 * OR of the four catches any byte outside the alphabet), the encoder turns
 * each 12 bits into two characters with one lookup.
 *
 * The decoder is a small state machine so that text split anywhere (an Ogg
 * packet spans pages) decodes to the same bytes as the whole text: the
 * bits of a character group cut by a chunk boundary are carried over.
 * Both the standard and the URL-safe alphabets are accepted, whitespace
 * is skipped, and '=' or any other byte ends the data, as taggers and
 * players read it.
 */
#include "common/mfs.h"
#include "formats/formats_i.h"

#include <pthread.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Marks in the decoding tables, above any 24-bit group. */
#define B64_SPACE 0x40000000u
#define B64_END 0x80000000u

/*
 * b64_dec[k][c]: the 6-bit value of character c shifted into place k of a
 * group of four (k = 0 the highest), or a mark.  b64_enc[v]: the two
 * characters of the 12 bits v.
 */
static uint32_t b64_dec[4][256];
static char b64_enc[4096][2];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
	uint32_t v;
	size_t c, k;

	for (c = 0; c < 256; c++)
		b64_dec[3][c] = B64_END;
	b64_dec[3]['\t'] = b64_dec[3]['\n'] = B64_SPACE;
	b64_dec[3]['\r'] = b64_dec[3][' '] = B64_SPACE;
	for (v = 0; v < 64; v++)
		b64_dec[3][(uint8_t)b64_alphabet[v]] = v;
	b64_dec[3]['-'] = 62;	/* URL-safe alphabet */
	b64_dec[3]['_'] = 63;
	for (k = 0; k < 3; k++)
		for (c = 0; c < 256; c++) {
			v = b64_dec[3][c];
			b64_dec[k][c] = v >= 64 ? v : v << (6 * (3 - k));
		}
	for (v = 0; v < 4096; v++) {
		b64_enc[v][0] = b64_alphabet[v >> 6];
		b64_enc[v][1] = b64_alphabet[v & 63];
	}
}

/* One character the slow way: whitespace, the end, or 6 more bits. */
static size_t b64_decode_one(struct formats_b64 *d, uint8_t c, uint8_t *out)
{
	uint32_t v = b64_dec[3][c];

	if (v == B64_END) {
		d->end = true;
		return 0;
	}
	if (v == B64_SPACE)
		return 0;
	d->acc = (d->acc << 6) | v;
	d->bits += 6;
	if (d->bits < 8)
		return 0;
	d->bits -= 8;
	*out = (uint8_t)(d->acc >> d->bits);
	return 1;
}

size_t formats_b64_decode(struct formats_b64 *d, const uint8_t *in, size_t n,
			  uint8_t *out)
{
	const uint32_t(*t)[256] = b64_dec;
	size_t i = 0, len = 0;
	uint32_t v;

	pthread_once(&b64_once, b64_init);
	while (i < n && !d->end) {
		/* the common case: four characters of the alphabet, aligned */
		if (d->bits == 0 && n - i >= 4) {
			v = t[0][in[i]] | t[1][in[i + 1]] | t[2][in[i + 2]] |
			    t[3][in[i + 3]];
			if (!(v & (B64_END | B64_SPACE))) {
				out[len] = (uint8_t)(v >> 16);
				out[len + 1] = (uint8_t)(v >> 8);
				out[len + 2] = (uint8_t)v;
				len += 3;
				i += 4;
				continue;
			}
		}
		len += b64_decode_one(d, in[i++], out + len);
	}
	return len;
}

size_t formats_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	pthread_once(&b64_once, b64_init);
	for (i = 0; i + 3 <= n; i += 3, o += 4) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		memcpy(out + o, b64_enc[v >> 12], 2);
		memcpy(out + o + 2, b64_enc[v & 0xfff], 2);
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		memcpy(out + o, b64_enc[v >> 12], 2);
		out[o + 2] = i + 1 < n ? b64_enc[v & 0xfff][0] : '=';
		out[o + 3] = '=';
		o += 4;
	}
	return o;
}
