// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail timeline`: how each process's memory evolved. The address space is rebuilt from a
 * /proc/PID/maps snapshot (at exec, with the process held before ld.so runs; at attach; at fork)
 * and every memory syscall after it; series of heap, live, mapped and resident bytes and faults.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "output/json.h"
#include "model/model.h"
#include "util/procinfo.h"
#include "util/textbuf.h"
#include "source/source.h"
#include "output/timeline_out.h"
#include "model/vma.h"

/*
 * A series keeps at most one point per `res` ns, starting at 1 us; at SERIES_MAX_POINTS it
 * keeps every other point and doubles res: bounded whatever the run's length, and a run of a
 * millisecond keeps its shape as well as one of an hour.
 */
#define SERIES_RES_NS	  1000ull
#define SERIES_MAX_POINTS 4096

enum series_id {
	S_HEAP,
	S_LIVE,
	S_MAPPED,
	S_ALLOC_MAPPED,
	S_RSS_ANON,
	S_RSS_FILE,
	S_RSS_SHMEM,
	S_RSS_SWAP,
	S_LIVE_ALLOCS,
	S_FAULTS,
	S_MAX
};
static const char *const series_names[S_MAX] = {
	"heap_bytes",  "live_bytes", "mapped_bytes", "allocator_mapped_bytes",
	"rss_anon",    "rss_file",   "rss_shmem",    "rss_swap",
	"live_allocs", "faults",
};
/* rss_stat members (enum ht_rss_member) to series */
static const int rss_series[4] = { S_RSS_FILE, S_RSS_ANON, S_RSS_SWAP, S_RSS_SHMEM };

struct series {
	uint64_t *pts; /* ts, value pairs */
	size_t n, cap;
	uint64_t res; /* ns per point at most */
};

struct tl_proc {
	const struct model_proc *p;
	struct vma_map vmas;
	bool loaded;	    /* the snapshot was read */
	uint64_t brk_start; /* 0: not known yet */
	uint64_t faults;
	uint64_t first_touch; /* faults on pages not present yet: memory made real */
	uint64_t faults_by_kind[VMA_SPECIAL + 2][2]; /* VMA kind (+1: none), read/write */
	struct series s[S_MAX];
	struct tl_marker *markers; /* large mmaps and munmaps, brk moves */
	size_t nmarkers;
	uint32_t *tids;
	size_t ntids;
	/*
	 * From a recording: the maps snapshot the recorder read just before a file mapping or a
	 * shmat (its records, chunks appended until the next syscall), where -i finds what the
	 * live timeline reads from /proc: the mapped file's path, the segment's size.
	 */
	struct textbuf snap;
	bool snap_open;
};

#define MARKER_MIN_BYTES (256u << 10)

/* timeline's own options: where its pictures and tables go. */
static struct {
	const char *perfetto, *csv, *svg;
} timeline_opts;

enum { TIMELINE_OPT_PERFETTO = 1, TIMELINE_OPT_CSV, TIMELINE_OPT_SVG };

static const struct cli_option timeline_options[] = {
	{ "perfetto", 0, "FILE", "Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing",
	  TIMELINE_OPT_PERFETTO, false },
	{ "csv", 0, "FILE", "Every series point as CSV rows", TIMELINE_OPT_CSV, false },
	{ "svg", 0, "FILE", "A chart per process", TIMELINE_OPT_SVG, false },
	{ NULL },
};

static int timeline_parse(int key, const char *arg)
{
	if (key == TIMELINE_OPT_PERFETTO)
		timeline_opts.perfetto = arg;
	else if (key == TIMELINE_OPT_CSV)
		timeline_opts.csv = arg;
	else if (key == TIMELINE_OPT_SVG)
		timeline_opts.svg = arg;
	return 0;
}

struct tl_ctx {
	struct cli *cli;
	struct model *model;
	struct tl_proc **procs;
	size_t nprocs;
	struct json json;
};

