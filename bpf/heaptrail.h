/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Wire format shared by the BPF programs and userspace: every record in the ring buffer (and in
 * a recorded file) starts with struct ht_hdr, whose type selects the body. Fixed-width types and
 * explicit padding only, so that both compilers agree on every offset.
 */
#ifndef HEAPTRAIL_H
#define HEAPTRAIL_H

#ifdef __BPF__
/* vmlinux.h already provides the __u* types. */
#else
#include <linux/types.h>
#endif

#define HT_COMM_LEN 16
#define HT_PATH_LEN 256

enum ht_rec_type {
	HT_REC_ALLOC = 1,   /* allocator API call (uprobes), paired entry/return */
	HT_REC_SYSCALL = 2, /* memory syscall, paired entry/exit */
	HT_REC_FAULT = 3,   /* user page fault */
	HT_REC_FORK = 4,    /* a traced process created a new process */
	HT_REC_EXEC = 5,
	HT_REC_EXIT = 6, /* the last thread of a process exited */
	HT_REC_RSS = 7,
	HT_REC_COMM = 8, /* task renamed itself (prctl PR_SET_NAME) */
	HT_REC_HELD =
		9, /* a target stopped itself: userspace reads its mappings, then continues it */
	HT_REC_LOST = 10,   /* synthesized by userspace from the kernel loss counters */
	HT_REC_KFUNC = 11,  /* kernel-function hook (do_mmap, ...) */
	HT_REC_STACK = 12,  /* a user stack, sent once per stack id */
	HT_REC_MAPS = 13,   /* userspace: a process's /proc/PID/maps, for symbolizing from a file */
	HT_REC_KMEM = 14,   /* kernel allocator event (kmem, vmalloc, percpu tracepoints) */
	HT_REC_KSYMS = 15,  /* userspace: /proc/kallsyms text, for kernel stacks from a file */
	HT_REC_FAULTS = 16, /* a batch of one thread's page faults; userspace expands it */
	HT_REC_SLABS = 17,  /* userspace: merged slab caches (/sys/kernel/slab), ht_maps layout */
	HT_REC_SYS_HIST = 18, /* userspace: a syscall histogram BPF kept (hist), at the end */
	HT_REC_BUILD_ID = 19, /* userspace: a mapped file's GNU build-id, for symbolizing a file */
	HT_REC_SAMPLING = 20, /* userspace, first: allocations are sampled (--sample-bytes) */
	HT_REC_TOTALS = 21,   /* sampled mode: a process's exact allocator totals, kept in BPF */
	HT_REC_MAX,
};

/* ht_hdr.flags */
#define HT_F_IN_ALLOC	(1u << 0) /* kernel event made from inside an allocator call */
#define HT_F_IN_SYSCALL (1u << 1) /* kernel-function event made inside a traced syscall */
#define HT_F_NO_RETURN	(1u << 2) /* allocator call left without returning (an exception) */
/* kernel allocation at an address still live in the BPF table: its free was not seen */
#define HT_F_KMEM_REUSED (1u << 3)
/* kernel allocation the BPF table had no room for: its free will not be seen */
#define HT_F_KMEM_UNTRACKED (1u << 4)
#define HT_F_KSTACK	    (1u << 5) /* stack record: a kernel stack */
/*
 * kernel allocation made while a target was current, under a pid filter: if its stack shows
 * an interrupt, it ran on whatever task it interrupted and is not the target's (userspace
 * decides, from the stack, which comes before it in the stream)
 */
#define HT_F_KMEM_FILTERED (1u << 6)

struct ht_hdr {
	__u16 type;
	__u16 size; /* whole record, header included */
	__u32 flags;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 pid;   /* tgid */
	__u32 tid;
};
_Static_assert(sizeof(struct ht_hdr) == 24, "ht_hdr size");

/*
 * Allocator functions. The numbering is part of the wire format (recorded files): append only.
 * HT_FN_NEW and HT_FN_DELETE cover every operator new/delete variant; the variant bits below
 * say which.
 */
enum ht_alloc_fn {
	HT_FN_MALLOC = 1,
	HT_FN_CALLOC,
	HT_FN_REALLOC,
	HT_FN_REALLOCARRAY,
	HT_FN_FREE,
	HT_FN_POSIX_MEMALIGN,
	HT_FN_ALIGNED_ALLOC,
	HT_FN_MEMALIGN,
	HT_FN_VALLOC,
	HT_FN_PVALLOC,
	HT_FN_NEW,
	HT_FN_DELETE,
	HT_FN_MAX,
};

