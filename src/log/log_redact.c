/*
 * log_redact.c - credentials never reach a sink.
 *
 * Every byte of the message that belongs to an occurrence of a registered
 * secret, or to the password of a URL's userinfo, is marked in a bitmap;
 * then each run of marked bytes is written as one "***".  Marking first
 * makes overlapping secrets ("abcdef" and "defghi" in "abcdefghi"), a
 * secret inside another and occurrences that overlap themselves ("aaaa" in
 * "aaaaa") come out as one "***" with no byte of any secret left.
 *
 * The whole message is redacted before it is cut to MFS_LOG_MSG_MAX, so a
 * secret across the cut is still hidden.
 */
#include "common/mfs.h"
#include "log/log_i.h"

#define REDACT_STACK_BYTES 8192

static void mark(unsigned char *bits, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

static bool marked(const unsigned char *bits, size_t i)
{
	return bits[i / 8] & (1u << (i % 8));
}

static void mark_secret(unsigned char *bits, const char *in, size_t len,
			const struct mfs_log_secret *s)
{
	const char *p = in;
	const char *end = in + len;
	const char *hit;

	while ((size_t)(end - p) >= s->len) {
		hit = memmem(p, (size_t)(end - p), s->text, s->len);
		if (!hit)
			break;
		mark(bits, (size_t)(hit - in), (size_t)(hit - in) + s->len);
		p = hit + 1;	/* occurrences may overlap */
	}
}

/* Where a URL written in a message ends: blanks, controls, quotes. */
static bool token_end(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' ||
	       c == '`';
}

static bool all_digits(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/*
 * The password of the URL whose authority starts at a (the token ends at
 * e): [*from, *to), or false.  Well-formed: userinfo is what precedes the
 * last '@' before the first '/', '?' or '#'.  People also write secrets
 * with a raw '/' or '#' (AWS secret keys have '/'): when the authority
 * has no '@' but a ':' that is not followed by a port, the password runs
 * to the last '@' of the token.  A malformed URL is rather over-redacted.
 */
static bool url_password(const char *a, const char *e, const char **from,
			 const char **to)
{
	const char *r = a;
	const char *colon;
	const char *at;

	while (r < e && *r != '/' && *r != '?' && *r != '#')
		r++;
	at = r > a ? memrchr(a, '@', (size_t)(r - a)) : NULL;
	if (at) {
		colon = memchr(a, ':', (size_t)(at - a));
	} else {
		colon = r > a ? memchr(a, ':', (size_t)(r - a)) : NULL;
		if (colon && !all_digits(colon + 1, r) && e > r)
			at = memrchr(r, '@', (size_t)(e - r));
	}
	if (!colon || !at || colon + 1 >= at)
		return false;
	*from = colon + 1;
	*to = at;
	return true;
}

/* scheme://user:password@host: mark "password". */
static void mark_url_passwords(unsigned char *bits, const char *in,
			       size_t len)
{
	const char *end = in + len;
	const char *p = in;
	const char *hit;
	const char *from;
	const char *to;
	const char *e;

	while (p < end) {
		hit = memmem(p, (size_t)(end - p), "://", 3);
		if (!hit)
			break;
		p = hit + 3;
		e = p;
		while (e < end && !token_end((unsigned char)*e))
			e++;
		if (url_password(p, e, &from, &to))
			mark(bits, (size_t)(from - in), (size_t)(to - in));
	}
}

/* Copy in[0, len) to out with each marked run as "***"; the length. */
static size_t emit(char *out, size_t size, const char *in, size_t len,
		   const unsigned char *bits)
{
	size_t o = 0;
	size_t i = 0;

	while (i < len && o + 1 < size) {
		if (!marked(bits, i)) {
			out[o++] = in[i++];
			continue;
		}
		while (i < len && marked(bits, i))
			i++;
		if (o + 3 >= size)
			break;
		memcpy(out + o, "***", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

size_t mfs_log_redact(char *out, size_t size, const char *in, size_t len,
		      const struct mfs_log_secret *secrets, size_t n_secrets)
{
	unsigned char stack_bits[REDACT_STACK_BYTES / 8];
	unsigned char *bits = stack_bits;
	size_t i;
	size_t n;

	if (!size)
		return 0;
	if (len > REDACT_STACK_BYTES) {
		bits = calloc((len + 7) / 8, 1);
		if (!bits) {
			n = (size_t)snprintf(out, size, "(a log message of %zu "
					     "bytes dropped: out of memory)",
					     len);
			return MFS_MIN(n, size - 1);
		}
	} else {
		memset(stack_bits, 0, (len + 7) / 8);
	}
	for (i = 0; i < n_secrets; i++)
		mark_secret(bits, in, len, &secrets[i]);
	mark_url_passwords(bits, in, len);
	n = emit(out, size, in, len, bits);
	if (bits != stack_bits)
		free(bits);
	return n;
}
