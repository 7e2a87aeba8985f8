/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The per-process model, the only place that interprets records: processes (a reused pid is a
 * new process), their live allocations, the stacks those were made from, and what could not
 * be matched. Reports read it; they never look at records.
 */
#ifndef HT_MODEL_H
#define HT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

struct kmodel;

#define MODEL_NO_STACK		UINT32_MAX /* an allocation whose stack is not known */
#define MODEL_DOUBLE_FREES_KEPT 64	   /* double frees kept with details, per process */

/* One live allocation: 32 bytes. */
struct model_alloc {
	uint64_t addr; /* 0: empty slot */
	uint64_t size;
	uint64_t ts_ns;
	uint32_t tid;
	uint32_t stack; /* index in the model's stack table, or MODEL_NO_STACK */
};

/*
 * An exited process's live allocations of one stack, kept as their sum: what leaked at its
 * exit is reported per stack, so its slots are let go (model_set_exit_age).
 */
struct model_alloc_sum {
	uint32_t stack;
	uint32_t count;
	uint64_t bytes;
	uint64_t ts_ns; /* the oldest's; for those younger than the exit age, the newest's */
};

struct model_double_free {
	uint64_t addr;
	uint64_t ts_ns;
	uint32_t tid;
	uint32_t stack;	 /* of the second free, with --free-stacks; else MODEL_NO_STACK */
	uint64_t caller; /* the return address into the code that freed twice */
};

struct model_proc {
	uint32_t pid;
	uint64_t start_ns; /* fork, or first record seen */
	char comm[HT_COMM_LEN];
	bool exited;
	int exit_status;
	uint64_t exit_ns;
	uint32_t parent; /* pid of the process it was forked from, 0 if not seen */
	uint32_t ns_pid; /* its pid in its own pid namespace (a container's); 0: the host's */

	/* live allocations: open addressing, linear probing */
	struct model_alloc *slots;
	size_t cap, count;
	uint64_t live_bytes;

	uint64_t allocs, frees, failed_allocs, no_return;
	uint64_t alloc_bytes;	  /* asked for by every allocation, freed since or not */
	uint64_t unmatched_frees; /* frees of addresses never seen allocated */
	uint64_t double_frees;
	/*
	 * Frees of addresses not live, made from inside the allocator library itself: glibc's
	 * thread exit frees its tcache (allocated without malloc) and its cached chunks again.
	 * The program did not make them; they are neither unmatched nor double frees.
	 */
	uint64_t internal_frees;
	/* the first double_free_kept of them (MODEL_DOUBLE_FREES_KEPT at most), made at the first */
	struct model_double_free *double_free;
	uint32_t double_free_kept;

	/* recently freed addresses, to tell a double free from an unmatched one */
	uint64_t *freed;

	/* exited: its live allocations as sums per stack (slots is then NULL) */
	struct model_alloc_sum *sums;
	size_t nsums;

	uint32_t index; /* its place in model_proc_at(): what other models key their tables by */

	/*
	 * Sampled mode (--sample-bytes): its slots hold only the sampled allocations, and its
	 * counts above (allocs ... live_bytes) come from totals records, exact; live_allocs too.
	 * Its double and internal frees are among unmatched_frees (BPF cannot tell them apart).
	 */
	bool sampled;
	uint64_t live_allocs;
};

/* frames is NULL while the stack's record has not arrived (or never will: it was lost). */
struct model_stack {
	uint64_t id;
	uint32_t nframes;
	uint8_t mark;  /* the command's own, 0 until it sets one (model_stack_set_mark) */
	bool walk_cut; /* the BPF walk stopped short (HT_F_STACK_CUT): frames are missing */
	const uint64_t *frames;
};

struct model;

/*
 * Called as the model applies allocator records (what histograms are made of), and as it
 * forgets processes (what the models beside it must forget too). Any member may be NULL.
 */
#define MODEL_MAX_HOOKS 4
struct model_hooks {
	/* a block became live (a realloc that moves frees the old one first) */
	void (*alloc)(void *ctx, const struct model_proc *p, const struct model_alloc *a);
	/* a live block was freed at ts_ns */
	void (*free)(void *ctx, const struct model_proc *p, const struct model_alloc *a,
		     uint64_t ts_ns);
	/* p has exited (or its pid was reused, or it exec'd: a new process goes on) */
	void (*exit)(void *ctx, const struct model_proc *p);
	/* p is about to be forgotten (model_forget_exited): drop what is kept of it */
	void (*forget)(void *ctx, const struct model_proc *p);
	/* after forgetting: the processes left have new indexes (model_proc.index) */
	void (*reindex)(void *ctx);
	/* model_stacks_unused: keep (model_stack_keep) every stack index it refers to */
	void (*mark)(void *ctx, struct model *m);
	void *ctx;
};

struct model *model_new(void);
/* Adds a consumer of the hooks (in the order added): 0, or -1 when MODEL_MAX_HOOKS have one. */
int model_add_hooks(struct model *m, const struct model_hooks *hooks);
/*
 * Tells the model how to recognise code of the allocator library (libc, libstdc++, --lib):
 * internal(ctx, p, addr) says whether addr, a return address in process p, lies in it.
 */
