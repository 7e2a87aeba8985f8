// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-allocator tracepoints: a table of the events, the parameter names each slot takes
 * from their __bpf_trace_<event> prototypes in BTF, and the recursion-miss counters read back.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "source/live/hooks.h"
#include "source/live/features.h"
#include "source/live/kmem.h"
#include "util/say.h"

struct ktp_desc {
	const char *event; /* raw tracepoint name */
	const char *group; /* for messages: the tracefs group */
	bool required;	   /* -k is refused without it */
	/* its event class before it became an event of its own ("a|b"), NULL: always its own */
	const char *classes;
	const char *gone; /* absent without a word since this release (merged into another) */
	/*
	 * Its arguments' names in order, as kernels before 6.1 declare them ("a,b|a,b,c": either
	 * prototype), for a BTF that names none (below).
	 */
	const char *legacy;
	/* parameter names by enum ht_kslot ("a|b": either); NULL: not read */
	const char *params[HT_KS_MAX];
	/* slots that must be found for the program to be useful */
	unsigned need;
};

#define NEED(s) (1u << (s))

static const struct ktp_desc ktp_descs[HT_KTP_MAX] = {
	[HT_KTP_KMALLOC] = { "kmalloc",
			     "kmem",
			     true,
			     "kmem_alloc",
			     NULL,
			     "call_site,ptr,bytes_req,bytes_alloc,gfp_flags",
			     { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
			       "node" },
			     NEED(HT_KS_PTR) },
	[HT_KTP_KFREE] = { "kfree",
			   "kmem",
			   true,
			   "kmem_free",
			   NULL,
			   "call_site,ptr",
			   { "call_site", "ptr" },
			   NEED(HT_KS_PTR) },
	[HT_KTP_CACHE_ALLOC] = { "kmem_cache_alloc",
				 "kmem",
				 true,
				 "kmem_alloc",
				 NULL,
				 "call_site,ptr,bytes_req,bytes_alloc,gfp_flags",
				 { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
				   "node", "s" },
				 NEED(HT_KS_PTR) },
	[HT_KTP_CACHE_FREE] = { "kmem_cache_free",
				"kmem",
				true,
				"kmem_free",
				NULL,
				"call_site,ptr|call_site,ptr,name",
				{ "call_site", "ptr", [HT_KS_CACHE] = "s" },
				NEED(HT_KS_PTR) },
	[HT_KTP_PAGE_ALLOC] = { "mm_page_alloc",
				"kmem",
				false,
				NULL,
				NULL,
				"page,order,gfp_flags,migratetype",
				{ [HT_KS_PTR] = "page",
				  [HT_KS_GFP] = "gfp_flags",
				  [HT_KS_ORDER] = "order" },
				NEED(HT_KS_PTR) | NEED(HT_KS_ORDER) },
	[HT_KTP_PAGE_FREE] = { "mm_page_free",
			       "kmem",
			       false,
			       NULL,
			       NULL,
			       "page,order",
			       { [HT_KS_PTR] = "page", [HT_KS_ORDER] = "order" },
			       NEED(HT_KS_PTR) },
	[HT_KTP_PAGE_FREE_BATCHED] = { "mm_page_free_batched",
				       "kmem",
				       false,
				       NULL,
				       NULL,
				       "page",
				       { [HT_KS_PTR] = "page" },
				       NEED(HT_KS_PTR) },
	[HT_KTP_VMAP_ALLOC] = { "alloc_vmap_area",
				"vmalloc",
				false,
				NULL,
				NULL,
				NULL,
				{ [HT_KS_PTR] = "addr",
				  [HT_KS_REQ] = "size",
				  [HT_KS_FAILED] = "failed" },
				NEED(HT_KS_PTR) | NEED(HT_KS_REQ) },
	[HT_KTP_VMAP_FREE] = { "free_vmap_area_noflush",
			       "vmalloc",
			       false,
			       NULL,
			       NULL,
			       NULL,
			       { [HT_KS_PTR] = "va_start" },
			       NEED(HT_KS_PTR) },
	[HT_KTP_PERCPU_ALLOC] = { "percpu_alloc_percpu",
				  "percpu",
				  false,
				  NULL,
				  NULL,
				  "reserved,is_atomic,size,align,base_addr,off,ptr",
				  { "call_site", "ptr", "size", "bytes_alloc", "gfp_flags" },
				  NEED(HT_KS_PTR) | NEED(HT_KS_REQ) },
	[HT_KTP_PERCPU_FREE] = { "percpu_free_percpu",
				 "percpu",
				 false,
				 NULL,
				 NULL,
				 "base_addr,off,ptr",
				 { [HT_KS_PTR] = "ptr" },
				 NEED(HT_KS_PTR) },
	[HT_KTP_KMALLOC_NODE] = { "kmalloc_node",
				  "kmem",
				  false,
				  "kmem_alloc_node",
				  "6.1",
				  "call_site,ptr,bytes_req,bytes_alloc,gfp_flags,node",
				  { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
				    "node" },
				  NEED(HT_KS_PTR) },
	[HT_KTP_CACHE_ALLOC_NODE] = { "kmem_cache_alloc_node",
				      "kmem",
				      false,
				      "kmem_alloc_node",
				      "6.1",
				      "call_site,ptr,bytes_req,bytes_alloc,gfp_flags,node",
				      { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
					"node" },
				      NEED(HT_KS_PTR) },
};