/* A point; within the same res the last value wins. */
static void series_add(struct series *s, uint64_t ts, uint64_t v)
{
	if (!s->res)
		s->res = SERIES_RES_NS;
	/* batched faults of two threads can arrive out of order: never step back in time */
	if (s->n && ts < s->pts[2 * (s->n - 1)])
		ts = s->pts[2 * (s->n - 1)];
	if (s->n == SERIES_MAX_POINTS) {
		/* keep the later point of each pair: the value in effect at the end of both */
		for (size_t i = 0; i < s->n / 2; i++) {
			s->pts[2 * i] = s->pts[2 * (2 * i + 1)];
			s->pts[2 * i + 1] = s->pts[2 * (2 * i + 1) + 1];
		}
		s->n /= 2;
		s->res *= 2;
	}
	if (s->n && s->pts[2 * (s->n - 1)] / s->res == ts / s->res) {
		s->pts[2 * (s->n - 1) + 1] = v;
		return;
	}
	if (s->n && s->pts[2 * (s->n - 1) + 1] == v)
		return; /* no change */
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *p = realloc(s->pts, ncap * 2 * sizeof(*p));

		if (!p)
			return;
		s->pts = p;
		s->cap = ncap;
	}
	s->pts[2 * s->n] = ts;
	s->pts[2 * s->n + 1] = v;
	s->n++;
}

static struct tl_proc *tl_of(struct tl_ctx *tc, const struct model_proc *p)
{
	struct tl_proc *t, **n;

	if (!p)
		return NULL;
	if (p->user)
		return p->user;
	n = realloc(tc->procs, (tc->nprocs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	tc->procs = n;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->p = p;
	model_set_user(tc->model, p, t);
	vma_map_init(&t->vmas);
	tc->procs[tc->nprocs++] = t;
	return t;
}

/* The starting point of the reconstruction: a /proc/PID/maps text. */
static void start_from(struct tl_proc *t, const char *text, size_t len)
{
	vma_map_load(&t->vmas, text, len);
	t->loaded = true;
	for (size_t i = 0; i < t->vmas.n; i++)
		if (t->vmas.v[i].kind == VMA_HEAP)
			t->brk_start = t->vmas.v[i].start;
}

/* Reads /proc/PID/maps now (live only). */
static void load_maps(struct tl_ctx *tc, struct tl_proc *t)
{
	size_t len;
	char *text;

	if (tc->cli->input)
		return;
	text = proc_maps_text((pid_t)t->p->pid, &len);
	if (!text)
		return;
	start_from(t, text, len);
	free(text);
}

static const char *perms_of(unsigned prot, unsigned flags)
{
	static char p[5];

	snprintf(p, sizeof(p), "%c%c%c%c", prot & PROT_READ ? 'r' : '-',
		 prot & PROT_WRITE ? 'w' : '-', prot & PROT_EXEC ? 'x' : '-',
		 (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE
			 ? 's'
			 : 'p');
	return p;
}

/* The path in the maps text line that holds addr ("" if none), and that line's end (0: none). */
static uint64_t maps_path_at(const char *text, size_t text_len, uint64_t addr, char *out,
			     size_t len)
{
	const char *p = text, *end = text + text_len;

	out[0] = '\0';
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)) ?: end;
		char line[4352];
		uint64_t s, e;

		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &s, &e) == 2 && addr >= s && addr < e) {
			const char *slash = strchr(line, '/');

			if (slash)
				snprintf(out, len, "%s", slash);
			return e;
		}
		p = eol + 1;
	}
	return 0;
}

/*
 * The file behind a new mapping: the fd, if still open, else the line of /proc/PID/maps that
 * holds the address (from a recording, of the snapshot read then). "" when neither says.
 */
static void file_of(struct tl_ctx *tc, struct tl_proc *t, int fd, uint64_t addr, char *out,
		    size_t len)
{
	char link[64], *text;
	size_t text_len;
	ssize_t n;

	out[0] = '\0';
	if (tc->cli->input) {
		maps_path_at(t->snap.text, t->snap.len, addr, out, len);
		return;
	}
	snprintf(link, sizeof(link), "/proc/%u/fd/%d", t->p->pid, fd);
	n = readlink(link, out, len - 1);
	if (n > 0 && out[0] == '/') {
		out[n] = '\0';
		return;
	}
	out[0] = '\0';
	text = proc_maps_text((pid_t)t->p->pid, &text_len);
	if (text)
		maps_path_at(text, text_len, addr, out, len);
	free(text);
}

static void add_marker(struct tl_proc *t, uint64_t ts, uint64_t bytes, const char *what)
{
	struct tl_marker *m = realloc(t->markers, (t->nmarkers + 1) * sizeof(*m));

	if (!m)
		return;
	t->markers = m;
	m = &t->markers[t->nmarkers++];
	m->ts_ns = ts;
	m->bytes = bytes;
	snprintf(m->label, sizeof(m->label), "%s %.1f MiB", what, (double)bytes / (1 << 20));
}

