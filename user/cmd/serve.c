// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail serve`: tracing without end behind HTTP, for Prometheus (/metrics) and pprof
 * scrapers such as Parca and Pyroscope (/debug/pprof/heap). libmicrohttpd runs in the thread
 * that owns the model, between polls of the ring buffer: nothing is locked, an answer holds
 * every record until the moment it was asked, and a client that stalls costs a connection slot
 * until its timeout, never the ring buffer (sockets are never waited on).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cmd/commands.h"
#include "model/dists.h"
#include "model/kmodel.h"
#include "model/model.h"
#include "model/proctab.h"
#include "model/space.h"
#include "output/pprof_out.h"
#include "output/prom_out.h"
#include "report/kreport.h"
#include "report/leaks.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "util/procinfo.h"
#include "util/say.h"

#define SERVE_DEFAULT_LISTEN  "127.0.0.1:9464"
#define SERVE_CONNECTIONS     64	 /* at once; more wait in the listen queue */
#define SERVE_TIMEOUT_S	      10	 /* a connection idle this long is closed */
#define SERVE_REQUEST_BYTES   (32 << 10) /* a request's line and headers at most */
#define SERVE_RETAIN_CHECK_NS 1000000000ull
#define SERVE_STACKS_CHECK_NS 30000000000ull /* unused stacks dropped this often */

static struct {
	const char *listen;
	double retain; /* seconds an exited process is kept */
	unsigned top;  /* processes in /metrics */
} serve_opts = { .listen = SERVE_DEFAULT_LISTEN, .retain = 300, .top = 100 };

enum {
	SERVE_OPT_LISTEN = 1,
	SERVE_OPT_RETAIN,
	SERVE_OPT_TOP,
};

static const struct cli_option serve_options[] = {
	{ "listen", 0, "ADDR:PORT",
	  "Where to answer HTTP (default " SERVE_DEFAULT_LISTEN "; [::1]:PORT for IPv6; port 0: "
	  "any free one, said on stderr)",
	  SERVE_OPT_LISTEN, true },
	{ "retain", 0, "SECONDS",
	  "How long an exited process stays in the metrics and profiles (default 300)",
	  SERVE_OPT_RETAIN, true },
	{ "top-processes", 0, "N",
	  "Processes with metrics of their own, the largest by live bytes (default 100)",
	  SERVE_OPT_TOP, true },
	{ NULL },
};

static int serve_parse(int key, const char *arg)
{
	switch (key) {
	case SERVE_OPT_LISTEN:
		serve_opts.listen = arg;
		return 0;
	case SERVE_OPT_RETAIN:
		return cli_parse_seconds("--retain", arg, &serve_opts.retain);
	case SERVE_OPT_TOP:
		return cli_parse_count("--top-processes", arg, 1u << 20, &serve_opts.top);
	}
	return 0;
}

static const struct cli_example serve_examples[] = {
	{ "serve", "every process, on http://" SERVE_DEFAULT_LISTEN "/metrics" },
	{ "serve -p 1234 --listen 0.0.0.0:9464", "one process, for scrapers on other hosts" },
	{ "serve --sample-bytes 512K -k", "cheaper stacks, and the kernel's allocators" },
	{ NULL },
};

CLI_COMMAND(serve, "an agent: Prometheus /metrics and pprof /debug/pprof/heap over HTTP",
	    "[TARGET] [--listen ADDR:PORT] [--retain S] [--top-processes N] [OPTION...]",
	    CLI_TARGET | CLI_TARGET_ALL_BY_DEFAULT | CLI_KERNEL | CLI_STACKS | CLI_SAMPLE);

/* A process's cgroup, read when it is first seen: what tells containers apart. */
struct serve_cgroup {
	char path[256];
};

struct serve_ctx {
	struct cli *cli;
	struct source *src;
	struct model *model;
	struct symbolizer *sym;
	struct leaks *leaks;
	struct dists *dists; /* what each stack allocated: pprof's alloc_* */
	struct space *space; /* heap, mapped, RSS, faults: /metrics */
	struct kreport kr;   /* -k */
	struct report_allocator_code code;
	struct proctab cgroups; /* struct serve_cgroup */
	struct MHD_Daemon *http;
	uint64_t first_ns;
	uint64_t forgotten;
	uint64_t next_retain_ns, next_stacks_ns;
	double start_time; /* since the epoch */
	uint64_t requests;
};

static void serve_note_cgroup(struct serve_ctx *sc, uint32_t pid)
{
	const struct model_proc *p = model_proc_live(sc->model, pid);
	bool fresh;
	struct serve_cgroup *cg = p ? proctab_get(&sc->cgroups, p, sizeof(*cg), &fresh) : NULL;

	if (cg && fresh)
		proc_cgroup((pid_t)pid, cg->path, sizeof(cg->path));
}