/* Variant bits of operator new/delete, stored in ht_alloc.variant. */
#define HT_VAR_ARRAY   (1u << 0) /* new[] / delete[] */
#define HT_VAR_NOTHROW (1u << 1) /* const std::nothrow_t & */
#define HT_VAR_ALIGNED (1u << 2) /* std::align_val_t */
#define HT_VAR_SIZED   (1u << 3) /* delete with a size argument */

/*
 * The BPF cookie of an allocator uprobe: the function in the low byte, its variant bits above,
 * and the other functions that share its address (glibc 2.36's aligned_alloc is memalign) as a
 * mask of (1 << fn) in bits 16-31: a probe there cannot tell them apart, so the record says so.
 * The argument layout of each function is fixed by (fn, variant), see user/record/event.c.
 */
#define HT_COOKIE(fn, variant, aliases)                                                            \
	((__u64)(fn) | ((__u64)(variant) << 8) | ((__u64)(aliases) << 16))
#define HT_COOKIE_FN(c)	     ((__u32)((c)&0xff))
#define HT_COOKIE_VARIANT(c) ((__u32)(((c) >> 8) & 0xff))
#define HT_COOKIE_ALIASES(c) ((__u32)(((c) >> 16) & 0xffff))
/*
 * An entry-type uprobe on one of the function's `ret` instructions, standing in for a return
 * probe: a uretprobe replaces the return address on the stack, and a C++ exception unwinding
 * through that frame (operator new throwing bad_alloc) then finds no unwind info and terminates
 * the program.
 */
#define HT_COOKIE_AT_RET (1ull << 32)
/* The function's return is seen by a uretprobe (which rewrites the return-address slot). */
#define HT_COOKIE_URET (1ull << 33)
/* A probe shared by every process (pid -1): a target with probes of its own ignores it. */
#define HT_COOKIE_SHARED (1ull << 34)

/*
 * Before Linux 5.15 (no attach cookies) the compat allocator programs hold this constant where
 * the cookie goes; userspace loads a copy of them per cookie with the constant replaced.
 */
#define HT_COOKIE_PLACEHOLDER 0x5ca1ab1e0c00c1e5 /* no suffix: it goes into asm too */
#define HT_STR_(x)	      #x
#define HT_STR(x)	      HT_STR_(x)

/* Functions whose record is emitted at entry (they return nothing worth waiting for). */
#define HT_FN_IS_FREE(fn) ((fn) == HT_FN_FREE || (fn) == HT_FN_DELETE)

struct ht_alloc {
	struct ht_hdr hdr;
	__u8 fn; /* enum ht_alloc_fn */
	__u8 variant;
	__u16 aliases; /* (1 << fn) of functions at the same address */
	__u32 pad0;
	__u64 args[3];	/* raw argument registers, in C API order */
	__u64 ret;	/* raw return register (int for posix_memalign) */
	__u64 addr;	/* resulting allocation, 0 if none (failed, or a free) */
	__u64 lat_ns;	/* entry to return; 0 for frees */
	__u64 caller;	/* return address into the code that called the allocator */
	__u64 stack_id; /* hash of the user stack (see struct ht_stack); 0: not captured */
};
_Static_assert(sizeof(struct ht_alloc) == 96, "ht_alloc size");

/*
 * A user stack, innermost frame first; the first frame is the caller's return address, not the
 * allocator's own code. The BPF side sends each stack once (and again after its id falls out of
 * the LRU map of sent ids), so consumers must accept repeats. Variable size: the header, then
 * nframes addresses.
 */
#define HT_MAX_STACK_DEPTH 127

/* Stack record flags (user stacks). */
#define HT_F_STACK_DWARF (1u << 7) /* walked with call-frame information (--unwind) */
/*
 * The walk stopped before the stack's end: no rule it can follow for the next frame (code
 * without call-frame information, or outside every module with a table and without a frame
 * pointer). Userspace refreshes the process's tables when it sees one.
 */
