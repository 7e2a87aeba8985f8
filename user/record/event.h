/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Records as userspace sees them: validation of raw bytes, names of functions, syscalls and
 * loss kinds, event-kind selection (-e), and the argument layout of every call (its text and
 * JSON forms are output/event_fmt.h).
 */
#ifndef HT_EVENT_H
#define HT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

/*
 * Event kinds, as named in the JSON contract. A record maps to exactly one kind; -e selects
 * kinds by name or by group.
 */
enum ht_kind {
	HT_K_MALLOC,
	HT_K_CALLOC,
	HT_K_REALLOC,
	HT_K_REALLOCARRAY,
	HT_K_FREE,
	HT_K_POSIX_MEMALIGN,
	HT_K_ALIGNED_ALLOC,
	HT_K_MEMALIGN,
	HT_K_VALLOC,
	HT_K_PVALLOC,
	HT_K_NEW,
	HT_K_DELETE,
	HT_K_BRK,
	HT_K_MMAP,
	HT_K_MUNMAP,
	HT_K_MPROTECT,
	HT_K_MREMAP,
	HT_K_MADVISE,
	HT_K_MLOCK,
	HT_K_MUNLOCK,
	HT_K_SHMAT,
	HT_K_SHMDT,
	HT_K_FAULT,
	HT_K_FORK,
	HT_K_EXEC,
	HT_K_EXIT,
	HT_K_RSS,
	HT_K_LOST,
	/* kernel allocators (-k) */
	HT_K_KMALLOC,
	HT_K_KFREE,
	HT_K_KMEM_CACHE_ALLOC,
	HT_K_KMEM_CACHE_FREE,
	HT_K_PAGE_ALLOC,
	HT_K_PAGE_FREE,
	HT_K_VMALLOC,
	HT_K_VFREE,
	HT_K_PERCPU_ALLOC,
	HT_K_PERCPU_FREE,
	HT_K_MAX,
	HT_K_NONE = -1, /* internal records (rename, held): never printed */
};

#define HT_KIND_BIT(k)	 (1ull << (k))
#define HT_KINDS_ALLOC	 (HT_KIND_BIT(HT_K_DELETE + 1) - 1)
#define HT_KINDS_VM	 ((HT_KIND_BIT(HT_K_SHMDT + 1) - 1) & ~HT_KINDS_ALLOC)
#define HT_KINDS_PROCESS (HT_KIND_BIT(HT_K_FORK) | HT_KIND_BIT(HT_K_EXEC) | HT_KIND_BIT(HT_K_EXIT))
#define HT_KINDS_KERNEL	 ((HT_KIND_BIT(HT_K_PERCPU_FREE + 1) - 1) & ~(HT_KIND_BIT(HT_K_KMALLOC) - 1))
#define HT_KINDS_ALL	 (HT_KIND_BIT(HT_K_MAX) - 1)

const char *ht_kind_name(int kind);
/*
 * Parses a comma-separated -e list of kinds and groups (alloc, vm, process, all) into a mask.
 * Returns 0, or -1 after naming the first unknown name (or saying the list is empty).
 */
int ht_kinds_parse(const char *list, uint64_t *mask);

/* The check ht_rec_problem makes of an allocator record's own fields. */
static inline bool ht_alloc_fn_valid(unsigned fn)
{
	return fn != 0 && fn < HT_FN_MAX;
}
/*
 * What is wrong with the len bytes at buf as one complete record of a known type whose size
 * field agrees with the body it needs (fields in range); NULL when nothing is.
 */
const char *ht_rec_problem(const void *buf, size_t len);
/* The type of the record at buf, or -1 (errno EBADMSG) where ht_rec_problem finds something. */
int ht_rec_check(const void *buf, size_t len);
/* The event kind of a valid record. */
int ht_rec_kind(const struct ht_hdr *hdr);

/* The arguments of a call, in the order the C API has them, and how each is printed. */
enum ht_arg_kind {
	HT_ARGK_NONE,
	HT_ARGK_ADDR, /* printed as "0x..." */
	HT_ARGK_SIZE, /* unsigned number */
	HT_ARGK_HEX,  /* flags: a number in JSON, hex in text */
	HT_ARGK_INT,  /* signed 32-bit (fds, pkeys, shmids) */
};

struct ht_arg_desc {
	const char *name;
	enum ht_arg_kind kind;
};

struct ht_sys_desc {
	const char *name; /* the syscall */
	int kind;	  /* the contract's event kind */
	bool returns_addr;
	struct ht_arg_desc args[6];
};

struct ht_alloc_desc {
	const char *name;
	int kind;
	bool is_free;
	struct ht_arg_desc args[3];
};

/* An allocator function's layout, NULL when fn is not one. */
const struct ht_alloc_desc *ht_alloc_desc(unsigned fn);
/* Its arguments as this variant passes them (new and delete differ per variant). */
void ht_alloc_args(unsigned fn, unsigned variant, struct ht_arg_desc out[3]);
/* A memory syscall's layout, NULL when sys is not one. */
const struct ht_sys_desc *ht_sys_desc(unsigned sys);

const char *ht_alloc_fn_name(unsigned fn, unsigned variant);
const char *ht_sys_name(unsigned sys);
const char *ht_lost_kind_name(unsigned kind);
const char *ht_rss_member_name(unsigned member);
const char *ht_kfunc_name(unsigned kfunc);
/*
 * GFP flags as names joined by '|' ("GFP_KERNEL|__GFP_ZERO"), composites first as the kernel's
 * own tracepoint output does, unknown bits in hex. The bit values are those of Linux 6.1 to
 * 6.18 (bit 9 was __GFP_ATOMIC until 6.3). Returns buf.
 */
const char *ht_gfp_format(uint64_t flags, char *buf, size_t len);
/* Calls fn for each name ht_gfp_format would print; what `hist -k` counts. */
void ht_gfp_each(uint64_t flags, void (*fn)(void *ctx, const char *name), void *ctx);

/* errno's symbolic name ("ENOMEM"), or "E<n>" in buf when unknown. */
const char *ht_errno_name(int err, char *buf, size_t len);

/*
 * Text as records of its type (MAPS, KSYMS, SLABS: the struct ht_maps layout), handed to fn one
 * at a time: at most HT_MAPS_MAX_TEXT bytes each, cut at line ends where there are any.
 * 0, or -1 when out of memory or when fn returned non-zero.
 */
int ht_text_records(uint16_t type, uint32_t pid, uint64_t ts, const char *text, size_t len,
		    int (*fn)(void *ctx, const struct ht_hdr *rec), void *ctx);

/* Does this syscall record describe a failure (-errno, or a brk that did not move)? */
bool ht_syscall_failed(const struct ht_syscall *rec, int *err);

#endif