struct kmem {
	bool chosen[HT_KTP_MAX];
	int prog_fd[HT_KTP_MAX];
	int prog2_fd[HT_KTP_MAX]; /* the second copy of a free program, -1 if none */
	bool verbose;
	/* the watch of the free tracepoints (kmem_watch_start) */
	int runs_fd;   /* kmem_free_runs */
	int ncpus;     /* possible CPUs: the per-CPU values read */
	int *perf_fds; /* per free tracepoint and CPU: perf's count of its hits, or -1 */
	uint64_t base[HT_KTP_MAX][2]; /* each copy's runs and misses when the watch began */
	bool watching;
};

static struct bpf_program *ktp_prog(struct heaptrail_bpf *s, int ktp)
{
	struct bpf_program *progs[HT_KTP_MAX] = {
		[HT_KTP_KMALLOC] = s->progs.ktp_kmalloc,
		[HT_KTP_KFREE] = s->progs.ktp_kfree,
		[HT_KTP_CACHE_ALLOC] = s->progs.ktp_kmem_cache_alloc,
		[HT_KTP_CACHE_FREE] = s->progs.ktp_kmem_cache_free,
		[HT_KTP_PAGE_ALLOC] = s->progs.ktp_mm_page_alloc,
		[HT_KTP_PAGE_FREE] = s->progs.ktp_mm_page_free,
		[HT_KTP_PAGE_FREE_BATCHED] = s->progs.ktp_mm_page_free_batched,
		[HT_KTP_VMAP_ALLOC] = s->progs.ktp_alloc_vmap_area,
		[HT_KTP_VMAP_FREE] = s->progs.ktp_free_vmap_area_noflush,
		[HT_KTP_PERCPU_ALLOC] = s->progs.ktp_percpu_alloc_percpu,
		[HT_KTP_PERCPU_FREE] = s->progs.ktp_percpu_free_percpu,
		[HT_KTP_KMALLOC_NODE] = s->progs.ktp_kmalloc_node,
		[HT_KTP_CACHE_ALLOC_NODE] = s->progs.ktp_kmem_cache_alloc_node,
	};

	return progs[ktp];
}

/* The second copy of a free program (see KMEM_TP_FREE), NULL for allocations. */
static struct bpf_program *ktp_prog2(struct heaptrail_bpf *s, int ktp)
{
	struct bpf_program *progs[HT_KTP_MAX] = {
		[HT_KTP_KFREE] = s->progs.ktp2_kfree,
		[HT_KTP_CACHE_FREE] = s->progs.ktp2_kmem_cache_free,
		[HT_KTP_PAGE_FREE] = s->progs.ktp2_mm_page_free,
		[HT_KTP_PAGE_FREE_BATCHED] = s->progs.ktp2_mm_page_free_batched,
		[HT_KTP_VMAP_FREE] = s->progs.ktp2_free_vmap_area_noflush,
		[HT_KTP_PERCPU_FREE] = s->progs.ktp2_percpu_free_percpu,
	};

	return progs[ktp];
}

/*
 * Where BTF names no tracepoint argument (5.10's: its pahole left out the __bpf_trace_*
 * functions, which are notrace), the prototype the event had before 6.1, when it has as many
 * arguments as btf_trace_<event> and a pointer where the address goes. false when none fits.
 */