#define HT_F_STACK_CUT (1u << 8)
/* The walk met code outside every module with a table (JIT code, or a module mapped since). */
#define HT_F_STACK_UNMAPPED (1u << 9)
/* HELD record: the unwind walk met a module mapped since its tables were read (read them). */
#define HT_F_HELD_UNWIND (1u << 10)
/* HELD record: stopped at its exec, before its libraries are mapped. */
#define HT_F_HELD_EXEC (1u << 11)
/*
 * HELD record: a child stopped on its return from fork until the probes are shared. Its
 * mappings are its parent's (symbolize_inherit): there is nothing to read.
 */
#define HT_F_HELD_FORK (1u << 13)
/*
 * Allocator record of sampled mode (--sample-bytes): an allocation that was sampled, or the free
 * of one. Such records do not count: the process's counts come from its totals records.
 */
#define HT_F_SAMPLED (1u << 12)

/*
 * --unwind dwarf: one row of a module's unwind table, compiled by userspace from the module's
 * call-frame information (user/symbols/cfi.c). A row holds from pc (an address as the module
 * was linked) up to the next row's pc. x86-64 only: the return address is always at CFA - 8.
 */
enum ht_uw_cfa {
	HT_UW_NONE,    /* no rule we can follow here: the walk stops (cut) */
	HT_UW_CFA_SP,  /* CFA = rsp + cfa_off */
	HT_UW_CFA_BP,  /* CFA = rbp + cfa_off */
	HT_UW_CFA_PLT, /* a PLT entry: CFA = rsp + 8, + 8 once past its push (ip & 15 >= cfa_off) */
	HT_UW_END,     /* the return address is undefined: the outermost frame (_start) */
};
struct ht_unwind_row {
	__u32 pc;
	__s16 cfa_off; /* CFA = the register's value + cfa_off (the PLT's: its threshold) */
	__u8 cfa;      /* enum ht_uw_cfa */
	__s8 bp_off;   /* the caller's rbp is saved at CFA + bp_off; 0: this frame kept it */
};
_Static_assert(sizeof(struct ht_unwind_row) == 8, "ht_unwind_row size");

/* An executable mapping of a process and its rows in the shared table. */
#define HT_UNWIND_MAPS 64
struct ht_unwind_map {
	__u64 start, end; /* the mapping's addresses */
	__u64 bias;	  /* address - bias = the address as the module was linked */
	__u32 row_first;  /* its rows: [row_first, row_first + row_count) of unwind_rows */
	__u32 row_count;
};
/*
 * A process's executable mappings, sorted by start, not overlapping; unused slots start and end
 * at HT_UNWIND_UNUSED, above every user address (the BPF search reads all of them).
 */
#define HT_UNWIND_UNUSED (1ull << 62)
/* Stops the BPF walk may make, per reading, for modules mapped since (unwind_wants_tables). */
#define HT_UNWIND_HOLDS 8

struct ht_unwind_proc {
	__u32 n;
	/* stops the walk may still make for a module mapped since these were read (BPF counts down) */
	__s32 holds_left;
	struct ht_unwind_map maps[HT_UNWIND_MAPS];
};

struct ht_stack {
	struct ht_hdr hdr;
	__u64 stack_id; /* a 64-bit hash of the frames, never 0 */
	__u32 nframes;
	__u32 pad0;
	__u64 frames[HT_MAX_STACK_DEPTH];
};
#define HT_STACK_HDR_SIZE 40
_Static_assert(sizeof(struct ht_stack) == HT_STACK_HDR_SIZE + 8 * HT_MAX_STACK_DEPTH,
	       "ht_stack size");

/* Memory syscalls. Numbering is part of the wire format: append only. */
enum ht_sys {
	HT_SYS_BRK = 1,
	HT_SYS_MMAP,
	HT_SYS_MUNMAP,
	HT_SYS_MPROTECT,
	HT_SYS_PKEY_MPROTECT,
	HT_SYS_MREMAP,
	HT_SYS_MADVISE,
	HT_SYS_MLOCK,
	HT_SYS_MLOCK2,
	HT_SYS_MUNLOCK,
	HT_SYS_MLOCKALL,
	HT_SYS_MUNLOCKALL,
	HT_SYS_SHMAT,
	HT_SYS_SHMDT,
	HT_SYS_MAX,
};

struct ht_syscall {
	struct ht_hdr hdr;
	__u32 sys; /* enum ht_sys */
	__u32 pad0;
	__u64 args[6]; /* in the syscall's own order */
	__s64 ret;     /* raw kernel return: -errno on failure */
	__u64 lat_ns;
};
_Static_assert(sizeof(struct ht_syscall) == 96, "ht_syscall size");

