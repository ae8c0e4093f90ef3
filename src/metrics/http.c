/*
 * http.c - GET /metrics over HTTP, for Prometheus to scrape.
 *
 * libmicrohttpd with one internal polling thread (epoll on Linux) that
 * accepts, parses, renders and writes: a scrape every few seconds needs
 * no thread per connection.  The listening socket is made here rather
 * than by libmicrohttpd so that a refused bind reports its real errno
 * (a port in use is the usual start-up error) and port 0 can be read back
 * with getsockname(); libmicrohttpd closes it when stopped.
 *
 * libmicrohttpd is loaded with dlopen when the page starts, not linked:
 * it brings GnuTLS and eight more shared objects whose loading cost every
 * start of musicfs ~2 ms, CLI commands included, for a page only the
 * daemon serves.
 */
#include "common/mfs.h"
#include "common/dynlib.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "metrics/metrics_i.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MAX_CONNECTIONS 32u
#define IDLE_TIMEOUT_S 10u

/* The ABI the headers describe (version 12 since libmicrohttpd 0.9.37). */
#define MHD_SONAME "libmicrohttpd.so.12"

struct metrics_http {
	struct MHD_Daemon *daemon;
	int port;
};

/* The functions of libmicrohttpd this file calls, from dlsym. */
static struct {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_create_response_from_buffer) create_response;
	__typeof__(&MHD_add_response_header) add_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
	char error[256];	/* why they are missing, if they are */
} mhd;

static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

/* Load the library once (never unloaded: its thread may outlive a stop). */
static void mhd_load(void)
{
	const struct mfs_dynsym syms[] = {
		{ "MHD_start_daemon", &mhd.start_daemon },
		{ "MHD_stop_daemon", &mhd.stop_daemon },
		{ "MHD_create_response_from_buffer", &mhd.create_response },
		{ "MHD_add_response_header", &mhd.add_header },
		{ "MHD_queue_response", &mhd.queue_response },
		{ "MHD_destroy_response", &mhd.destroy_response },
	};

	mfs_dynlib_load(MHD_SONAME, syms, MFS_ARRAY_SIZE(syms), mhd.error,
			sizeof(mhd.error));
}

static void http_log(void *cls, const char *fmt, va_list ap) MFS_PRINTF(2, 0);

static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	mfs_log(MFS_LOG_WARN, "metrics http: %s", msg);
}

/* Queue a response and drop our reference to it. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     struct MHD_Response *resp, const char *type)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	mhd.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = mhd.queue_response(conn, status, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
				  unsigned status, const char *text,
				  const char *allow)
{
	struct MHD_Response *resp = mhd.create_response(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);

	if (resp && allow)
		mhd.add_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	return reply(conn, status, resp, "text/plain; charset=utf-8");
}

static enum MHD_Result reply_metrics(struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	size_t len;
	char *text = metrics_render(&len);

	if (!text)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot render the metrics\n", NULL);
	resp = mhd.create_response(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(text);
	return reply(conn, MHD_HTTP_OK, resp, CONTENT_TYPE);
}

/*
 * Called by libmicrohttpd once the request's headers are in (and again
 * per piece of body, which we never wait for: every answer is queued on
 * the first call, and libmicrohttpd discards a body nobody read).
 */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n",
				  NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed\n", "GET, HEAD");
	return reply_metrics(conn);
}

/* address:port as a socket address.  0 or -EINVAL. */
static int parse_address(const char *address, int port,
			 struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (!address || port < 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/* The port a bound socket got.  > 0, or a negative errno. */
static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A listening socket on address:port.  The fd, or a negative errno. */
static int listen_on(const char *address, int port)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1, rc;

	rc = parse_address(address, port, &ss, &sslen);
	if (rc)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	/* a restarted daemon must get its port back from TIME_WAIT */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* libmicrohttpd on a listening socket, with our handler and limits. */
static struct MHD_Daemon *start_daemon(int fd, bool ipv6)
{
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (ipv6)
		flags |= MHD_USE_IPv6;
	/* the logger first, so that start-up messages go through it too */
	return mhd.start_daemon(flags, 0, NULL, NULL, handle_request, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
				MHD_OPTION_END);
}

int metrics_http_start(const char *address, int port,
		       struct metrics_http **out)
{
	struct metrics_http *h;
	int fd, rc;

	pthread_once(&mhd_once, mhd_load);
	if (!mhd.start_daemon)
		return mfs_error(-ENOENT, "metrics: cannot load %s: %s",
				 MHD_SONAME, mhd.error);
	fd = listen_on(address, port);
	if (fd < 0)
		return fd;
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto out_close;
	}
	h->port = bound_port(fd);
	if (h->port < 0) {
		rc = h->port;
		goto out_free;
	}
	h->daemon = start_daemon(fd, strchr(address, ':') != NULL);
	if (!h->daemon) {
		/*
		 * libmicrohttpd closes the socket on some of its failure paths
		 * and not on others; leaking it once beats closing a number
		 * another thread may have been given meanwhile.
		 */
		free(h);
		return mfs_error(-EIO, "metrics: cannot start the HTTP server"
				       " on '%s' port %d", address, port);
	}
	*out = h;
	return 0;

out_free:
	free(h);
out_close:
	close(fd);
	return rc;
}

int metrics_http_port(const struct metrics_http *h)
{
	return h->port;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	mhd.stop_daemon(h->daemon);
	free(h);
}