static bool kmem_legacy_layout(const struct ktp_desc *d, int nargs, struct ht_ktp_layout *l)
{
	for (const char *alt = d->legacy; alt && *alt;) {
		size_t alt_len = strcspn(alt, "|");
		char names[HT_KS_MAX + 8][32];
		int n = 0;

		for (const char *p = alt; p < alt + alt_len && n < HT_KS_MAX + 8;) {
			size_t len = strcspn(p, ",|");

			snprintf(names[n++], sizeof(names[0]), "%.*s", (int)len, p);
			p += len + (p[len] == ',');
		}
		alt += alt_len + (alt[alt_len] == '|');
		if (n != nargs - 1)
			continue;
		memset(l->idx, HT_ARG_NONE, sizeof(l->idx));
		for (int s = 0; s < HT_KS_MAX; s++)
			for (int i = 0; d->params[s] && i < n; i++)
				if (features_name_matches(names[i], d->params[s]))
					l->idx[s] = (uint8_t)i;
		if (l->idx[HT_KS_PTR] != HT_ARG_NONE &&
		    features_typedef_param_is_ptr(d->event, 1u + l->idx[HT_KS_PTR]))
			return true;
	}
	return false;
}

/*
 * The raw tracepoint's arguments are those of __bpf_trace_<event> after its first (__data),
 * or of __bpf_trace_<class> when the event is one of a class (kmalloc of kmem_alloc before
 * Linux 6.1); btf_trace_<event> says the event exists and how many arguments it has.
 * Returns false when the event is missing or a needed slot has no parameter of that name.
 * (Linux 6.1's kmem_cache_alloc passes the sizes, later ones the cache: either will do.)
 */
static bool kmem_layout(const struct ktp_desc *d, struct ht_ktp_layout *l, bool *legacy)
{
	int nargs = features_typedef_params(d->event);
	char fname[128];
	bool found;

	if (nargs < 0)
		return false;
	snprintf(fname, sizeof(fname), "__bpf_trace_%s", d->event);
	found = !features_params(fname, 1, 10, d->params, HT_KS_MAX, l->idx);
	for (const char *p = d->classes; !found && p && *p;) {
		size_t len = strcspn(p, "|");

		snprintf(fname, sizeof(fname), "__bpf_trace_%.*s", (int)len, p);
		found = features_func_nparams(fname) == nargs &&
			!features_params(fname, 1, 10, d->params, HT_KS_MAX, l->idx);
		p += len + (p[len] == '|');
	}
	*legacy = !found;
	if (!found && !kmem_legacy_layout(d, nargs, l))
		return false;
	for (int s = 0; s < HT_KS_MAX; s++)
		if (l->idx[s] == HT_ARG_NONE && (d->need & NEED(s)))
			return false;
	return true;
}

struct kmem *kmem_prepare(struct heaptrail_bpf *skel, bool wanted, bool stacks, unsigned table_size,
			  bool verbose)
{
	struct kmem *k = NULL;
	int missing_required = 0;

	if (wanted) {
		if (!features_btf()) {
			say("kernel allocators (-k) need the kernel's BTF: %s", strerror(errno));
			errno = ENOTSUP;
			return NULL;
		}
		k = calloc(1, sizeof(*k));
		if (!k)
			return NULL;
		k->verbose = verbose;
	}
	for (int t = 0; t < HT_KTP_MAX; t++) {
		struct ht_ktp_layout l;
		bool legacy = false, ok = wanted && kmem_layout(&ktp_descs[t], &l, &legacy);

		if (ok && legacy && verbose)
			say("fallback: -k: BTF names no argument of %s:%s (its __bpf_trace_* "
			    "functions are notrace, left out): read as kernels before 6.1 declare "
			    "it%s",
			    ktp_descs[t].group, ktp_descs[t].event,
			    t == HT_KTP_CACHE_ALLOC || t == HT_KTP_CACHE_ALLOC_NODE
				    ? ", its cache from the object's slab page"
				    : "");

		if (ok)
			skel->rodata->ktp_layout[t] = l;
		if (ktp_prog2(skel, t))
			bpf_program__set_autoload(ktp_prog2(skel, t), ok);
		if (k) {
			k->chosen[t] = ok;
			k->prog_fd[t] = k->prog2_fd[t] = -1;
			if (!ok && ktp_descs[t].required)
				missing_required++;
			if (!ok &&
			    !(ktp_descs[t].gone && features_typedef_params(ktp_descs[t].event) < 0))
				say("kernel allocators: no usable tracepoint %s:%s on this kernel; "
				    "its events are not traced",
				    ktp_descs[t].group, ktp_descs[t].event);
		}
		bpf_program__set_autoload(ktp_prog(skel, t), ok);
	}
	if (!wanted)
		return NULL;
	if (missing_required == 4) {
		say("kernel allocators (-k): this kernel has none of the kmem tracepoints");
		free(k);
		errno = ENOTSUP;
		return NULL;
	}
	skel->rodata->kmem_stacks = stacks;
	if (table_size && bpf_map__set_max_entries(skel->maps.kmem_live, table_size)) {
		say("--kmem-table-size %u: %s", table_size, strerror(errno));
		free(k);
		return NULL;
	}
	return k;
}