/*
 * `hist` keeps the memory syscalls' distributions in BPF instead of streaming each call: per
 * process and syscall, log2 buckets of the latency, and of the length of successful mmaps.
 * Bucket 0 holds 0, bucket k >= 1 holds [2^(k-1), 2^k), as user/model/hist.c counts them.
 */
#define HT_HIST_BUCKETS	     65
#define HT_SYS_HIST_LATENCY  0
#define HT_SYS_HIST_MMAP_LEN 1

struct ht_sys_hist_key {
	__u32 tgid;
	__u16 sys;  /* enum ht_sys */
	__u16 what; /* HT_SYS_HIST_* */
};

struct ht_sys_hist {
	__u64 counts[HT_HIST_BUCKETS];
	__u64 total, sum, min, max;
};

/*
 * At the end of a live `hist`, each histogram BPF kept becomes one of these (its per-CPU
 * copies summed; hdr.pid is the key's tgid), so that the syscall histograms reach the model
 * as records, like everything else.
 */
struct ht_sys_hist_rec {
	struct ht_hdr hdr;
	struct ht_sys_hist_key key;
	struct ht_sys_hist hist;
};
_Static_assert(sizeof(struct ht_sys_hist_rec) == 584, "ht_sys_hist_rec size");

/* x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h). */
#define HT_PF_PROT  (1u << 0) /* 0: page not present, 1: protection fault */
#define HT_PF_WRITE (1u << 1)
#define HT_PF_USER  (1u << 2)
#define HT_PF_INSTR (1u << 4)

struct ht_fault {
	struct ht_hdr hdr;
	__u64 address;
	__u64 ip;
	__u64 error_code;
};
_Static_assert(sizeof(struct ht_fault) == 48, "ht_fault size");

/*
 * Page faults batched per CPU, all of one thread, in the order they happened: one ring-buffer
 * record per HT_FAULT_BATCH faults instead of one per fault. A batch is sent when full, when
 * another thread faults on that CPU, when its thread is switched out, before the thread's next
 * syscall, exec or exit record, and by userspace at the end. Variable size: the header, then
 * n entries. Never written to files: the live source expands it into ht_fault records.
 */
#define HT_FAULT_BATCH 64

struct ht_fault_entry {
	__u64 address;
	__u64 ip;
	__u32 dt_ns; /* after hdr.ts_ns */
	__u32 error_code;
};

struct ht_faults {
	struct ht_hdr hdr;
	__u32 n;
	__u32 pad0;
	struct ht_fault_entry e[HT_FAULT_BATCH];
};
#define HT_FAULTS_HDR_SIZE 32
_Static_assert(sizeof(struct ht_faults) == HT_FAULTS_HDR_SIZE + 24 * HT_FAULT_BATCH,
	       "ht_faults size");

struct ht_fork {
	struct ht_hdr hdr; /* pid/tid: the parent */
	__u32 child_pid;
	__u32 child_ns_pid; /* the child's pid in its own pid namespace; 0: the host's */
	char comm[HT_COMM_LEN];
};
_Static_assert(sizeof(struct ht_fork) == 48, "ht_fork size");

struct ht_exec {
	struct ht_hdr hdr;
	__u32 old_tid; /* the thread that called execve, before de_thread */
	__u32 ns_pid;  /* the process's pid in its own pid namespace; 0: the host's */
	char comm[HT_COMM_LEN];
	char filename[HT_PATH_LEN];
};
_Static_assert(sizeof(struct ht_exec) == 304, "ht_exec size");

struct ht_exit {
	struct ht_hdr hdr;
	__s32 exit_code; /* wait(2) status of the process */
	__u32 pad0;
	char comm[HT_COMM_LEN];
};
_Static_assert(sizeof(struct ht_exit) == 48, "ht_exit size");

/* rss_stat members (include/linux/mm_types_task.h) */
enum ht_rss_member {
	HT_RSS_FILE = 0,
	HT_RSS_ANON = 1,
	HT_RSS_SWAP = 2,
	HT_RSS_SHMEM = 3,
};

struct ht_rss {
	struct ht_hdr hdr;
	__u32 member;
	__u32 curr; /* the event was raised by a task of this mm */
	__s64 size; /* bytes */
};
_Static_assert(sizeof(struct ht_rss) == 40, "ht_rss size");