void model_set_internal(struct model *m,
			bool (*internal)(void *ctx, const struct model_proc *p, uint64_t addr),
			void *ctx);
/*
 * Keeps kernel allocations (HT_REC_KMEM) from now on, in the table returned (NULL: out of
 * memory), the model's. in_interrupt(ctx, stack_id) says whether an allocation's kernel stack,
 * one the model has, shows it made in an interrupt: one made so under a pid filter is counted,
 * not kept. Unless asked, the model lets kernel records by (record keeps none).
 */
struct kmodel *model_track_kernel(struct model *m,
				  bool (*in_interrupt)(void *ctx, uint64_t stack_id), void *ctx);
void model_free(struct model *m);
/* Applies one valid record (see ht_rec_check). */
void model_apply(struct model *m, const struct ht_hdr *rec);

/*
 * Forgets the processes that exited before before_ns, with their leaks, telling the hooks
 * (forget, then reindex): what an agent that runs for days keeps is the processes alive and
 * those that ended lately (serve --retain). Returns how many went.
 */
size_t model_forget_exited(struct model *m, uint64_t before_ns);
/*
 * Stacks nothing refers to any more (no live allocation or leak of a process kept, nothing a
 * hooked model keeps) go in two steps, so that a stack sent again meanwhile is not lost:
 * model_stacks_unused() names them (their ids in *ids, malloc'ed; the caller makes BPF forget
 * it sent them, then takes the records in flight), then model_stacks_drop() drops those that are
 * still unused; their indexes are reused by new stacks. For an agent that runs for days: with
 * ASLR every process's stacks are its own. Returns how many.
 */
size_t model_stacks_unused(struct model *m, uint64_t **ids);
size_t model_stacks_drop(struct model *m);
/* From a mark hook: stack index (or, for kernel stacks, id) is referred to. */
void model_stack_keep(struct model *m, uint32_t index);
void model_stack_keep_id(struct model *m, uint64_t id);
/* Stacks dropped so far. */
uint64_t model_stacks_dropped(const struct model *m);
/* Processes, oldest first, the exited ones included. */
size_t model_nprocs(const struct model *m);
const struct model_proc *model_proc_at(const struct model *m, size_t i);
/* The live process with this pid, or NULL. */
const struct model_proc *model_proc_live(const struct model *m, uint32_t pid);
/* Iterates a process's live allocations: returns the next from *pos, or NULL at the end. */
const struct model_alloc *model_proc_next_alloc(const struct model_proc *p, size_t *pos);
/* An exited process's sums, in no order, the same way (its slots are empty). */
const struct model_alloc_sum *model_proc_next_sum(const struct model_proc *p, size_t *pos);
/*
 * At exit a process's live allocations become sums per stack, those younger than min_age_ns
 * at the exit apart from the others (leaks --min-age leaves them out). Default 0.
 */
void model_set_exit_age(struct model *m, uint64_t min_age_ns);
const struct model_stack *model_stack(const struct model *m, uint32_t index);
/* A stack by its id (kernel stacks are found this way), NULL when its record never came. */
const struct model_stack *model_stack_by_id(const struct model *m, uint64_t id);
/*
 * Orders stacks by what a report shows of them: their first na (nb) frames, the true ones,
 * then whether frames past those were cut. 0: they show the same (stacks that differ only in
 * what a frame-pointer walk read past code without frame pointers).
 */
int model_stack_shown_cmp(const uint64_t *fa, uint32_t na, bool cuta, const uint64_t *fb,
			  uint32_t nb, bool cutb);
/* Remembers what a command made of a stack (kreport: was it an interrupt's?). */
void model_stack_set_mark(struct model *m, uint64_t id, uint8_t mark);
/* Sampled mode: the mean bytes between samples (a sampling record says it), 0 when exact. */
uint64_t model_sample_bytes(const struct model *m);
/*
 * How many allocations of size bytes a sampled one stands for: 1 / (1 - exp(-size / N)), the
 * inverse of its chance to be sampled (Go's heap profile scales the same way); 1 when exact.
 */
double model_sample_weight(const struct model *m, uint64_t size);
/*
 * The same as a whole number, for what counts allocations one by one (histograms, the page's
 * time spans): the weight rounded up or down in proportion, by a hash of the block's address
 * and time, so that its allocation and its free get the same and the sums are right on
 * average. 1 when exact.
 */
uint64_t model_sample_count(const struct model *m, const struct model_alloc *a);
/* Its live allocations: exact in sampled mode too (not how many its slots hold). */
uint64_t model_proc_live_allocs(const struct model_proc *p);
/* Loss counters carried by lost records, by enum ht_lost_kind. */
const uint64_t *model_lost(const struct model *m);
/* The last timestamp applied. */
uint64_t model_now(const struct model *m);
/* Bytes of heaptrail memory used by live-allocation tables, for the memory budget. */
size_t model_alloc_memory(const struct model *m);

/* What the model's tables hold and take in bytes: heaptrail's own memory, for -v. */
struct model_mem {
	size_t procs, procs_bytes;   /* processes kept (exited ones too), their records */
	size_t live, alloc_bytes;    /* live allocations, and the tables that hold them */
	size_t stacks, stacks_bytes; /* distinct stacks, with their frames and index */
};
void model_memory(const struct model *m, struct model_mem *mem);

#endif