int kmem_attach(struct kmem *k, struct heaptrail_bpf *skel,
		int (*push)(void *ctx, struct bpf_link *link), void *ctx)
{
	if (!k)
		return 0;
	for (int t = 0; t < HT_KTP_MAX; t++) {
		struct bpf_program *progs[2] = { ktp_prog(skel, t), ktp_prog2(skel, t) };
		int *fds[2] = { &k->prog_fd[t], &k->prog2_fd[t] };

		if (!k->chosen[t])
			continue;
		for (int c = 0; c < 2 && progs[c]; c++) {
			struct bpf_link *link = bpf_program__attach(progs[c]);

			if (!link) {
				say("cannot attach raw tracepoint %s: %s", ktp_descs[t].event,
				    strerror(errno));
				return -1;
			}
			if (push(ctx, link)) {
				bpf_link__destroy(link);
				return -1;
			}
			*fds[c] = bpf_program__fd(progs[c]);
		}
		if (k->verbose)
			say("attached raw tracepoint %s:%s", ktp_descs[t].group,
			    ktp_descs[t].event);
	}
	return 0;
}

static uint64_t recursion_misses(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_prog_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.recursion_misses;
}

/*
 * An allocation event is lost when its program was busy. A free is lost only when both copies
 * were (an interrupt inside the copy that took an interrupted free): at most the smaller of the
 * two counts, which is what is reported.
 */
uint64_t kmem_nested_misses(const struct kmem *k)
{
	uint64_t sum = 0;

	if (!k)
		return 0;
	for (int t = 0; t < HT_KTP_MAX; t++) {
		uint64_t a = recursion_misses(k->prog_fd[t]);

		if (k->prog2_fd[t] >= 0) {
			uint64_t b = recursion_misses(k->prog2_fd[t]);

			a = a < b ? a : b;
		}
		sum += a;
	}
	return sum;
}

/* Each copy's runs plus misses of free tracepoint t: every hit is one or the other. */
static void kmem_seen(const struct kmem *k, int t, uint64_t seen[2])
{
	uint32_t key;
	uint64_t *v = calloc((size_t)k->ncpus, sizeof(*v));

	for (int c = 0; c < 2; c++) {
		seen[c] = recursion_misses(c ? k->prog2_fd[t] : k->prog_fd[t]);
		key = (uint32_t)(t * 2 + c);
		if (v && !bpf_map_lookup_elem(k->runs_fd, &key, v))
			for (int cpu = 0; cpu < k->ncpus; cpu++)
				seen[c] += v[cpu];
	}
	free(v);
}

/* The tracepoint's id in tracefs, or -1. */
static long kmem_tracepoint_id(int t)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[256];
	long id = -1;

	for (int r = 0; r < 2 && id < 0; r++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/events/%s/%s/id", roots[r], ktp_descs[t].group,
			 ktp_descs[t].event);
		f = fopen(path, "re");
		if (f && fscanf(f, "%ld", &id) != 1)
			id = -1;
		if (f)
			fclose(f);
	}
	return id;
}

/* Is free tracepoint t attached twice, and so watched by perf's count of its hits? */
static bool kmem_watched(const struct kmem *k, int t)
{
	return k->chosen[t] && k->prog2_fd[t] >= 0;
}