/* A process renamed itself, or (from userspace) was running before tracing started. */
struct ht_comm {
	struct ht_hdr hdr;
	char comm[HT_COMM_LEN];
	__u32 ns_pid; /* its pid in its own pid namespace; 0: the host's */
	__u32 pad0;
};
_Static_assert(sizeof(struct ht_comm) == 48, "ht_comm size");
#define HT_COMM_V2_SIZE 40 /* recordings of format 2 and before: no ns_pid */

/*
 * Written by userspace into recorded files, never by BPF: the text of /proc/PID/maps read while
 * the process lived. Variable size: the header, len, then len bytes of text (no NUL).
 */
struct ht_maps {
	struct ht_hdr hdr;
	__u32 len;
	__u32 pad0;
	char text[];
};
#define HT_MAPS_HDR_SIZE 32
/* larger snapshots are split over several records; the size field is 16 bits */
#define HT_MAPS_MAX_TEXT (63 << 10)
_Static_assert(sizeof(struct ht_maps) == HT_MAPS_HDR_SIZE, "ht_maps size");

/*
 * Written by userspace into recorded files: the GNU build-id of a file a process mapped (keyed
 * as maps lines name it, by device and inode), so that a recording replayed elsewhere uses
 * only a file with the same contents for names, and can find it again by its build-id.
 */
#define HT_BUILD_ID_MAX 40
struct ht_build_id {
	struct ht_hdr hdr;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 len; /* bytes of id used, 1 to HT_BUILD_ID_MAX */
	__u32 pad0;
	__u8 id[HT_BUILD_ID_MAX];
};
_Static_assert(sizeof(struct ht_build_id) == 88, "ht_build_id size");

/* Loss counters, kept in the BPF program's .bss and reported by kind. */
enum ht_lost_kind {
	HT_LOST_RINGBUF = 0,  /* bpf_ringbuf_reserve failed: the ring buffer was full */
	HT_LOST_THREAD_STATE, /* per-thread pairing state could not be stored (map full) */
	HT_LOST_PAIRING,      /* a return did not match the pending entry (pairing state lost) */
	HT_LOST_TARGETS,      /* a forked child could not be added to the target map (map full) */
	HT_LOST_STACK,	      /* user stack capture failed */
	/* kernel allocation not tracked: the BPF table of live ones was full (or busy) */
	HT_LOST_KMEM_TABLE,
	/*
	 * kernel allocator events the kernel did not deliver because our program was already
	 * running on that CPU (an interrupt nested in it): from the programs' recursion_misses
	 */
	HT_LOST_KMEM_NESTED,
	HT_LOST_SYS_HIST, /* hist: a process's syscall histograms had no room in BPF (map full) */
	/*
	 * a process was not stopped to have its mappings read (the map of held processes or the
	 * ring buffer was full): its stacks may lack names if it ends before they are read
	 */
	HT_LOST_HOLD,
	/*
	 * a free of a traced allocation was not delivered (the ring buffer was full): that
	 * allocation shows as live. Counted here, not under HT_LOST_RINGBUF, so that a report
	 * can say how many of its live allocations may in fact be gone.
	 */
	HT_LOST_FREE,
	/*
	 * the same for a kernel allocation (-k): the ring buffer was full, or the table of live
	 * ones refused the lookup (its bucket busy on this CPU)
	 */
	HT_LOST_KMEM_FREE,
	/*
	 * sampled mode: an allocation (or a process) had no room in the BPF tables that follow
	 * every live allocation (--sample-table-size): its free will not be subtracted
	 */
	HT_LOST_SAMPLE_TABLE,
	HT_LOST_MAX,
};

struct ht_lost {
	struct ht_hdr hdr;
	__u32 kind; /* enum ht_lost_kind */
	__u32 pad0;
	__u64 count; /* new losses since the previous lost record of this kind */
};
_Static_assert(sizeof(struct ht_lost) == 40, "ht_lost size");

/*
 * Sampled mode (--sample-bytes N): BPF follows every allocation to its free in a table of live
 * addresses and counts them per process, exactly; only a Poisson sample of them, one per N bytes
 * on average, has its stack taken and its records sent (HT_F_SAMPLED). HT_REC_SAMPLING comes
 * first in the stream and says N; HT_REC_TOTALS carries a process's counts, at its exit or exec
 * (final: from BPF) and whenever userspace reads them (at reports and at the end).
 */
