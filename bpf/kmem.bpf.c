// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel allocators (-k): kmalloc, slab caches, pages, vmalloc and percpu through their raw
 * tracepoints, the live ones followed in a table so that only their frees are sent, with
 * kernel stacks.
 */
#include "shared.h"

/*
 * Raw tracepoints, not perf-event ones: a perf tracepoint program is skipped whenever any
 * tracing program runs on that CPU (bpf_prog_active), so a kfree in an interrupt that lands
 * during our kmalloc program would be lost (bcc memleak's false leaks, its issue 2997). A raw
 * tracepoint program only skips its own nested runs, and the kernel counts them
 * (recursion_misses), which userspace reports as losses. Argument positions come from BTF
 * (the __bpf_trace_<event> functions' parameter names), since they move between releases.
 */

/* A live kernel allocation this session saw made: its free is worth sending. */
struct kmem_key {
	__u64 ptr;
	__u32 space; /* HT_KA_CACHE stands for both slab allocators */
	__u32 pad;
};

/*
 * Preallocated: a map that allocates on update calls kmalloc from inside our kmalloc program,
 * which the kernel then skips as a nested run, and its own refills show up as events.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18); /* --kmem-table-size */
	__type(key, struct kmem_key);
	__type(value, __u8);
} kmem_live SEC(".maps");

/*
 * Runs of each free program, per CPU (key: tracepoint * 2 + copy): userspace checks them against
 * the kernel's own count of the tracepoint's hits (perf), so that a free no program saw is
 * counted rather than shown as a leak.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HT_KTP_MAX * 2);
	__type(key, __u32);
	__type(value, __u64);
} kmem_free_runs SEC(".maps");

/* One scratch stack per program: programs of different events nest (an interrupt). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HT_KTP_MAX);
	__type(key, __u32);
	__type(value, struct ht_stack);
} kstack_scratch SEC(".maps");

/*
 * The context may only be read at constant offsets, and clang would otherwise merge the cases
 * into one load from a computed address, which the verifier refuses: one asm load per case.
 */