/* Turns the counting of free tracepoint t on or off on every CPU. */
static void kmem_watch_switch(struct kmem *k, int t, unsigned long req)
{
	for (int cpu = 0; cpu < k->ncpus; cpu++) {
		int fd = k->perf_fds[t * k->ncpus + cpu];

		if (fd >= 0)
			ioctl(fd, req, 0);
	}
}

int kmem_watch_start(struct kmem *k, struct heaptrail_bpf *skel)
{
	int n;

	if (!k)
		return 0;
	n = libbpf_num_possible_cpus();
	k->runs_fd = bpf_map__fd(skel->maps.kmem_free_runs);
	k->ncpus = n > 0 ? n : 1;
	k->perf_fds = malloc(sizeof(*k->perf_fds) * HT_KTP_MAX * (size_t)k->ncpus);
	if (!k->perf_fds)
		return -1;
	/*
	 * Opened disabled: the first counter of a tracepoint registers perf's probe on it, which
	 * can take milliseconds on a busy machine; enabling one is an ioctl.
	 */
	for (int t = 0; t < HT_KTP_MAX; t++) {
		struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT,
						.size = sizeof(attr),
						.disabled = 1 };
		long id = kmem_watched(k, t) ? kmem_tracepoint_id(t) : -1;

		attr.config = (uint64_t)id;
		for (int cpu = 0; cpu < k->ncpus; cpu++) {
			int *fd = &k->perf_fds[t * k->ncpus + cpu];

			*fd = id < 0 ? -1
				     : (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1,
						    PERF_FLAG_FD_CLOEXEC);
			if (*fd < 0 && id >= 0 && errno != ENODEV && k->verbose)
				say("cannot count %s hits on CPU %d (perf): %s; frees no program "
				    "saw there are not counted",
				    ktp_descs[t].event, cpu, strerror(errno));
		}
	}
	/*
	 * Counting begins before the programs' runs are read and ends after they are read again
	 * (kmem_watch_unseen): perf's window holds the programs' window, so a free no program
	 * saw cannot hide behind runs perf did not count. The windows' own frees (a few
	 * microseconds' worth) are counted as unseen: an overstatement, never a silence.
	 */
	for (int t = 0; t < HT_KTP_MAX; t++) {
		if (!kmem_watched(k, t))
			continue;
		kmem_watch_switch(k, t, PERF_EVENT_IOC_ENABLE);
		kmem_seen(k, t, k->base[t]);
	}
	k->watching = true;
	return 0;
}

uint64_t kmem_watch_unseen(struct kmem *k)
{
	uint64_t unseen = 0;

	if (!k || !k->watching)
		return 0;
	k->watching = false;
	for (int t = 0; t < HT_KTP_MAX; t++) {
		uint64_t hits = 0, seen[2], lost[2];
		bool counted = false;

		if (!kmem_watched(k, t))
			continue;
		/* the runs first, then counting stops: perf's window holds the programs' */
		kmem_seen(k, t, seen);
		kmem_watch_switch(k, t, PERF_EVENT_IOC_DISABLE);
		for (int cpu = 0; cpu < k->ncpus; cpu++) {
			int fd = k->perf_fds[t * k->ncpus + cpu];
			uint64_t v;

			if (fd < 0)
				continue;
			if (read(fd, &v, sizeof(v)) == sizeof(v)) {
				hits += v;
				counted = true;
			}
			close(fd);
		}
		if (!counted)
			continue;
		for (int c = 0; c < 2; c++) {
			uint64_t s = seen[c] - k->base[t][c];

			lost[c] = hits > s ? hits - s : 0;
		}
		/* a free is missed only when neither copy ran for it */
		unseen += lost[0] < lost[1] ? lost[0] : lost[1];
		if (k->verbose)
			say("%s: %" PRIu64 " hits (perf), seen by the programs %" PRIu64
			    " and %" PRIu64 " times (runs and misses)",
			    ktp_descs[t].event, hits, seen[0] - k->base[t][0],
			    seen[1] - k->base[t][1]);
	}
	return unseen;
}

void kmem_free(struct kmem *k)
{
	if (k && k->watching)
		for (int i = 0; i < HT_KTP_MAX * k->ncpus; i++)
			if (k->perf_fds[i] >= 0)
				close(k->perf_fds[i]);
	if (k)
		free(k->perf_fds);
	free(k);
}