/* The gaps between samples are drawn from this many quantiles of the exponential distribution. */
#define HT_SAMPLE_GAPS 4096

struct ht_sampling {
	struct ht_hdr hdr;
	__u64 sample_bytes; /* mean bytes between samples */
};
_Static_assert(sizeof(struct ht_sampling) == 32, "ht_sampling size");

/* A process's exact counts in sampled mode, the meanings of struct model_proc's. */
struct ht_totals_counts {
	__u64 allocs;
	__u64 alloc_bytes;
	__u64 frees;	     /* of addresses other than NULL */
	__u64 failed_allocs; /* returned NULL, or left without returning */
	__u64 no_return;
	__u64 unknown_frees; /* of addresses not live in the table (unmatched, double, internal) */
	__s64 live_bytes;
	__s64 live_allocs;
};

struct ht_totals {
	struct ht_hdr hdr;
	__u64 gen;   /* the process image's number in BPF's tables (a new one at exec) */
	__u32 final; /* its last: the process exited or exec'd */
	__u32 pad0;
	struct ht_totals_counts c;
};
_Static_assert(sizeof(struct ht_totals) == 104, "ht_totals size");

/* The BPF tables of sampled mode (bpf/sample.h), which userspace reads and sweeps. */
struct ht_sample_proc {
	__u64 gen;
	__u64 parent_gen; /* the image it was forked from, whose allocations it inherited */
	__u64 fork_ns;	  /* and when: the parent's allocations made before are the child's too */
	struct ht_totals_counts c;
};

struct ht_sample_key {
	__u64 gen;
	__u64 addr;
};

struct ht_sample_live {
	__u64 size;
	__u64 ts_sampled; /* its birth << 1, | 1 when it was sampled */
};

/* Kernel functions hooked where the kernel allows it. Append only. */
enum ht_kfunc {
	HT_KF_DO_MMAP = 1,
	HT_KF_DO_MUNMAP, /* do_vmi_munmap or do_munmap */
	HT_KF_DO_BRK_FLAGS,
	HT_KF_MPROTECT_FIXUP,
	HT_KF_MAX,
};

struct ht_kfunc_rec {
	struct ht_hdr hdr;
	__u32 kfunc; /* enum ht_kfunc */
	__u32 pad0;
	__u64 start;
	__u64 len;
	__u64 prot;  /* do_mmap: prot; mprotect_fixup: new vm_flags */
	__u64 flags; /* do_mmap: flags; do_brk_flags: vm_flags */
	__s64 ret;   /* do_mmap: address or -errno; others: 0 or -errno */
};
_Static_assert(sizeof(struct ht_kfunc_rec) == 72, "ht_kfunc_rec size");

/*
 * The kernel functions hooked, one per hook point; several may stand for one enum ht_kfunc
 * (the munmap path is do_vmi_munmap, do_mas_munmap, __do_munmap or do_munmap, the first this
 * kernel has).
 */
enum ht_hook {
	HT_HOOK_DO_MMAP,
	HT_HOOK_DO_VMI_MUNMAP,
	HT_HOOK_DO_MAS_MUNMAP,
	HT_HOOK___DO_MUNMAP, /* before 6.1: munmap(2) calls it, do_munmap only others do */
	HT_HOOK_DO_MUNMAP,
	HT_HOOK_DO_BRK_FLAGS,
	HT_HOOK_MPROTECT_FIXUP,
	HT_HOOK_MAX,
};

#define HT_ARG_NONE 0xff
/* Where a hook's values are among its function's arguments on this kernel (from BTF). */
struct ht_hook_layout {
	__u8 start;
	__u8 len; /* or HT_ARG_NONE and: */
	__u8 end;
	__u8 prot;
	__u8 flags;
	__u8 pad[3];
};

/* Processes stopped at once at most (bpf/shared.h, held): one per CPU suffices in practice. */
#define HT_HELD_MAX 4096

/*
 * One hold in the held map: the process and the time stamp of its HELD record. Each hold has
 * its own key: a process continued from one hold may stop at the next before the first entry
 * is deleted, and that deletion must not forget the second.
 */
struct ht_held_key {
	__u32 tgid;
	__u32 pad;
	__u64 ts_ns;
};
_Static_assert(sizeof(struct ht_held_key) == 16, "ht_held_key size");