static void note_tid(struct tl_proc *t, uint32_t tid)
{
	uint32_t *n;

	for (size_t i = 0; i < t->ntids; i++)
		if (t->tids[i] == tid)
			return;
	n = realloc(t->tids, (t->ntids + 1) * sizeof(*n));
	if (n) {
		t->tids = n;
		t->tids[t->ntids++] = tid;
	}
}

/*
 * Size of a System V segment: live from /proc/sysvipc/shm; from a recording, the snapshot's
 * lines of that segment from where it was attached.
 */
static uint64_t shm_size(struct tl_ctx *tc, const struct tl_proc *t, int shmid, uint64_t addr)
{
	char line[512], path[4096], next[4096];
	uint64_t size = 0, end;
	FILE *f;
	int id;
	unsigned long long sz;

	if (tc->cli->input) {
		end = maps_path_at(t->snap.text, t->snap.len, addr, path, sizeof(path));
		if (!end || strncmp(path, "/SYSV", 5))
			return 0;
		/* one segment may show as several VMAs (mprotect'ed parts) */
		for (uint64_t e;
		     (e = maps_path_at(t->snap.text, t->snap.len, end, next, sizeof(next))) &&
		     !strcmp(next, path);)
			end = e;
		return end - addr;
	}
	f = fopen("/proc/sysvipc/shm", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %d %*o %llu", &id, &sz) == 2 && id == shmid)
			size = sz;
	if (f)
		fclose(f);
	return size;
}

static void apply_syscall(struct tl_ctx *tc, struct tl_proc *t, const struct ht_syscall *s)
{
	struct vma_map *m = &t->vmas;
	const uint64_t *a = (const uint64_t *)s->args;
	bool in_alloc = s->hdr.flags & HT_F_IN_ALLOC;
	char path[4096];
	int err;

	if (ht_syscall_failed(s, &err)) {
		/* brk: the failure tells where the break is */
		if (s->sys == HT_SYS_BRK && !t->brk_start)
			t->brk_start = (uint64_t)s->ret;
		/* mprotect stopped at a hole, after changing what came before it */
		if ((s->sys == HT_SYS_MPROTECT || s->sys == HT_SYS_PKEY_MPROTECT) && err == ENOMEM)
			vma_map_protect_until_hole(m, a[0], a[1], (unsigned)a[2]);
		return;
	}
	switch (s->sys) {
	case HT_SYS_MMAP:
		if (a[1] >= MARKER_MIN_BYTES)
			add_marker(t, s->hdr.ts_ns, a[1],
				   in_alloc ? "mmap by the allocator" : "mmap");
		if (a[3] & MAP_ANONYMOUS) {
			vma_map_add(m, (uint64_t)s->ret, a[1],
				    perms_of((unsigned)a[2], (unsigned)a[3]), VMA_ANON, NULL);
		} else {
			file_of(tc, t, (int)a[4], (uint64_t)s->ret, path, sizeof(path));
			vma_map_add(m, (uint64_t)s->ret, a[1],
				    perms_of((unsigned)a[2], (unsigned)a[3]), VMA_FILE,
				    path[0] ? path : NULL);
		}
		break;
	case HT_SYS_MUNMAP:
		if (a[1] >= MARKER_MIN_BYTES)
			add_marker(t, s->hdr.ts_ns, a[1], "munmap");
		vma_map_remove(m, a[0], a[1]);
		break;
	case HT_SYS_MPROTECT:
	case HT_SYS_PKEY_MPROTECT:
		vma_map_protect(m, a[0], a[1], (unsigned)a[2]);
		break;
	case HT_SYS_MREMAP:
		vma_map_remap(m, a[0], a[1], a[2], (unsigned)a[3], (uint64_t)s->ret);
		break;
	case HT_SYS_BRK:
		if (!t->brk_start)
			t->brk_start = (uint64_t)s->ret; /* the first break: brk(0) */
		else if (a[0]) {
			const struct vma *heap = NULL;

			for (size_t i = 0; i < m->n; i++)
				if (m->v[i].kind == VMA_HEAP)
					heap = &m->v[i];
			add_marker(t, s->hdr.ts_ns,
				   (uint64_t)s->ret - (heap ? heap->start : t->brk_start),
				   "brk: heap");
			vma_map_brk(m, t->brk_start, (uint64_t)s->ret);
		}
		series_add(&t->s[S_HEAP], s->hdr.ts_ns, (uint64_t)s->ret - t->brk_start);
		break;
	case HT_SYS_SHMAT: {
		uint64_t size = shm_size(tc, t, (int)a[0], (uint64_t)s->ret);

		snprintf(path, sizeof(path), "/SYSV shmid %d", (int)a[0]);
		if (size)
			vma_map_add(m, (uint64_t)s->ret, size, a[2] & 010000 ? "r--s" : "rw-s",
				    VMA_SHM, path);
		break;
	}
	case HT_SYS_SHMDT: {
		const struct vma *v = vma_map_find(m, a[0]);

		if (v && v->kind == VMA_SHM) {
			uint64_t start = v->start, end = v->end;
			const char *p = v->path;

			/* the whole segment: the shm VMAs of that segment from addr on */
			for (const struct vma *w;
			     (w = vma_map_find(m, end)) && w->kind == VMA_SHM && w->path == p;)
				end = w->end;
			vma_map_remove(m, start, end - start);
		}
		break;
	}
	case HT_SYS_MLOCK:
	case HT_SYS_MLOCK2:
	case HT_SYS_MUNLOCK:
		vma_map_lock(m, a[0], a[1], s->sys != HT_SYS_MUNLOCK);
		break;
	case HT_SYS_MLOCKALL:
	case HT_SYS_MUNLOCKALL:
		vma_map_lock(m, 0, UINT64_MAX & ~4095ull, s->sys == HT_SYS_MLOCKALL);
		break;
	}
	/* what malloc mapped or moved the break for, the program did not ask for directly */
	if (s->sys == HT_SYS_MMAP || s->sys == HT_SYS_MREMAP)
		vma_map_set_allocator(m, (uint64_t)s->ret, s->sys == HT_SYS_MMAP ? a[1] : a[2],
				      in_alloc);
	else if (s->sys == HT_SYS_BRK && in_alloc && t->brk_start &&
		 (uint64_t)s->ret > t->brk_start)
		vma_map_set_allocator(m, t->brk_start, (uint64_t)s->ret - t->brk_start, true);
	series_add(&t->s[S_MAPPED], s->hdr.ts_ns, vma_map_bytes(m));
	series_add(&t->s[S_ALLOC_MAPPED], s->hdr.ts_ns, vma_map_allocator_bytes(m));
}

/* A user fault below the stack is the stack growing down. */
static void stack_growth(struct tl_proc *t, uint64_t addr)
{
	for (size_t i = 0; i < t->vmas.n; i++) {
		struct vma *v = &t->vmas.v[i];

		if (v->kind == VMA_STACK && addr < v->start && v->start - addr < (8u << 20) &&
		    !vma_map_find(&t->vmas, addr)) {
			uint64_t start = addr & ~4095ull;

			vma_map_add(&t->vmas, start, v->start - start, v->perms, VMA_STACK,
				    v->path);
			return;
		}
	}
}

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct tl_ctx *tc = ctx;
	struct tl_proc *t;

	model_apply(tc->model, rec);
	t = tl_of(tc, model_proc_live(tc->model, rec->pid));
	if (!t)
		return;
	if (rec->tid)
		note_tid(t, rec->tid);
	switch (rec->type) {
	case HT_REC_EXEC:
		/* a new program: its mappings come with the hold that follows */
		vma_map_free(&t->vmas);
		t->loaded = false;
		t->brk_start = 0;
		break;
	case HT_REC_MAPS: {
		const struct ht_maps *mp = (const void *)rec;

		/* from a recording: the first snapshot after exec, attach or fork is the start */
		if (tc->cli->input && !t->loaded) {
			start_from(t, mp->text, mp->len);
		} else if (tc->cli->input) {
			if (!t->snap_open) /* a new snapshot replaces the last */
				t->snap.len = 0;
			textbuf_append(&t->snap, mp->text, mp->len);
			t->snap_open = true;
		}
		break;
	}
	case HT_REC_HELD: /* stopped at exec or fork: the snapshot is exact */
	case HT_REC_COMM: /* attached: read it now */
		if (!t->loaded || rec->type == HT_REC_HELD)
			load_maps(tc, t);
		break;
	case HT_REC_SYSCALL:
		if (!t->loaded)
			load_maps(tc, t); /* -a: the first sight of a process */
		apply_syscall(tc, t, (const struct ht_syscall *)rec);
		t->snap_open = false; /* the next snapshot is another */
		break;
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;
		const struct vma *v;

		stack_growth(t, f->address);
		v = vma_map_find(&t->vmas, f->address);
		t->faults_by_kind[v ? v->kind : VMA_SPECIAL + 1][!!(f->error_code & HT_PF_WRITE)]++;
		if (!(f->error_code & HT_PF_PROT))
			t->first_touch++;
		series_add(&t->s[S_FAULTS], rec->ts_ns, ++t->faults);
		break;
	}
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		if (r->member < 4)
			series_add(&t->s[rss_series[r->member]], rec->ts_ns, (uint64_t)r->size);
		break;
	}
	case HT_REC_ALLOC:
		series_add(&t->s[S_LIVE], rec->ts_ns, t->p->live_bytes);
		series_add(&t->s[S_LIVE_ALLOCS], rec->ts_ns, t->p->count);
		break;
	}
}