#define CTX_LOAD(ctx, i)                                                                           \
	({                                                                                         \
		__u64 __v;                                                                         \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"((i)*8));         \
		__v;                                                                               \
	})

static __always_inline __u64 ktp_arg(const __u64 *ctx, __u8 idx)
{
	switch (idx) {
	case 0:
		return CTX_LOAD(ctx, 0);
	case 1:
		return CTX_LOAD(ctx, 1);
	case 2:
		return CTX_LOAD(ctx, 2);
	case 3:
		return CTX_LOAD(ctx, 3);
	case 4:
		return CTX_LOAD(ctx, 4);
	case 5:
		return CTX_LOAD(ctx, 5);
	case 6:
		return CTX_LOAD(ctx, 6);
	case 7:
		return CTX_LOAD(ctx, 7);
	case 8:
		return CTX_LOAD(ctx, 8);
	case 9:
		return CTX_LOAD(ctx, 9);
	default:
		return 0;
	}
}

static __always_inline __u64 kslot(const __u64 *ctx, __u32 ktp, __u32 slot, __u64 dflt)
{
	__u8 idx;

	if (ktp >= HT_KTP_MAX || slot >= HT_KS_MAX)
		return dflt;
	idx = ktp_layout[ktp].idx[slot];
	return idx == HT_ARG_NONE ? dflt : ktp_arg(ctx, idx);
}

static __always_inline __u32 kmem_space(__u32 kind)
{
	return kind == HT_KA_KMALLOC ? HT_KA_CACHE : kind;
}

/* The kernel stack of the current event, sent once per id like user stacks. */
static __always_inline __u64 capture_kstack(void *ctx, __u32 ktp, __u64 id, __u64 now)
{
	struct ht_stack *b = bpf_map_lookup_elem(&kstack_scratch, &ktp);
	__u32 n;

	if (!b)
		return 0;
	n = stack_walk(ctx, b, 0);
	if (!n)
		return 0;
	/* another seed than user stacks */
	return stack_send(b, stack_hash(b->frames, n, 0x84222325cbf29ce4ull), n, HT_F_KSTACK, now,
			  id, wakeup_flags());
}

/* x86-64's direct map and struct page array (randomized at boot); absent: 0 */
extern const void page_offset_base __ksym __weak;
extern const void vmemmap_base __ksym __weak;

/* struct page as kernels before 5.17 have it, where a slab page names its cache */
struct page___slab {
	unsigned long compound_head;
	struct kmem_cache *slab_cache;
} __attribute__((preserve_access_index));

/*
 * The cache of a slab object, for kernels whose kmem_cache_alloc passes none (before 6.1): its
 * page in the struct page array (the object is in the direct map), the head page when it is a
 * tail of a larger slab, and that page's (before 5.17) or struct slab's slab_cache. 0 if the
 * kernel's layout is not that.
 */
static __always_inline __u64 kmem_cache_of(__u64 ptr)
{
	__u64 direct = 0, pages = 0, page, head;
	struct kmem_cache *cache;

	if (!&page_offset_base || !&vmemmap_base ||
	    bpf_probe_read_kernel(&direct, sizeof(direct), &page_offset_base) ||
	    bpf_probe_read_kernel(&pages, sizeof(pages), &vmemmap_base) || !direct || !pages ||
	    ptr < direct)
		return 0;
	page = pages + ((ptr - direct) >> 12) * bpf_core_type_size(struct page);
	head = BPF_CORE_READ((struct page___slab *)page, compound_head);
	if (head & 1)
		page = head - 1;
	if (bpf_core_field_exists(struct page___slab, slab_cache))
		cache = BPF_CORE_READ((struct page___slab *)page, slab_cache);
	else
		cache = BPF_CORE_READ((struct slab *)page, slab_cache);
	return (__u64)cache;
}

static __always_inline void kmem_alloc(__u64 *ctx, __u32 ktp, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid(), now, ptr, cache, stack_id;
	struct kmem_key key = {};
	struct ht_kmem *rec;
	__u32 flags = 0;
	long err;

	if (kslot(ctx, ktp, HT_KS_FAILED, 0))
		return;
	ptr = kslot(ctx, ktp, HT_KS_PTR, 0);
	if (!ptr || !target_flags(id >> 32))
		return;
	key.ptr = ptr;
	key.space = kmem_space(kind);
	err = bpf_map_update_elem(&kmem_live, &key, &(__u8){ 1 }, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		flags |= HT_F_KMEM_REUSED;
	} else if (err) {
		flags |= HT_F_KMEM_UNTRACKED;
		count_lost(HT_LOST_KMEM_TABLE);
	}
	if (filter_targets)
		flags |= HT_F_KMEM_FILTERED;
	now = bpf_ktime_get_ns();
	/* Before the record is reserved, so that a new stack comes first in the stream. */
	stack_id = kmem_stacks ? capture_kstack(ctx, ktp, id, now) : 0;
	rec = reserve(HT_REC_KMEM, sizeof(*rec), id, now, flags);
	if (!rec)
		return;
	rec->kind = kind;
	rec->op = HT_KOP_ALLOC;
	rec->order = kslot(ctx, ktp, HT_KS_ORDER, 0);
	rec->node = (__s32)kslot(ctx, ktp, HT_KS_NODE, (__u64)-1);
	rec->ptr = ptr;
	rec->call_site = kslot(ctx, ktp, HT_KS_CALL_SITE, 0);
	rec->bytes_req = kslot(ctx, ktp, HT_KS_REQ, 0);
	rec->bytes_alloc = kslot(ctx, ktp, HT_KS_ALLOC, rec->bytes_req);
	rec->gfp_flags = kslot(ctx, ktp, HT_KS_GFP, 0);
	/* a slab allocation whose tracepoint passes no cache (before 6.1) */
	if (kind == HT_KA_CACHE && ktp_layout[ktp].idx[HT_KS_CACHE] == HT_ARG_NONE)
		cache = kmem_cache_of(ptr);
	else
		cache = kslot(ctx, ktp, HT_KS_CACHE, 0);
	rec->cache = cache;
	rec->cache_name[0] = 0;
	if (cache) {
		struct kmem_cache *s = (void *)cache;
		const char *name = BPF_CORE_READ(s, name);

		/* Linux 6.1 passes the sizes, later ones the cache. */
		if (ktp_layout[ktp].idx[HT_KS_REQ] == HT_ARG_NONE) {
			rec->bytes_req = BPF_CORE_READ(s, object_size);
			rec->bytes_alloc = BPF_CORE_READ(s, size);
		}
		bpf_probe_read_kernel_str(rec->cache_name, sizeof(rec->cache_name), name);
	}
	if (kind == HT_KA_PAGE) {
		rec->bytes_req = rec->bytes_alloc = 4096ull << (rec->order & 31);
	}
	rec->stack_id = stack_id;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

/* Frees in any context, of any process: only those of allocations seen made are sent. */
static __always_inline void kmem_free(__u64 *ctx, __u32 ktp, __u32 kind, __u32 copy)
{
	__u64 id = bpf_get_current_pid_tgid(), ptr, *runs;
	__u32 slot = ktp * 2 + copy;
	struct kmem_key key = {};
	struct ht_kmem *rec;
	long err;

	runs = bpf_map_lookup_elem(&kmem_free_runs, &slot);
	if (runs)
		__sync_fetch_and_add(runs, 1);
	ptr = kslot(ctx, ktp, HT_KS_PTR, 0);
	if (!ptr)
		return;
	key.ptr = ptr;
	key.space = kmem_space(kind);
	err = bpf_map_delete_elem(&kmem_live, &key);
	if (err) {
		/*
		 * ENOENT: not an allocation we saw made, by far the most frequent. Anything else
		 * (the bucket busy on this CPU) leaves us not knowing: counted, as a free we may
		 * have missed, since the one it freed would show as live.
		 */
		if (err != -2 /* ENOENT */)
			count_lost(HT_LOST_KMEM_FREE);
		return;
	}
	rec = reserve_or_count(HT_REC_KMEM, sizeof(*rec), id, bpf_ktime_get_ns(), 0,
			       HT_LOST_KMEM_FREE);
	if (!rec)
		return;
	__builtin_memset(&rec->kind, 0, sizeof(*rec) - sizeof(rec->hdr));
	rec->kind = kind;
	rec->op = HT_KOP_FREE;
	rec->order = kslot(ctx, ktp, HT_KS_ORDER, 0);
	rec->node = -1;
	rec->ptr = ptr;
	rec->call_site = kslot(ctx, ktp, HT_KS_CALL_SITE, 0);
	bpf_ringbuf_submit(rec, wakeup_flags());
	__sync_fetch_and_add(&kmem_frees_sent, 1);
}

#define KMEM_TP(tp, ktp, fn, kind)                                                                 \
	SEC("raw_tp/" #tp)                                                                         \
	int ktp_##tp(__u64 *ctx)                                                                   \
	{                                                                                          \
		fn(ctx, ktp, kind);                                                                \
		return 0;                                                                          \
	}

/*
 * Frees get a second copy of their program on the same tracepoint. The kernel skips a program
 * that is already running on this CPU, and softirqs run RCU callbacks (batches of frees) on
 * the way out of any interrupt, also one that landed inside our free program: the copy, not
 * running, takes those. Both see every other free; the second finds its address already gone
 * from kmem_live and sends nothing.
 */
#define KMEM_TP_FREE(tp, ktp, kind)                                                                \
	SEC("raw_tp/" #tp)                                                                         \
	int ktp_##tp(__u64 *ctx)                                                                   \
	{                                                                                          \
		kmem_free(ctx, ktp, kind, 0);                                                      \
		return 0;                                                                          \
	}                                                                                          \
	SEC("raw_tp/" #tp)                                                                         \
	int ktp2_##tp(__u64 *ctx)                                                                  \
	{                                                                                          \
		kmem_free(ctx, ktp, kind, 1);                                                      \
		return 0;                                                                          \
	}

KMEM_TP(kmalloc, HT_KTP_KMALLOC, kmem_alloc, HT_KA_KMALLOC)
KMEM_TP_FREE(kfree, HT_KTP_KFREE, HT_KA_KMALLOC)
KMEM_TP(kmem_cache_alloc, HT_KTP_CACHE_ALLOC, kmem_alloc, HT_KA_CACHE)
KMEM_TP(kmalloc_node, HT_KTP_KMALLOC_NODE, kmem_alloc, HT_KA_KMALLOC)
KMEM_TP(kmem_cache_alloc_node, HT_KTP_CACHE_ALLOC_NODE, kmem_alloc, HT_KA_CACHE)
KMEM_TP_FREE(kmem_cache_free, HT_KTP_CACHE_FREE, HT_KA_CACHE)
KMEM_TP(mm_page_alloc, HT_KTP_PAGE_ALLOC, kmem_alloc, HT_KA_PAGE)
KMEM_TP_FREE(mm_page_free, HT_KTP_PAGE_FREE, HT_KA_PAGE)
KMEM_TP_FREE(mm_page_free_batched, HT_KTP_PAGE_FREE_BATCHED, HT_KA_PAGE)
KMEM_TP(alloc_vmap_area, HT_KTP_VMAP_ALLOC, kmem_alloc, HT_KA_VMALLOC)
KMEM_TP_FREE(free_vmap_area_noflush, HT_KTP_VMAP_FREE, HT_KA_VMALLOC)
KMEM_TP(percpu_alloc_percpu, HT_KTP_PERCPU_ALLOC, kmem_alloc, HT_KA_PERCPU)
KMEM_TP_FREE(percpu_free_percpu, HT_KTP_PERCPU_FREE, HT_KA_PERCPU)