static void serve_on_event(void *ctx, const struct ht_hdr *rec)
{
	struct serve_ctx *sc = ctx;

	model_apply(sc->model, rec);
	report_follow_modules(sc->sym, sc->model, rec);
	report_retain_leaked(sc->sym, sc->model, sc->dists, rec);
	kreport_follow_symbols(&sc->kr, rec);
	dists_apply(sc->dists, rec);
	space_apply(sc->space, rec);
	if (!sc->first_ns)
		sc->first_ns = rec->ts_ns;
	/* a child is read at its fork: one that ends at once would be gone at its exit */
	if (rec->type == HT_REC_FORK)
		serve_note_cgroup(sc, ((const struct ht_fork *)rec)->child_pid);
	else if (rec->pid)
		serve_note_cgroup(sc, rec->pid);
}

static const char *serve_cgroup_of(void *ctx, const struct model_proc *p)
{
	struct serve_ctx *sc = ctx;
	const struct serve_cgroup *cg = proctab_find(&sc->cgroups, p);

	return cg ? cg->path : "";
}

static void serve_forget(void *ctx, const struct model_proc *p)
{
	struct serve_ctx *sc = ctx;

	symbolize_forget(sc->sym, p->pid, p->start_ns);
	proctab_forget(&sc->cgroups, p, NULL);
	sc->forgotten++;
}

static void serve_reindex(void *ctx)
{
	proctab_reindex(&((struct serve_ctx *)ctx)->cgroups);
}

static void serve_mark(void *ctx, struct model *m)
{
	kreport_keep_stacks(&((struct serve_ctx *)ctx)->kr, m);
}

/* ---------------------------------------------------------------- answers */

/* A body made by writing to a FILE: the text, or NULL when it could not be made. */
struct serve_body {
	FILE *f;
	char *buf;
	size_t len;
};

static int serve_body_open(struct serve_body *b)
{
	*b = (struct serve_body){ 0 };
	b->f = open_memstream(&b->buf, &b->len);
	return b->f ? 0 : -1;
}

