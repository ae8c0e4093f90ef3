/*
 * metrics.c - the exposition format writer, the collectors and rendering.
 *
 * The text format (Prometheus 0.0.4) is lines of `# HELP name text`,
 * `# TYPE name type` and `name{label="value",...} number`.  Names are
 * checked here, because one bad line makes a Prometheus server reject the
 * whole page; label text is the caller's, built with the escaping helper.
 * A bad name is skipped and logged once per render rather than failing the
 * page: the other metrics are still worth having.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "common/str.h"
#include "log/log.h"
#include "metrics/metrics_i.h"

#include <math.h>
#include <pthread.h>

struct collector {
	metrics_collector_fn fn;
	void *arg;
};

static pthread_mutex_t collectors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct collector *collectors;	/* protected by collectors_lock */
static size_t ncollectors;		/* protected by collectors_lock */

int metrics_add_collector(metrics_collector_fn fn, void *arg)
{
	struct collector *c;
	int rc = 0;

	pthread_mutex_lock(&collectors_lock);
	c = realloc(collectors, (ncollectors + 1) * sizeof(*c));
	if (c) {
		collectors = c;
		collectors[ncollectors].fn = fn;
		collectors[ncollectors].arg = arg;
		ncollectors++;
	} else {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&collectors_lock);
	return rc;
}

void metrics_remove_collectors(void)
{
	pthread_mutex_lock(&collectors_lock);
	free(collectors);
	collectors = NULL;
	ncollectors = 0;
	pthread_mutex_unlock(&collectors_lock);
}

/* ---- writing ----------------------------------------------------------- */

static void out_add(struct metrics_out *out, const char *s)
{
	int rc;

	if (out->err)
		return;
	rc = buf_adds(&out->text, s);
	if (rc)
		out->err = rc;
}

static void out_addch(struct metrics_out *out, char c)
{
	int rc;

	if (out->err)
		return;
	rc = buf_addch(&out->text, c);
	if (rc)
		out->err = rc;
}

static bool name_char_ok(char c, bool first, bool colon_ok)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon_ok;
	return !first && c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, the same without ':' for labels. */
static bool name_ok(const char *name, bool colon_ok)
{
	const char *p;

	if (str_empty(name))
		return false;
	for (p = name; *p; p++) {
		if (!name_char_ok(*p, p == name, colon_ok))
			return false;
	}
	return true;
}

/* Check a metric name; remember the first bad one for the render's log. */
static bool check_name(struct metrics_out *out, const char *name,
		       bool colon_ok)
{
	if (name_ok(name, colon_ok))
		return true;
	if (!out->bad_name[0])
		str_copy(out->bad_name, name ? name : "(null)",
			 sizeof(out->bad_name));
	return false;
}

static bool type_ok(const char *type)
{
	static const char *const types[] = { "gauge", "counter", "summary",
					     "histogram", "untyped" };
	size_t i;

	for (i = 0; type && i < MFS_ARRAY_SIZE(types); i++) {
		if (!strcmp(type, types[i]))
			return true;
	}
	return false;
}

/* HELP text escapes only backslash and newline. */
static void add_help_text(struct metrics_out *out, const char *help)
{
	for (; *help; help++) {
		if (*help == '\\')
			out_add(out, "\\\\");
		else if (*help == '\n')
			out_add(out, "\\n");
		else
			out_addch(out, *help);
	}
}

void metrics_family(struct metrics_out *out, const char *name,
		    const char *type, const char *help)
{
	if (!check_name(out, name, true))
		return;
	if (!type_ok(type)) {
		if (!out->bad_name[0])
			str_copy(out->bad_name, name, sizeof(out->bad_name));
		return;
	}
	if (help) {
		out_add(out, "# HELP ");
		out_add(out, name);
		out_addch(out, ' ');
		add_help_text(out, help);
		out_addch(out, '\n');
	}
	out_add(out, "# TYPE ");
	out_add(out, name);
	out_addch(out, ' ');
	out_add(out, type);
	out_addch(out, '\n');
}

/*
 * A value as the shortest text that reads back as the same double;
 * integers without an exponent up to 10^15, and the format's spellings of
 * NaN and the infinities.
 */
MFS_TESTABLE void metrics_format_value(double v, char *s, size_t n);

MFS_TESTABLE void metrics_format_value(double v, char *s, size_t n)
{
	if (isnan(v))
		snprintf(s, n, "NaN");
	else if (isinf(v))
		snprintf(s, n, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (v == 0)
		snprintf(s, n, "0");
	else if (v == trunc(v) && fabs(v) < 1e15)
		snprintf(s, n, "%.0f", v);
	else {
		snprintf(s, n, "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, n, "%.17g", v);
	}
}

void metrics_sample(struct metrics_out *out, const char *name,
		    const char *labels, double value)
{
	char num[40];

	if (!check_name(out, name, true))
		return;
	metrics_format_value(value, num, sizeof(num));
	out_add(out, name);
	if (labels) {
		out_addch(out, '{');
		out_add(out, labels);
		out_addch(out, '}');
	}
	out_addch(out, ' ');
	out_add(out, num);
	out_addch(out, '\n');
}

void metrics_sample_label(struct metrics_out *out, const char *name,
			  const char *label, const char *raw_value,
			  double value)
{
	char *esc, *labels;

	if (!check_name(out, label, false))
		return;
	esc = metrics_label_escape(raw_value ? raw_value : "");
	labels = esc ? str_printf("%s=\"%s\"", label, esc) : NULL;
	if (labels)
		metrics_sample(out, name, labels, value);
	else if (!out->err)
		out->err = -ENOMEM;
	free(labels);
	free(esc);
}

char *metrics_label_escape(const char *s)
{
	struct buf b = BUF_INIT_MAX(METRICS_MAX_TEXT);
	int rc = 0;

	for (; *s && !rc; s++) {
		if (*s == '\\')
			rc = buf_adds(&b, "\\\\");
		else if (*s == '"')
			rc = buf_adds(&b, "\\\"");
		else if (*s == '\n')
			rc = buf_adds(&b, "\\n");
		else
			rc = buf_addch(&b, *s);
	}
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* ---- rendering --------------------------------------------------------- */

static void run_collectors(struct metrics_out *out)
{
	size_t i;

	pthread_mutex_lock(&collectors_lock);
	for (i = 0; i < ncollectors && !out->err; i++)
		collectors[i].fn(out, collectors[i].arg);
	pthread_mutex_unlock(&collectors_lock);
}

char *metrics_render(size_t *len)
{
	struct metrics_out out = { .err = 0 };
	char *text;

	buf_init(&out.text, METRICS_MAX_TEXT);
	metrics_fuse_render(&out);
	run_collectors(&out);
	if (out.bad_name[0])
		mfs_log(MFS_LOG_ERROR, "metrics: invalid name or type of '%s'"
			" skipped", out.bad_name);
	if (out.err) {
		buf_release(&out.text);
		errno = -out.err;
		return NULL;
	}
	text = buf_detach(&out.text, len);
	if (!text)
		errno = ENOMEM;
	return text;
}
