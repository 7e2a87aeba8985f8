// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-allocator tracepoints: a table of the events, the parameter names each slot takes
 * from their __bpf_trace_<event> prototypes in BTF, and the recursion-miss counters read back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "source/live/hooks.h"
#include "source/live/features.h"
#include "source/live/kmem.h"

struct ktp_desc {
	const char *event; /* raw tracepoint name */
	const char *group; /* for messages: the tracefs group */
	bool required;	   /* -k is refused without it */
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
			     { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
			       "node" },
			     NEED(HT_KS_PTR) },
	[HT_KTP_KFREE] = { "kfree", "kmem", true, { "call_site", "ptr" }, NEED(HT_KS_PTR) },
	[HT_KTP_CACHE_ALLOC] = { "kmem_cache_alloc",
				 "kmem",
				 true,
				 { "call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
				   "node", "s" },
				 NEED(HT_KS_PTR) },
	[HT_KTP_CACHE_FREE] = { "kmem_cache_free",
				"kmem",
				true,
				{ "call_site", "ptr", [HT_KS_CACHE] = "s" },
				NEED(HT_KS_PTR) },
	[HT_KTP_PAGE_ALLOC] = { "mm_page_alloc",
				"kmem",
				false,
				{ [HT_KS_PTR] = "page",
				  [HT_KS_GFP] = "gfp_flags",
				  [HT_KS_ORDER] = "order" },
				NEED(HT_KS_PTR) | NEED(HT_KS_ORDER) },
	[HT_KTP_PAGE_FREE] = { "mm_page_free",
			       "kmem",
			       false,
			       { [HT_KS_PTR] = "page", [HT_KS_ORDER] = "order" },
			       NEED(HT_KS_PTR) },
	[HT_KTP_PAGE_FREE_BATCHED] = { "mm_page_free_batched",
				       "kmem",
				       false,
				       { [HT_KS_PTR] = "page" },
				       NEED(HT_KS_PTR) },
	[HT_KTP_VMAP_ALLOC] = { "alloc_vmap_area",
				"vmalloc",
				false,
				{ [HT_KS_PTR] = "addr",
				  [HT_KS_REQ] = "size",
				  [HT_KS_FAILED] = "failed" },
				NEED(HT_KS_PTR) | NEED(HT_KS_REQ) },
	[HT_KTP_VMAP_FREE] = { "free_vmap_area_noflush",
			       "vmalloc",
			       false,
			       { [HT_KS_PTR] = "va_start" },
			       NEED(HT_KS_PTR) },
	[HT_KTP_PERCPU_ALLOC] = { "percpu_alloc_percpu",
				  "percpu",
				  false,
				  { "call_site", "ptr", "size", "bytes_alloc", "gfp_flags" },
				  NEED(HT_KS_PTR) | NEED(HT_KS_REQ) },
	[HT_KTP_PERCPU_FREE] = { "percpu_free_percpu",
				 "percpu",
				 false,
				 { [HT_KS_PTR] = "ptr" },
				 NEED(HT_KS_PTR) },
};

struct kmem {
	bool chosen[HT_KTP_MAX];
	int prog_fd[HT_KTP_MAX];
	int prog2_fd[HT_KTP_MAX]; /* the second copy of a free program, -1 if none */
	bool verbose;
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
 * The raw tracepoint's arguments are those of __bpf_trace_<event> after its first (__data).
 * Returns false when the event is missing or a needed slot has no parameter of that name.
 * (Linux 6.1's kmem_cache_alloc passes the sizes, later ones the cache: either will do.)
 */
static bool kmem_layout(const struct ktp_desc *d, struct ht_ktp_layout *l)
{
	char fname[128];

	snprintf(fname, sizeof(fname), "__bpf_trace_%s", d->event);
	if (features_params(fname, 1, 10, d->params, HT_KS_MAX, l->idx))
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
			fprintf(stderr,
				"heaptrail: kernel allocators (-k) need the kernel's BTF: %s\n",
				strerror(errno));
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
		bool ok = wanted && kmem_layout(&ktp_descs[t], &l);

		if (ok)
			skel->rodata->ktp_layout[t] = l;
		if (ktp_prog2(skel, t))
			bpf_program__set_autoload(ktp_prog2(skel, t), ok);
		if (k) {
			k->chosen[t] = ok;
			k->prog_fd[t] = k->prog2_fd[t] = -1;
			if (!ok && ktp_descs[t].required)
				missing_required++;
			if (!ok)
				fprintf(stderr,
					"heaptrail: kernel allocators: no usable tracepoint %s:%s "
					"on "
					"this kernel; its events are not traced\n",
					ktp_descs[t].group, ktp_descs[t].event);
		}
		bpf_program__set_autoload(ktp_prog(skel, t), ok);
	}
	if (!wanted)
		return NULL;
	if (missing_required == 4) {
		fprintf(stderr, "heaptrail: kernel allocators (-k): this kernel has none of the "
				"kmem tracepoints\n");
		free(k);
		errno = ENOTSUP;
		return NULL;
	}
	skel->rodata->kmem_stacks = stacks;
	if (table_size && bpf_map__set_max_entries(skel->maps.kmem_live, table_size)) {
		fprintf(stderr, "heaptrail: --kmem-table-size %u: %s\n", table_size,
			strerror(errno));
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
				fprintf(stderr, "heaptrail: cannot attach raw tracepoint %s: %s\n",
					ktp_descs[t].event, strerror(errno));
				return -1;
			}
			if (push(ctx, link)) {
				bpf_link__destroy(link);
				return -1;
			}
			*fds[c] = bpf_program__fd(progs[c]);
		}
		if (k->verbose)
			fprintf(stderr, "heaptrail: attached raw tracepoint %s:%s\n",
				ktp_descs[t].group, ktp_descs[t].event);
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

void kmem_free(struct kmem *k)
{
	free(k);
}
