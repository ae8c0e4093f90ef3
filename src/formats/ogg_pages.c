/*
 * ogg_pages.c - renumbering Ogg pages as they are read.
 *
 * When a synthesized Ogg header needs more or fewer pages than the
 * original, every later page of that logical stream must carry a sequence
 * number shifted by the difference, and so a new CRC (ogg_crc.c, fast:
 * every audio page of the file passes through it).  The pages are not
 * stored anywhere: whoever reads an origin range marked with a delta
 * passes the whole pages it read through here.  Origin pages that a
 * synthesized header keeps (the middle of a kept cover's text) are
 * renumbered the same way.
 */
#include "common/mfs.h"
#include "common/byte_reader.h"
#include "formats/formats.h"
#include "formats/formats_i.h"

#define OGG_HEADER_BYTES 27

/* Length of the page at p (whole page within len), or 0 if it is not one. */
static size_t page_length(const uint8_t *p, size_t len)
{
	size_t body = 0, nseg, i;

	if (len < OGG_HEADER_BYTES || memcmp(p, "OggS", 4) || p[4] != 0)
		return 0;
	nseg = p[26];
	if (len < OGG_HEADER_BYTES + nseg)
		return 0;
	for (i = 0; i < nseg; i++)
		body += p[OGG_HEADER_BYTES + i];
	if (len - OGG_HEADER_BYTES - nseg < body)
		return 0;
	return OGG_HEADER_BYTES + nseg + body;
}

int formats_ogg_fix_pages(uint8_t *buf, size_t len, uint32_t serial,
			  int32_t delta)
{
	struct byte_reader r;
	const uint8_t *next;
	size_t pos = 0, n;

	while (pos < len) {
		n = page_length(buf + pos, len - pos);
		if (!n) {
			/*
			 * Not a page (a damaged stretch of the file): leave
			 * it as it is and carry on at the next capture
			 * pattern, as a player resynchronizes.
			 */
			next = memmem(buf + pos + 1, len - pos - 1, "OggS", 4);
			pos = next ? (size_t)(next - buf) : len;
			continue;
		}
		byte_reader_init(&r, buf + pos + 14, 8);
		if (byte_reader_le32(&r) == serial) {
			uint32_t seq = byte_reader_le32(&r);

			formats_put_le32(buf + pos + 18, seq + (uint32_t)delta);
			formats_put_le32(buf + pos + 22, 0);
			formats_put_le32(buf + pos + 22,
					 formats_ogg_crc(buf + pos, n));
		}
		pos += n;
	}
	return 0;
}