/* Per-target flags in the BPF targets map. */
#define HT_TGT_TRACED	    (1u << 0)
#define HT_TGT_PENDING_EXEC (1u << 1) /* started by -c: events count only after its exec */
/* forked child: stop before it runs user code until the shared uprobes are in place */
#define HT_TGT_HOLD (1u << 2)
/* stop it at its first captured stack, so that userspace reads its mappings while it lives */
#define HT_TGT_NEED_MAPS (1u << 3)
/* a -p or -c target: has allocator uprobes bound to it, and ignores the shared ones */
#define HT_TGT_PRIVATE (1u << 4)

/* ---------------------------------------------------------------- kernel allocators */

/* Kernel allocators. Append only. */
enum ht_kalloc {
	HT_KA_KMALLOC = 1, /* kmalloc/kfree */
	HT_KA_CACHE,	   /* kmem_cache_alloc/kmem_cache_free */
	HT_KA_PAGE,	   /* buddy allocator: pages by order */
	HT_KA_VMALLOC,	   /* vmap areas: vmalloc, vmap, ioremap */
	HT_KA_PERCPU,
	HT_KA_MAX,
};

#define HT_KOP_ALLOC  1
#define HT_KOP_FREE   2
#define HT_KCACHE_LEN 32

/*
 * One kernel allocator event. ptr is the object (slab, vmalloc, percpu) or the struct page
 * (pages); frees are sent only for allocations this session saw made, so there is no stream of
 * every free in the system. kfree can free what kmem_cache_alloc made and kmem_cache_free what
 * kmalloc made: both are one address space ("slab") for matching.
 */
struct ht_kmem {
	struct ht_hdr hdr; /* pid/tid: the task whose context made the call */
	__u8 kind;	   /* enum ht_kalloc */
	__u8 op;	   /* HT_KOP_* */
	__u16 order;	   /* pages: the order; else 0 */
	__s32 node;	   /* NUMA node asked for, -1: any */
	__u64 ptr;
	__u64 call_site;   /* return address into the caller of the allocator, 0 if unknown */
	__u64 bytes_req;   /* what the caller asked for */
	__u64 bytes_alloc; /* what the allocator gave (its size class) */
	__u64 gfp_flags;
	__u64 stack_id; /* kernel stack (a stack record with HT_F_KSTACK); 0: not captured */
	__u64 cache;	/* struct kmem_cache address, 0 if none */
	char cache_name[HT_KCACHE_LEN];
};
_Static_assert(sizeof(struct ht_kmem) == 120, "ht_kmem size");

/* The kernel tracepoints of kernel allocators, one program each. */
enum ht_ktp {
	HT_KTP_KMALLOC,
	HT_KTP_KFREE,
	HT_KTP_CACHE_ALLOC,
	HT_KTP_CACHE_FREE,
	HT_KTP_PAGE_ALLOC,
	HT_KTP_PAGE_FREE,
	HT_KTP_PAGE_FREE_BATCHED,
	HT_KTP_VMAP_ALLOC,
	HT_KTP_VMAP_FREE,
	HT_KTP_PERCPU_ALLOC,
	HT_KTP_PERCPU_FREE,
	/* before Linux 6.1, kmalloc_node and kmem_cache_alloc_node were events of their own */
	HT_KTP_KMALLOC_NODE,
	HT_KTP_CACHE_ALLOC_NODE,
	HT_KTP_MAX,
};

/* What a program reads, by position among its tracepoint's arguments (from BTF). */
enum ht_kslot {
	HT_KS_CALL_SITE,
	HT_KS_PTR,
	HT_KS_REQ,
	HT_KS_ALLOC,
	HT_KS_GFP,
	HT_KS_NODE,
	HT_KS_CACHE, /* struct kmem_cache * */
	HT_KS_ORDER,
	HT_KS_FAILED,
	HT_KS_MAX,
};

struct ht_ktp_layout {
	__u8 idx[HT_KS_MAX]; /* argument index, or HT_ARG_NONE */
	__u8 pad[16 - HT_KS_MAX];
};

/* Written by userspace into recorded files: /proc/kallsyms text, split like ht_maps. */
#define HT_KSYMS_HDR_SIZE HT_MAPS_HDR_SIZE

#endif /* HEAPTRAIL_H */