static enum MHD_Result serve_send(struct MHD_Connection *c, unsigned status, const char *type,
				  char *buf, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The body written to b, or 500 when it could not be. */
static enum MHD_Result serve_send_body(struct MHD_Connection *c, struct serve_body *b, int err,
				       const char *type)
{
	if (fclose(b->f) || err) {
		free(b->buf);
		return serve_send(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", NULL, 0);
	}
	return serve_send(c, MHD_HTTP_OK, type, b->buf, b->len);
}

static enum MHD_Result serve_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum MHD_Result serve_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return serve_send(c, status, "text/plain; charset=utf-8", text, (size_t)n);
}

static enum MHD_Result serve_metrics(struct serve_ctx *sc, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	bool om = prom_out_wants_openmetrics(accept);
	struct self_memory self;
	struct symbolize_mem sm;
	struct rusage ru;
	struct serve_body b;
	struct prom_out o = { .model = sc->model,
			      .space = sc->space,
			      .kr = sc->cli->kernel ? &sc->kr : NULL,
			      .top = serve_opts.top,
			      .cgroup = serve_cgroup_of,
			      .ctx = sc,
			      .forgotten = sc->forgotten,
			      .start_time_seconds = sc->start_time };

	getrusage(RUSAGE_SELF, &ru);
	o.cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	proc_self_memory(&self);
	symbolize_memory(sc->sym, &sm);
	o.rss_bytes = self.rss_kib * 1024;
	o.heap_bytes = self.heap_bytes;
	o.symbols_bytes = sm.bytes;
	if (serve_body_open(&b))
		return serve_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return serve_send_body(c, &b, prom_out_write(b.f, &o, om),
			       om ? PROM_OPENMETRICS_TYPE : PROM_TEXT_TYPE);
}

/* pid's processes (the live one and those exited) in the model: how many. */
static size_t serve_procs_of(struct serve_ctx *sc, uint32_t pid)
{
	size_t n = 0;

	for (size_t i = 0; i < model_nprocs(sc->model); i++)
		n += model_proc_at(sc->model, i)->pid == pid;
	return n;
}

static enum MHD_Result serve_heap(struct serve_ctx *sc, struct MHD_Connection *c)
{
	const char *pid_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pid");
	const char *seconds = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
	uint64_t now = source_now_ns();
	struct serve_body b;
	struct pprof_out o = { .model = sc->model,
			       .leaks = sc->leaks,
			       .dists = sc->dists,
			       .sym = sc->sym,
			       .kr = sc->cli->kernel ? &sc->kr : NULL };
	unsigned long pid = 0;
	char *end;

	if (seconds)
		return serve_text(c, MHD_HTTP_BAD_REQUEST,
				  "seconds: delta profiles are not kept; the profile is of "
				  "everything since tracing began\n");
	if (pid_arg) {
		errno = 0;
		pid = strtoul(pid_arg, &end, 10);
		if (errno || end == pid_arg || *end || !pid || pid > UINT32_MAX)
			return serve_text(c, MHD_HTTP_BAD_REQUEST, "pid: want a process id\n");
		if (!serve_procs_of(sc, (uint32_t)pid))
			return serve_text(c, MHD_HTTP_NOT_FOUND, "pid %lu: not traced\n", pid);
		o.pid = (uint32_t)pid;
		o.kr = NULL; /* the kernel's allocations are nobody's */
	}
	if (now < model_now(sc->model))
		now = model_now(sc->model);
	o.duration_ns = sc->first_ns && now > sc->first_ns ? now - sc->first_ns : 0;
	if (serve_body_open(&b))
		return serve_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return serve_send_body(c, &b, pprof_out_write(b.f, "/debug/pprof/heap", &o, now),
			       "application/octet-stream");
}

static enum MHD_Result serve_pprof_index(struct serve_ctx *sc, struct MHD_Connection *c)
{
	struct serve_body b;
	size_t live = 0;

	if (serve_body_open(&b))
		return serve_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	for (size_t i = 0; i < model_nprocs(sc->model); i++)
		live += !model_proc_at(sc->model, i)->exited;
	fprintf(b.f,
		"<!DOCTYPE html>\n<html><head><title>/debug/pprof/</title></head><body>\n"
		"<p>heaptrail: profiles of %zu processes (%zu live)</p>\n"
		"<p><a href=\"heap\">heap</a>: live and allocated objects and bytes per stack, "
		"since tracing began, of every process; <code>heap?pid=PID</code>: of one</p>\n"
		"</body></html>\n",
		model_nprocs(sc->model), live);
	return serve_send_body(c, &b, 0, "text/html; charset=utf-8");
}

static enum MHD_Result serve_index(struct MHD_Connection *c)
{
	return serve_text(c, MHD_HTTP_OK,
			  "heaptrail serve\n/metrics            Prometheus metrics\n"
			  "/debug/pprof/       pprof profiles\n"
			  "/debug/pprof/heap   heap profile (?pid=PID: one process)\n");
}

static enum MHD_Result serve_answer(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **con_cls)
{
	struct serve_ctx *sc = cls;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return serve_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	/* a GET with a body: answered once the body is in (and ignored) */
	if (*upload_data_size) {
		*upload_data_size = 0;
		*con_cls = c;
		return MHD_YES;
	}
	sc->requests++;
	if (!strcmp(url, "/"))
		return serve_index(c);
	if (!strcmp(url, "/debug/pprof/") || !strcmp(url, "/debug/pprof"))
		return serve_pprof_index(sc, c);
	if (strcmp(url, "/metrics") && strcmp(url, "/debug/pprof/heap"))
		return serve_text(c, MHD_HTTP_NOT_FOUND, "%s: not here (try /)\n", url);
	/* every record until now first: an answer is never behind what was asked */
	source_flush(sc->src);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(sc, c);
	return serve_heap(sc, c);
}

/* ---------------------------------------------------------------- the loop */

/* Exited processes older than --retain go, once a second at most. */
static void serve_retain(struct serve_ctx *sc)
{
	uint64_t now = source_now_ns(), keep = (uint64_t)(serve_opts.retain * 1e9);

	if (now < sc->next_retain_ns)
		return;
	sc->next_retain_ns = now + SERVE_RETAIN_CHECK_NS;
	if (now > keep)
		model_forget_exited(sc->model, now - keep);
}

/* Stacks nothing refers to any more go, every SERVE_STACKS_CHECK_NS. */
static void serve_drop_stacks(struct serve_ctx *sc)
{
	uint64_t now = source_now_ns();

	if (now < sc->next_stacks_ns)
		return;
	sc->next_stacks_ns = now + SERVE_STACKS_CHECK_NS;
	source_drop_unused_stacks(sc->src, sc->model);
}

static void serve_idle(void *ctx)
{
	struct serve_ctx *sc = ctx;

	MHD_run(sc->http);
	serve_retain(sc);
	serve_drop_stacks(sc);
}

/* The targets are gone (-p, -c): what was seen is served until a signal says to stop. */
static void serve_after_targets(struct serve_ctx *sc)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(sc->http, MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd pfd = { .fd = info ? info->epoll_fd : -1, .events = POLLIN };

	say("the targets are gone; serving what was seen until SIGINT/SIGTERM");
	while (!source_stop_requested()) {
		poll(&pfd, pfd.fd >= 0, 100);
		MHD_run(sc->http);
		serve_retain(sc);
		serve_drop_stacks(sc);
	}
}

/*
 * The listening socket, bound before anything is traced: a busy port or a bad address must not
 * cost a run. -1 after saying why.
 */
static int serve_listen(const char *spec, char *shown, size_t shown_len)
{
	char host[256], port[16];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE },
			*ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	size_t hl;
	int fd, err, one = 1;

	if (!colon || colon == spec || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5 ||
	    atoi(colon + 1) > 65535) {
		say("--listen '%s': want ADDR:PORT, a port up to 65535 (127.0.0.1:9464, "
		    "[::1]:9464)",
		    spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		say("--listen '%s': address too long", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		say("--listen '%s': %s (a numeric address and port)", host, gai_strerror(err));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		say("cannot listen on %s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		snprintf(shown, shown_len, "[%s]:%u", a,
			 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		snprintf(shown, shown_len, "%s:%u", a,
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return fd;
}

int cmd_serve(struct cli *cli)
{
	struct serve_ctx sc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { NULL, cli->duration, true, &o };
	struct model_hooks hooks = { .forget = serve_forget,
				     .reindex = serve_reindex,
				     .mark = serve_mark };
	struct timespec rt;
	char shown[96], banner[160];
	int status = EXIT_RUNTIME, fd;

	fd = serve_listen(serve_opts.listen, shown, sizeof(shown));
	if (fd < 0)
		return EXIT_RUNTIME;
	clock_gettime(CLOCK_REALTIME, &rt);
	sc.next_stacks_ns = source_now_ns() + SERVE_STACKS_CHECK_NS;
	sc.start_time = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
	o.want_alloc = o.capture_stacks = true;
	o.want_vm = o.want_rss = o.want_fault = o.fault_batching = true;
	o.hold_at_exec = true; /* mapped bytes from a snapshot right after exec, as timeline */
	o.kmem_stacks = cli->kernel;
	o.watch_stdout = false; /* nothing is written there */
	sc.model = model_new();
	sc.sym = symbolize_new();
	if (!sc.model || !sc.sym)
		goto out;
	sc.leaks = leaks_new(sc.model, 0);
	sc.dists = dists_new(sc.model, 0, true);
	sc.space = space_new(sc.model);
	hooks.ctx = &sc;
	if (!sc.leaks || !sc.dists || !sc.space || model_add_hooks(sc.model, &hooks) ||
	    kreport_init(&sc.kr, sc.model, false))
		goto out;
	space_now_only(sc.space);
	leaks_set_true_frames(sc.leaks, report_true_frames, sc.sym);
	dists_set_true_frames(sc.dists, report_true_frames, sc.sym);
	sc.code = (struct report_allocator_code){ sc.sym, cli->libs, cli->nlibs };
	model_set_internal(sc.model, report_is_allocator_code, &sc.code);
	sc.http = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, serve_answer, &sc,
				   MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
				   (unsigned)SERVE_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				   (unsigned)SERVE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				   (size_t)SERVE_REQUEST_BYTES, MHD_OPTION_END);
	if (!sc.http) {
		say("cannot start the HTTP server on %s", shown);
		goto out;
	}
	fd = -1; /* the daemon's now */
	say("serving http://%s/metrics and http://%s/debug/pprof/heap", shown, shown);
	snprintf(banner, sizeof(banner), "tracing allocations%s; serving until SIGINT/SIGTERM",
		 cli->kernel ? ", kernel ones too" : "");
	if (source_open(&so, serve_on_event, &sc, banner, &sc.src))
		goto out;
	source_set_idle(sc.src, serve_idle);
	if (source_run(sc.src))
		goto out;
	if (!source_stop_requested() && !cli->duration)
		serve_after_targets(&sc);
	status = EXIT_OK;
	if (cli->verbose)
		say("served %" PRIu64 " requests; %" PRIu64
		    " exited processes forgotten after --retain, %" PRIu64 " unused stacks dropped",
		    sc.requests, sc.forgotten, model_stacks_dropped(sc.model));
out:
	if (sc.http)
		MHD_stop_daemon(sc.http);
	if (fd >= 0)
		close(fd);
	source_close(sc.src);
	leaks_free(sc.leaks);
	kreport_fini(&sc.kr);
	symbolize_free(sc.sym);
	proctab_free(&sc.cgroups, NULL);
	dists_free(sc.dists);
	space_free(sc.space);
	model_free(sc.model);
	return status;
}