static void json_report(struct tl_ctx *tc)
{
	struct json *j = &tc->json;

	json_object_begin(j);
	json_key(j, "processes");
	json_array_begin(j);
	for (size_t i = 0; i < tc->nprocs; i++) {
		struct tl_proc *t = tc->procs[i];

		json_object_begin(j);
		json_kv_u64(j, "pid", t->p->pid);
		json_kv_string(j, "comm", t->p->comm);
		json_kv_u64(j, "start_ns", t->p->start_ns);
		json_kv_bool(j, "exited", t->p->exited);
		json_key(j, "series");
		json_object_begin(j);
		for (int k = 0; k < S_MAX; k++) {
			json_key(j, series_names[k]);
			json_array_begin(j);
			for (size_t p = 0; p < t->s[k].n; p++) {
				json_array_begin(j);
				json_u64(j, t->s[k].pts[2 * p]);
				json_u64(j, t->s[k].pts[2 * p + 1]);
				json_array_end(j);
			}
			json_array_end(j);
		}
		json_object_end(j);
		json_key(j, "faults");
		json_object_begin(j);
		json_kv_u64(j, "total", t->faults);
		json_kv_u64(j, "first_touch", t->first_touch);
		json_key(j, "by_kind");
		json_object_begin(j);
		for (int k = 0; k <= VMA_SPECIAL + 1; k++) {
			if (!t->faults_by_kind[k][0] && !t->faults_by_kind[k][1])
				continue;
			json_key(j, k <= VMA_SPECIAL ? vma_kind_name(k) : "unmapped");
			json_object_begin(j);
			json_kv_u64(j, "read", t->faults_by_kind[k][0]);
			json_kv_u64(j, "write", t->faults_by_kind[k][1]);
			json_object_end(j);
		}
		json_object_end(j);
		json_object_end(j);
		json_key(j, "final_vmas");
		json_array_begin(j);
		for (size_t v = 0; v < t->vmas.n; v++) {
			const struct vma *m = &t->vmas.v[v];

			json_object_begin(j);
			json_kv_addr(j, "start", m->start);
			json_kv_addr(j, "end", m->end);
			json_kv_string(j, "perms", m->perms);
			json_kv_string(j, "kind", vma_kind_name(m->kind));
			json_key(j, "path");
			if (m->path)
				json_string(j, m->path);
			else
				json_null(j);
			if (m->locked)
				json_kv_bool(j, "locked", true);
			if (m->by_allocator)
				json_kv_bool(j, "by_allocator", true);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), model_lost(tc->model)[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
}

static void text_report(struct tl_ctx *tc)
{
	for (size_t i = 0; i < tc->nprocs; i++) {
		struct tl_proc *t = tc->procs[i];

		printf("pid %u (%s): %zu mappings, %" PRIu64 " bytes at the end\n", t->p->pid,
		       t->p->comm, t->vmas.n, vma_map_bytes(&t->vmas));
		for (int k = 0; k < S_MAX; k++) {
			uint64_t max = 0;

			for (size_t p = 0; p < t->s[k].n; p++)
				if (t->s[k].pts[2 * p + 1] > max)
					max = t->s[k].pts[2 * p + 1];
			if (t->s[k].n)
				printf("  %-13s %zu points, last %" PRIu64 ", max %" PRIu64 "\n",
				       series_names[k], t->s[k].n, t->s[k].pts[2 * t->s[k].n - 1],
				       max);
		}
		for (size_t v = 0; v < t->vmas.n; v++)
			printf("  %012" PRIx64 "-%012" PRIx64 " %s %-5s %s\n", t->vmas.v[v].start,
			       t->vmas.v[v].end, t->vmas.v[v].perms,
			       vma_kind_name(t->vmas.v[v].kind),
			       t->vmas.v[v].path ? t->vmas.v[v].path : "");
	}
}

/* The outputs asked for, each into its file. */
static int write_outputs(struct tl_ctx *tc)
{
	static const char *const units[S_MAX] = { "bytes", "bytes", "bytes", "bytes", "bytes",
						  "bytes", "bytes", "bytes", "count", "count" };
	struct tl_process *procs = calloc(tc->nprocs + 1, sizeof(*procs));
	struct tl_series *series = calloc(tc->nprocs * S_MAX + 1, sizeof(*series));
	const struct {
		const char *path;
		void (*write)(FILE *, const struct tl_process *, size_t);
	} outs[] = { { timeline_opts.perfetto, tl_write_perfetto },
		     { timeline_opts.csv, tl_write_csv },
		     { timeline_opts.svg, tl_write_svg } };
	int err = 0;

	if (!procs || !series) {
		free(procs);
		free(series);
		return -1;
	}
	for (size_t i = 0; i < tc->nprocs; i++) {
		struct tl_proc *t = tc->procs[i];

		for (int k = 0; k < S_MAX; k++)
			series[i * S_MAX + k] = (struct tl_series){ series_names[k], units[k],
								    t->s[k].pts, t->s[k].n };
		procs[i] = (struct tl_process){ t->p->pid, t->p->comm, t->p->start_ns,
						t->tids,   t->ntids,   &series[i * S_MAX],
						S_MAX,	   t->markers, t->nmarkers };
	}
	for (size_t o = 0; o < sizeof(outs) / sizeof(outs[0]); o++) {
		FILE *f;

		if (!outs[o].path)
			continue;
		f = fopen(outs[o].path, "we");
		if (!f) {
			fprintf(stderr, "heaptrail: cannot create %s: %s\n", outs[o].path,
				strerror(errno));
			err = -1;
			continue;
		}
		outs[o].write(f, procs, tc->nprocs);
		if (fclose(f)) {
			fprintf(stderr, "heaptrail: writing %s: %s\n", outs[o].path,
				strerror(errno));
			err = -1;
		}
	}
	free(series);
	free(procs);
	return err;
}

int cmd_timeline(struct cli *cli)
{
	struct tl_ctx tc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source *src = NULL;
	int status = EXIT_RUNTIME;

	o.want_alloc = o.want_vm = o.want_fault = o.want_rss = true;
	o.fault_batching = !cli->fault_stream;
	o.hold_at_exec = true;
	tc.model = model_new();
	if (!tc.model)
		return EXIT_RUNTIME;
	json_init(&tc.json, stdout);
	if (source_open(cli->input, cli->duration, &o, on_event, &tc,
			"tracing; the timeline comes at the end", &src) ||
	    source_run(src))
		goto out;
	status = write_outputs(&tc) ? EXIT_RUNTIME : EXIT_OK;
	if (cli->json)
		json_report(&tc);
	else if (!timeline_opts.perfetto && !timeline_opts.csv && !timeline_opts.svg)
		text_report(&tc);
	fflush(stdout);
out:
	source_close(src);
	for (size_t i = 0; i < tc.nprocs; i++) {
		vma_map_free(&tc.procs[i]->vmas);
		for (int k = 0; k < S_MAX; k++)
			free(tc.procs[i]->s[k].pts);
		free(tc.procs[i]->markers);
		free(tc.procs[i]->tids);
		textbuf_free(&tc.procs[i]->snap);
		free(tc.procs[i]);
	}
	free(tc.procs);
	model_free(tc.model);
	return status;
}

const struct cli_command cmd_timeline_command = {
	.name = "timeline",
	.summary = "address space, heap, live bytes, RSS and faults over time",
	.usage = "TARGET [--json | --perfetto FILE | --csv FILE | --svg FILE] [OPTION...]",
	.groups = CLI_TARGET | CLI_INPUT | CLI_JSON | CLI_FAULTS,
	.options = timeline_options,
	.parse = timeline_parse,
	.run = cmd_timeline,
};
