// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record validation, naming and formatting. The argument layout of every allocator function
 * and memory syscall is described once here, in tables, and both printers walk the tables.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "record/event.h"
#include "symbols/ksyms.h"

static const char *const kind_names[HT_K_MAX] = {
	[HT_K_MALLOC] = "malloc",
	[HT_K_CALLOC] = "calloc",
	[HT_K_REALLOC] = "realloc",
	[HT_K_REALLOCARRAY] = "reallocarray",
	[HT_K_FREE] = "free",
	[HT_K_POSIX_MEMALIGN] = "posix_memalign",
	[HT_K_ALIGNED_ALLOC] = "aligned_alloc",
	[HT_K_MEMALIGN] = "memalign",
	[HT_K_VALLOC] = "valloc",
	[HT_K_PVALLOC] = "pvalloc",
	[HT_K_NEW] = "new",
	[HT_K_DELETE] = "delete",
	[HT_K_BRK] = "brk",
	[HT_K_MMAP] = "mmap",
	[HT_K_MUNMAP] = "munmap",
	[HT_K_MPROTECT] = "mprotect",
	[HT_K_MREMAP] = "mremap",
	[HT_K_MADVISE] = "madvise",
	[HT_K_MLOCK] = "mlock",
	[HT_K_MUNLOCK] = "munlock",
	[HT_K_SHMAT] = "shmat",
	[HT_K_SHMDT] = "shmdt",
	[HT_K_FAULT] = "fault",
	[HT_K_FORK] = "fork",
	[HT_K_EXEC] = "exec",
	[HT_K_EXIT] = "exit",
	[HT_K_RSS] = "rss",
	[HT_K_LOST] = "lost",
	[HT_K_KMALLOC] = "kmalloc",
	[HT_K_KFREE] = "kfree",
	[HT_K_KMEM_CACHE_ALLOC] = "kmem_cache_alloc",
	[HT_K_KMEM_CACHE_FREE] = "kmem_cache_free",
	[HT_K_PAGE_ALLOC] = "page_alloc",
	[HT_K_PAGE_FREE] = "page_free",
	[HT_K_VMALLOC] = "vmalloc",
	[HT_K_VFREE] = "vfree",
	[HT_K_PERCPU_ALLOC] = "percpu_alloc",
	[HT_K_PERCPU_FREE] = "percpu_free",
};

const char *ht_kind_name(int kind)
{
	if (kind < 0 || kind >= HT_K_MAX)
		return "?";
	return kind_names[kind];
}

static const struct {
	const char *name;
	uint64_t mask;
} kind_groups[] = {
	{ "all", HT_KINDS_ALL },	 { "alloc", HT_KINDS_ALLOC },	{ "vm", HT_KINDS_VM },
	{ "process", HT_KINDS_PROCESS }, { "kernel", HT_KINDS_KERNEL },
};

int ht_kinds_parse(const char *list, uint64_t *mask, const char **bad)
{
	static char badname[64];
	const char *p = list;

	*mask = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof(kind_groups) / sizeof(kind_groups[0]) && !found;
		     i++) {
			if (strlen(kind_groups[i].name) == n &&
			    !strncmp(p, kind_groups[i].name, n)) {
				*mask |= kind_groups[i].mask;
				found = true;
			}
		}
		for (int k = 0; k < HT_K_MAX && !found; k++) {
			if (strlen(kind_names[k]) == n && !strncmp(p, kind_names[k], n)) {
				*mask |= HT_KIND_BIT(k);
				found = true;
			}
		}
		if (!found) {
			snprintf(badname, sizeof(badname), "%.*s", (int)(n < 63 ? n : 63), p);
			*bad = badname;
			return -1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (!*mask) {
		*bad = "";
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- layouts */

enum arg_kind {
	ARG_NONE,
	ARG_ADDR, /* printed as "0x..." */
	ARG_SIZE, /* unsigned number */
	ARG_HEX,  /* flags: a number in JSON, hex in text */
	ARG_INT,  /* signed 32-bit (fds, pkeys, shmids) */
};

struct arg_desc {
	const char *name;
	enum arg_kind kind;
};

struct sys_desc {
	const char *name; /* the syscall */
	int kind;	  /* the contract's event kind */
	bool returns_addr;
	struct arg_desc args[6];
};

static const struct sys_desc sys_descs[HT_SYS_MAX] = {
	[HT_SYS_BRK] = { "brk", HT_K_BRK, true, { { "addr", ARG_ADDR } } },
	[HT_SYS_MMAP] = { "mmap",
			  HT_K_MMAP,
			  true,
			  { { "addr", ARG_ADDR },
			    { "len", ARG_SIZE },
			    { "prot", ARG_HEX },
			    { "flags", ARG_HEX },
			    { "fd", ARG_INT },
			    { "off", ARG_SIZE } } },
	[HT_SYS_MUNMAP] = { "munmap",
			    HT_K_MUNMAP,
			    false,
			    { { "addr", ARG_ADDR }, { "len", ARG_SIZE } } },
	[HT_SYS_MPROTECT] = { "mprotect",
			      HT_K_MPROTECT,
			      false,
			      { { "addr", ARG_ADDR }, { "len", ARG_SIZE }, { "prot", ARG_HEX } } },
	[HT_SYS_PKEY_MPROTECT] = { "pkey_mprotect",
				   HT_K_MPROTECT,
				   false,
				   { { "addr", ARG_ADDR },
				     { "len", ARG_SIZE },
				     { "prot", ARG_HEX },
				     { "pkey", ARG_INT } } },
	[HT_SYS_MREMAP] = { "mremap",
			    HT_K_MREMAP,
			    true,
			    { { "old_addr", ARG_ADDR },
			      { "old_len", ARG_SIZE },
			      { "new_len", ARG_SIZE },
			      { "flags", ARG_HEX },
			      { "new_addr", ARG_ADDR } } },
	[HT_SYS_MADVISE] = { "madvise",
			     HT_K_MADVISE,
			     false,
			     { { "addr", ARG_ADDR }, { "len", ARG_SIZE }, { "advice", ARG_INT } } },
	[HT_SYS_MLOCK] = { "mlock",
			   HT_K_MLOCK,
			   false,
			   { { "addr", ARG_ADDR }, { "len", ARG_SIZE } } },
	[HT_SYS_MLOCK2] = { "mlock2",
			    HT_K_MLOCK,
			    false,
			    { { "addr", ARG_ADDR }, { "len", ARG_SIZE }, { "flags", ARG_HEX } } },
	[HT_SYS_MUNLOCK] = { "munlock",
			     HT_K_MUNLOCK,
			     false,
			     { { "addr", ARG_ADDR }, { "len", ARG_SIZE } } },
	[HT_SYS_MLOCKALL] = { "mlockall", HT_K_MLOCK, false, { { "flags", ARG_HEX } } },
	[HT_SYS_MUNLOCKALL] = { "munlockall", HT_K_MUNLOCK, false, { { NULL } } },
	[HT_SYS_SHMAT] = { "shmat",
			   HT_K_SHMAT,
			   true,
			   { { "shmid", ARG_INT },
			     { "shmaddr", ARG_ADDR },
			     { "shmflg", ARG_HEX } } },
	[HT_SYS_SHMDT] = { "shmdt", HT_K_SHMDT, false, { { "shmaddr", ARG_ADDR } } },
};

struct alloc_desc {
	const char *name;
	int kind;
	bool is_free;
	struct arg_desc args[3];
};

static const struct alloc_desc alloc_descs[HT_FN_MAX] = {
	[HT_FN_MALLOC] = { "malloc", HT_K_MALLOC, false, { { "size", ARG_SIZE } } },
	[HT_FN_CALLOC] = { "calloc",
			   HT_K_CALLOC,
			   false,
			   { { "nmemb", ARG_SIZE }, { "size", ARG_SIZE } } },
	[HT_FN_REALLOC] = { "realloc",
			    HT_K_REALLOC,
			    false,
			    { { "ptr", ARG_ADDR }, { "size", ARG_SIZE } } },
	[HT_FN_REALLOCARRAY] = { "reallocarray",
				 HT_K_REALLOCARRAY,
				 false,
				 { { "ptr", ARG_ADDR },
				   { "nmemb", ARG_SIZE },
				   { "size", ARG_SIZE } } },
	[HT_FN_FREE] = { "free", HT_K_FREE, true, { { "ptr", ARG_ADDR } } },
	[HT_FN_POSIX_MEMALIGN] = { "posix_memalign",
				   HT_K_POSIX_MEMALIGN,
				   false,
				   { { "memptr", ARG_ADDR },
				     { "align", ARG_SIZE },
				     { "size", ARG_SIZE } } },
	[HT_FN_ALIGNED_ALLOC] = { "aligned_alloc",
				  HT_K_ALIGNED_ALLOC,
				  false,
				  { { "align", ARG_SIZE }, { "size", ARG_SIZE } } },
	[HT_FN_MEMALIGN] = { "memalign",
			     HT_K_MEMALIGN,
			     false,
			     { { "align", ARG_SIZE }, { "size", ARG_SIZE } } },
	[HT_FN_VALLOC] = { "valloc", HT_K_VALLOC, false, { { "size", ARG_SIZE } } },
	[HT_FN_PVALLOC] = { "pvalloc", HT_K_PVALLOC, false, { { "size", ARG_SIZE } } },
	/* new and delete: their layout depends on the variant, see alloc_args() */
	[HT_FN_NEW] = { "new", HT_K_NEW, false, { { NULL } } },
	[HT_FN_DELETE] = { "delete", HT_K_DELETE, true, { { NULL } } },
};

/* The argument layout of one call: fixed per function, per variant for new/delete. */
static void alloc_args(unsigned fn, unsigned variant, struct arg_desc out[3])
{
	memset(out, 0, 3 * sizeof(out[0]));
	if (fn == HT_FN_NEW) {
		out[0] = (struct arg_desc){ "size", ARG_SIZE };
		if (variant & HT_VAR_ALIGNED)
			out[1] = (struct arg_desc){ "align", ARG_SIZE };
	} else if (fn == HT_FN_DELETE) {
		int i = 1;

		out[0] = (struct arg_desc){ "ptr", ARG_ADDR };
		if (variant & HT_VAR_SIZED)
			out[i++] = (struct arg_desc){ "size", ARG_SIZE };
		if (variant & HT_VAR_ALIGNED)
			out[i++] = (struct arg_desc){ "align", ARG_SIZE };
	} else if (fn > 0 && fn < HT_FN_MAX) {
		memcpy(out, alloc_descs[fn].args, 3 * sizeof(out[0]));
	}
}

const char *ht_alloc_fn_name(unsigned fn, unsigned variant)
{
	if (fn == 0 || fn >= HT_FN_MAX)
		return "?";
	if (fn == HT_FN_NEW)
		return variant & HT_VAR_ARRAY ? "new[]" : "new";
	if (fn == HT_FN_DELETE)
		return variant & HT_VAR_ARRAY ? "delete[]" : "delete";
	return alloc_descs[fn].name;
}

const char *ht_sys_name(unsigned sys)
{
	if (sys == 0 || sys >= HT_SYS_MAX)
		return "?";
	return sys_descs[sys].name;
}

const char *ht_lost_kind_name(unsigned kind)
{
	static const char *const names[HT_LOST_MAX] = {
		[HT_LOST_RINGBUF] = "ringbuf",
		[HT_LOST_THREAD_STATE] = "thread_state",
		[HT_LOST_PAIRING] = "pairing",
		[HT_LOST_TARGETS] = "targets",
		[HT_LOST_STACK] = "stack",
		[HT_LOST_KMEM_TABLE] = "kmem_table",
		[HT_LOST_KMEM_NESTED] = "kmem_nested",
		[HT_LOST_SYS_HIST] = "sys_hist",
	};

	return kind < HT_LOST_MAX ? names[kind] : "?";
}

const char *ht_rss_member_name(unsigned member)
{
	static const char *const names[] = { "file", "anon", "swap", "shmem" };

	return member < 4 ? names[member] : "?";
}

const char *ht_kfunc_name(unsigned kfunc)
{
	static const char *const names[HT_KF_MAX] = {
		[HT_KF_DO_MMAP] = "do_mmap",
		[HT_KF_DO_MUNMAP] = "do_munmap",
		[HT_KF_DO_BRK_FLAGS] = "do_brk_flags",
		[HT_KF_MPROTECT_FIXUP] = "mprotect_fixup",
	};

	return kfunc > 0 && kfunc < HT_KF_MAX ? names[kfunc] : "?";
}

const char *ht_errno_name(int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, len, "E%d", err);
	return buf;
}

/* ---------------------------------------------------------------- validation */

static const size_t rec_sizes[HT_REC_MAX] = {
	[HT_REC_ALLOC] = sizeof(struct ht_alloc),
	[HT_REC_SYSCALL] = sizeof(struct ht_syscall),
	[HT_REC_FAULT] = sizeof(struct ht_fault),
	[HT_REC_FORK] = sizeof(struct ht_fork),
	[HT_REC_EXEC] = sizeof(struct ht_exec),
	[HT_REC_EXIT] = sizeof(struct ht_exit),
	[HT_REC_RSS] = sizeof(struct ht_rss),
	[HT_REC_COMM] = sizeof(struct ht_comm),
	[HT_REC_HELD] = sizeof(struct ht_hdr),
	[HT_REC_LOST] = sizeof(struct ht_lost),
	[HT_REC_KFUNC] = sizeof(struct ht_kfunc_rec),
	[HT_REC_STACK] = HT_STACK_HDR_SIZE, /* and 8 bytes a frame */
	[HT_REC_MAPS] = HT_MAPS_HDR_SIZE,   /* and its text */
	[HT_REC_KMEM] = sizeof(struct ht_kmem),
	[HT_REC_KSYMS] = HT_KSYMS_HDR_SIZE,   /* and its text */
	[HT_REC_FAULTS] = HT_FAULTS_HDR_SIZE, /* and its entries */
	[HT_REC_SLABS] = HT_MAPS_HDR_SIZE,    /* and its text */
};

int ht_rec_check(const void *buf, size_t len, const char **why)
{
	struct ht_hdr hdr;

	if (len < sizeof(hdr)) {
		*why = "shorter than a record header";
		return -1;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.type == 0 || hdr.type >= HT_REC_MAX) {
		*why = "unknown record type";
		return -1;
	}
	/* Exact sizes: a record of another size was written by another format version. */
	if (hdr.type == HT_REC_STACK) {
		struct ht_stack st;

		if (len < HT_STACK_HDR_SIZE || hdr.size < HT_STACK_HDR_SIZE) {
			*why = "stack record shorter than its header";
			return -1;
		}
		memcpy(&st, buf, HT_STACK_HDR_SIZE);
		if (st.nframes > HT_MAX_STACK_DEPTH ||
		    hdr.size != HT_STACK_HDR_SIZE + 8 * st.nframes) {
			*why = "stack record size does not match its frame count";
			return -1;
		}
	} else if (hdr.type == HT_REC_FAULTS) {
		struct ht_faults fb;

		if (len < HT_FAULTS_HDR_SIZE || hdr.size < HT_FAULTS_HDR_SIZE) {
			*why = "fault batch shorter than its header";
			return -1;
		}
		memcpy(&fb, buf, HT_FAULTS_HDR_SIZE);
		if (fb.n == 0 || fb.n > HT_FAULT_BATCH ||
		    hdr.size != HT_FAULTS_HDR_SIZE + sizeof(fb.e[0]) * fb.n) {
			*why = "fault batch size does not match its count";
			return -1;
		}
	} else if (hdr.type == HT_REC_MAPS || hdr.type == HT_REC_KSYMS ||
		   hdr.type == HT_REC_SLABS) {
		struct ht_maps mp;

		if (len < HT_MAPS_HDR_SIZE || hdr.size < HT_MAPS_HDR_SIZE) {
			*why = "maps record shorter than its header";
			return -1;
		}
		memcpy(&mp, buf, HT_MAPS_HDR_SIZE);
		if (mp.len > HT_MAPS_MAX_TEXT || hdr.size != HT_MAPS_HDR_SIZE + mp.len) {
			*why = "maps record size does not match its text";
			return -1;
		}
	} else if (hdr.size != rec_sizes[hdr.type]) {
		*why = "record size does not match its type";
		return -1;
	}
	if (hdr.size > len) {
		*why = "record extends past the end of the buffer";
		return -1;
	}
	switch (hdr.type) {
	case HT_REC_ALLOC: {
		const struct ht_alloc *a = buf;

		if (!ht_alloc_fn_valid(a->fn)) {
			*why = "unknown allocator function";
			return -1;
		}
		break;
	}
	case HT_REC_SYSCALL: {
		const struct ht_syscall *s = buf;

		if (s->sys == 0 || s->sys >= HT_SYS_MAX) {
			*why = "unknown syscall";
			return -1;
		}
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = buf;

		if (l->kind >= HT_LOST_MAX) {
			*why = "unknown loss kind";
			return -1;
		}
		break;
	}
	case HT_REC_KFUNC: {
		const struct ht_kfunc_rec *k = buf;

		if (k->kfunc == 0 || k->kfunc >= HT_KF_MAX) {
			*why = "unknown kernel function";
			return -1;
		}
		break;
	}
	case HT_REC_KMEM: {
		const struct ht_kmem *k = buf;

		if (k->kind == 0 || k->kind >= HT_KA_MAX ||
		    (k->op != HT_KOP_ALLOC && k->op != HT_KOP_FREE)) {
			*why = "unknown kernel allocator event";
			return -1;
		}
		break;
	}
	}
	return hdr.type;
}

static const int kfunc_kinds[HT_KF_MAX] = {
	[HT_KF_DO_MMAP] = HT_K_MMAP,
	[HT_KF_DO_MUNMAP] = HT_K_MUNMAP,
	[HT_KF_DO_BRK_FLAGS] = HT_K_BRK,
	[HT_KF_MPROTECT_FIXUP] = HT_K_MPROTECT,
};

int ht_rec_kind(const struct ht_hdr *hdr)
{
	switch (hdr->type) {
	case HT_REC_ALLOC:
		return alloc_descs[((const struct ht_alloc *)hdr)->fn].kind;
	case HT_REC_SYSCALL:
		return sys_descs[((const struct ht_syscall *)hdr)->sys].kind;
	case HT_REC_KFUNC:
		return kfunc_kinds[((const struct ht_kfunc_rec *)hdr)->kfunc];
	case HT_REC_FAULT:
		return HT_K_FAULT;
	case HT_REC_FORK:
		return HT_K_FORK;
	case HT_REC_EXEC:
		return HT_K_EXEC;
	case HT_REC_EXIT:
		return HT_K_EXIT;
	case HT_REC_RSS:
		return HT_K_RSS;
	case HT_REC_LOST:
		return HT_K_LOST;
	case HT_REC_KMEM: {
		const struct ht_kmem *k = (const void *)hdr;

		/* alloc kinds in enum ht_kalloc order, each followed by its free */
		return HT_K_KMALLOC + 2 * (k->kind - HT_KA_KMALLOC) + (k->op == HT_KOP_FREE);
	}
	default:
		return HT_K_NONE;
	}
}

bool ht_syscall_failed(const struct ht_syscall *rec, int *err)
{
	*err = 0;
	if (rec->sys == HT_SYS_BRK) {
		/* brk never returns an error: it returns the old break when it cannot move. */
		if (rec->args[0] != 0 && (uint64_t)rec->ret != rec->args[0]) {
			*err = ENOMEM;
			return true;
		}
		return false;
	}
	/* The kernel's -errno range; a successful mmap can return a high address, never these. */
	if (rec->ret < 0 && rec->ret >= -4095) {
		*err = (int)-rec->ret;
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- GFP flags */

static const struct {
	uint64_t mask;
	const char *name;
} gfp_names[] = {
	/* composites, largest first, as include/trace/events/mmflags.h lists them */
	{ 0x1c24ca, "GFP_TRANSHUGE" },
	{ 0x1c20ca, "GFP_TRANSHUGE_LIGHT" },
	{ 0x100cca, "GFP_HIGHUSER_MOVABLE" },
	{ 0x100cc2, "GFP_HIGHUSER" },
	{ 0x100cc0, "GFP_USER" },
	{ 0x400cc0, "GFP_KERNEL_ACCOUNT" },
	{ 0xcc0, "GFP_KERNEL" },
	{ 0xc40, "GFP_NOFS" },
	{ 0xa20, "GFP_ATOMIC" }, /* up to 6.3: with __GFP_ATOMIC */
	{ 0x820, "GFP_ATOMIC" },
	{ 0xc00, "GFP_NOIO" },
	{ 0x2800, "GFP_NOWAIT" },
	/* single bits */
	{ 1u << 0, "__GFP_DMA" },
	{ 1u << 1, "__GFP_HIGHMEM" },
	{ 1u << 2, "__GFP_DMA32" },
	{ 1u << 3, "__GFP_MOVABLE" },
	{ 1u << 4, "__GFP_RECLAIMABLE" },
	{ 1u << 5, "__GFP_HIGH" },
	{ 1u << 6, "__GFP_IO" },
	{ 1u << 7, "__GFP_FS" },
	{ 1u << 8, "__GFP_ZERO" },
	{ 1u << 9, "__GFP_ATOMIC" },
	{ 1u << 10, "__GFP_DIRECT_RECLAIM" },
	{ 1u << 11, "__GFP_KSWAPD_RECLAIM" },
	{ 1u << 12, "__GFP_WRITE" },
	{ 1u << 13, "__GFP_NOWARN" },
	{ 1u << 14, "__GFP_RETRY_MAYFAIL" },
	{ 1u << 15, "__GFP_NOFAIL" },
	{ 1u << 16, "__GFP_NORETRY" },
	{ 1u << 17, "__GFP_MEMALLOC" },
	{ 1u << 18, "__GFP_COMP" },
	{ 1u << 19, "__GFP_NOMEMALLOC" },
	{ 1u << 20, "__GFP_HARDWALL" },
	{ 1u << 21, "__GFP_THISNODE" },
	{ 1u << 22, "__GFP_ACCOUNT" },
	{ 1u << 23, "__GFP_ZEROTAGS" },
	{ 1u << 24, "__GFP_NO_OBJ_EXT" },
};

void ht_gfp_each(uint64_t flags, void (*fn)(void *ctx, const char *name), void *ctx)
{
	if (!flags) {
		fn(ctx, "none");
		return;
	}
	for (size_t i = 0; i < sizeof(gfp_names) / sizeof(gfp_names[0]) && flags; i++) {
		if ((flags & gfp_names[i].mask) == gfp_names[i].mask) {
			fn(ctx, gfp_names[i].name);
			flags &= ~gfp_names[i].mask;
		}
	}
	if (flags) {
		static char unknown[32];

		snprintf(unknown, sizeof(unknown), "0x%" PRIx64, flags);
		fn(ctx, unknown);
	}
}

struct gfp_buf {
	char *buf;
	size_t len, used;
};

static void gfp_append(void *ctx, const char *name)
{
	struct gfp_buf *b = ctx;
	int n = snprintf(b->buf + b->used, b->len - b->used, "%s%s", b->used ? "|" : "", name);

	if (n > 0)
		b->used += (size_t)n < b->len - b->used ? (size_t)n : b->len - b->used - 1;
}

const char *ht_gfp_format(uint64_t flags, char *buf, size_t len)
{
	struct gfp_buf b = { buf, len, 0 };

	if (!len)
		return buf;
	buf[0] = 0;
	ht_gfp_each(flags, gfp_append, &b);
	return buf;
}

/* ---------------------------------------------------------------- JSON */

static void json_arg(struct json *j, const struct arg_desc *d, uint64_t v)
{
	switch (d->kind) {
	case ARG_ADDR:
		json_kv_addr(j, d->name, v);
		break;
	case ARG_INT:
		json_kv_s64(j, d->name, (int32_t)v);
		break;
	case ARG_SIZE:
	case ARG_HEX:
		json_kv_u64(j, d->name, v);
		break;
	case ARG_NONE:
		break;
	}
}

static void json_aliases(struct json *j, unsigned aliases)
{
	if (!aliases)
		return;
	json_key(j, "aliases");
	json_array_begin(j);
	for (unsigned fn = 1; fn < HT_FN_MAX; fn++)
		if (aliases & (1u << fn))
			json_string(j, alloc_descs[fn].name);
	json_array_end(j);
}

static void json_alloc(struct json *j, const struct ht_alloc *a)
{
	struct arg_desc args[3];

	alloc_args(a->fn, a->variant, args);
	for (int i = 0; i < 3; i++)
		if (args[i].name)
			json_arg(j, &args[i], a->args[i]);
	if (a->fn == HT_FN_NEW || a->fn == HT_FN_DELETE) {
		json_kv_bool(j, "array", a->variant & HT_VAR_ARRAY);
		if (a->variant & HT_VAR_NOTHROW)
			json_kv_bool(j, "nothrow", true);
	}
	json_aliases(j, a->aliases);
	if (alloc_descs[a->fn].is_free) {
		json_kv_addr(j, "caller", a->caller);
		return;
	}
	if (a->hdr.flags & HT_F_NO_RETURN)
		json_kv_bool(j, "no_return", true);
	if (a->fn == HT_FN_POSIX_MEMALIGN)
		json_kv_s64(j, "ret", (int32_t)a->ret);
	json_key(j, "addr");
	if (a->addr)
		json_addr(j, a->addr);
	else
		json_null(j);
	json_kv_u64(j, "lat_ns", a->lat_ns);
	json_kv_addr(j, "caller", a->caller);
	if (a->stack_id)
		json_kv_addr(j, "stack_id", a->stack_id);
}

static void json_syscall(struct json *j, const struct ht_syscall *s)
{
	const struct sys_desc *d = &sys_descs[s->sys];
	char buf[16];
	int err;

	json_kv_string(j, "syscall", d->name);
	for (int i = 0; i < 6 && d->args[i].name; i++)
		json_arg(j, &d->args[i], s->args[i]);
	if (ht_syscall_failed(s, &err)) {
		if (s->sys == HT_SYS_BRK)
			json_kv_addr(j, "ret", s->ret);
		else
			json_kv_s64(j, "ret", s->ret);
		json_kv_string(j, "errno", ht_errno_name(err, buf, sizeof(buf)));
	} else if (d->returns_addr) {
		json_kv_addr(j, "ret", s->ret);
	} else {
		json_kv_s64(j, "ret", s->ret);
	}
	json_kv_u64(j, "lat_ns", s->lat_ns);
	if (s->hdr.flags & HT_F_IN_ALLOC)
		json_kv_bool(j, "in_alloc", true);
}

static void json_kfunc(struct json *j, const struct ht_kfunc_rec *k)
{
	json_kv_string(j, "via", ht_kfunc_name(k->kfunc));
	json_kv_addr(j, "addr", k->start);
	json_kv_u64(j, "len", k->len);
	if (k->kfunc == HT_KF_DO_MMAP) {
		json_kv_u64(j, "prot", k->prot);
		json_kv_u64(j, "flags", k->flags);
	} else if (k->kfunc == HT_KF_MPROTECT_FIXUP || k->kfunc == HT_KF_DO_BRK_FLAGS) {
		json_kv_u64(j, "vm_flags", k->flags);
	}
	if (k->kfunc == HT_KF_DO_MMAP && !(k->ret < 0 && k->ret >= -4095))
		json_kv_addr(j, "ret", k->ret);
	else
		json_kv_s64(j, "ret", k->ret);
	if (k->hdr.flags & HT_F_IN_SYSCALL)
		json_kv_bool(j, "in_syscall", true);
	if (k->hdr.flags & HT_F_IN_ALLOC)
		json_kv_bool(j, "in_alloc", true);
}

/* "name+0x1f [module]" of a kernel address, or NULL */
static const char *ksym_text(struct ksyms *ks, uint64_t addr, char *buf, size_t len)
{
	const char *module = NULL, *name;
	uint64_t off;

	name = ks ? ksyms_lookup(ks, addr, &off, &module) : NULL;
	if (!name)
		return NULL;
	snprintf(buf, len, "%s+0x%" PRIx64 "%s%s%s", name, off, module ? " [" : "",
		 module ? module : "", module ? "]" : "");
	return buf;
}

static void json_kmem(struct json *j, const struct ht_kmem *k, struct ksyms *ks)
{
	char gfp[256];

	json_kv_addr(j, "ptr", k->ptr);
	if (k->call_site) {
		const char *sym = ksym_text(ks, k->call_site, gfp, sizeof(gfp));

		json_kv_addr(j, "call_site", k->call_site);
		if (sym)
			json_kv_string(j, "call_site_sym", sym);
	}
	if (k->kind == HT_KA_PAGE)
		json_kv_u64(j, "order", k->order);
	if (k->op == HT_KOP_FREE)
		return;
	json_kv_u64(j, "bytes_req", k->bytes_req);
	json_kv_u64(j, "bytes_alloc", k->bytes_alloc);
	json_kv_u64(j, "gfp_flags", k->gfp_flags);
	json_kv_string(j, "gfp", ht_gfp_format(k->gfp_flags, gfp, sizeof(gfp)));
	json_kv_s64(j, "node", k->node);
	if (k->cache_name[0]) {
		char name[HT_KCACHE_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", HT_KCACHE_LEN, k->cache_name);
		json_kv_string(j, "cache", name);
	}
	if (k->stack_id)
		json_kv_u64(j, "stack_id", k->stack_id);
	json_kv_bool(j, "missed_free", k->hdr.flags & HT_F_KMEM_REUSED);
}

static void json_exit_status(struct json *j, int status)
{
	json_kv_s64(j, "status", status);
	if (WIFSIGNALED(status)) {
		json_kv_string(j, "signal", sigabbrev_np(WTERMSIG(status)) ?: "?");
	} else {
		json_kv_s64(j, "exit_code", WEXITSTATUS(status));
	}
}

void ht_rec_print_json(struct json *j, const struct ht_hdr *rec, const struct ht_fmt_ctx *ctx)
{
	int kind = ht_rec_kind(rec);

	json_object_begin(j);
	json_kv_u64(j, "ts_ns", rec->ts_ns);
	json_kv_u64(j, "pid", rec->pid);
	json_kv_u64(j, "tid", rec->tid);
	json_kv_string(j, "comm", ctx->comm ? ctx->comm : "");
	json_kv_string(j, "event", ht_kind_name(kind));
	switch (rec->type) {
	case HT_REC_ALLOC:
		json_alloc(j, (const struct ht_alloc *)rec);
		break;
	case HT_REC_SYSCALL:
		json_syscall(j, (const struct ht_syscall *)rec);
		break;
	case HT_REC_KFUNC:
		json_kfunc(j, (const struct ht_kfunc_rec *)rec);
		break;
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;

		json_kv_addr(j, "address", f->address);
		json_kv_addr(j, "ip", f->ip);
		json_kv_u64(j, "error_code", f->error_code);
		json_kv_bool(j, "write", f->error_code & HT_PF_WRITE);
		json_kv_bool(j, "exec", f->error_code & HT_PF_INSTR);
		json_kv_bool(j, "present", f->error_code & HT_PF_PROT);
		break;
	}
	case HT_REC_FORK: {
		const struct ht_fork *f = (const void *)rec;

		json_kv_u64(j, "child_pid", f->child_pid);
		break;
	}
	case HT_REC_EXEC: {
		const struct ht_exec *e = (const void *)rec;

		json_kv_string(j, "filename", e->filename);
		json_kv_u64(j, "old_tid", e->old_tid);
		break;
	}
	case HT_REC_EXIT:
		json_exit_status(j, ((const struct ht_exit *)rec)->exit_code);
		break;
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		json_kv_string(j, "member", ht_rss_member_name(r->member));
		json_kv_s64(j, "size", r->size);
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = (const void *)rec;

		json_kv_string(j, "kind", ht_lost_kind_name(l->kind));
		json_kv_u64(j, "count", l->count);
		break;
	}
	case HT_REC_KMEM:
		json_kmem(j, (const struct ht_kmem *)rec, ctx->ksyms);
		break;
	}
	json_object_end(j);
}

/* ---------------------------------------------------------------- text */

struct flag_name {
	uint64_t bit;
	const char *name;
};

static void print_flags(FILE *out, uint64_t v, const struct flag_name *names, const char *none)
{
	const char *sep = "";

	if (!v) {
		fputs(none, out);
		return;
	}
	for (const struct flag_name *f = names; f->name; f++) {
		if ((v & f->bit) == f->bit) {
			fprintf(out, "%s%s", sep, f->name);
			v &= ~f->bit;
			sep = "|";
		}
	}
	if (v)
		fprintf(out, "%s0x%" PRIx64, sep, v);
}

static const struct flag_name prot_names[] = {
	{ PROT_READ, "READ" }, { PROT_WRITE, "WRITE" }, { PROT_EXEC, "EXEC" }, { 0, NULL }
};

static const struct flag_name map_names[] = {
	{ MAP_SHARED, "SHARED" },
	{ MAP_PRIVATE, "PRIVATE" },
	{ MAP_FIXED, "FIXED" },
	{ MAP_ANONYMOUS, "ANONYMOUS" },
	{ MAP_GROWSDOWN, "GROWSDOWN" },
	{ MAP_DENYWRITE, "DENYWRITE" },
	{ MAP_EXECUTABLE, "EXECUTABLE" },
	{ MAP_LOCKED, "LOCKED" },
	{ MAP_NORESERVE, "NORESERVE" },
	{ MAP_POPULATE, "POPULATE" },
	{ MAP_NONBLOCK, "NONBLOCK" },
	{ MAP_STACK, "STACK" },
	{ MAP_HUGETLB, "HUGETLB" },
	{ MAP_FIXED_NOREPLACE, "FIXED_NOREPLACE" },
	{ 0, NULL },
};

static const struct flag_name mremap_names[] = {
	{ 1, "MAYMOVE" }, { 2, "FIXED" }, { 4, "DONTUNMAP" }, { 0, NULL }
};

static void text_arg(FILE *out, const struct arg_desc *d, uint64_t v, unsigned sys)
{
	fprintf(out, "%s=", d->name);
	switch (d->kind) {
	case ARG_ADDR:
		fprintf(out, "0x%" PRIx64, v);
		break;
	case ARG_SIZE:
		fprintf(out, "%" PRIu64, v);
		break;
	case ARG_INT:
		fprintf(out, "%d", (int32_t)v);
		break;
	case ARG_HEX:
		if (!strcmp(d->name, "prot"))
			print_flags(out, v, prot_names, "NONE");
		else if (sys == HT_SYS_MMAP)
			print_flags(out, v, map_names, "0");
		else if (sys == HT_SYS_MREMAP)
			print_flags(out, v, mremap_names, "0");
		else
			fprintf(out, "0x%" PRIx64, v);
		break;
	case ARG_NONE:
		break;
	}
}

static void text_alloc(FILE *out, const struct ht_alloc *a)
{
	struct arg_desc args[3];
	bool first = true;

	alloc_args(a->fn, a->variant, args);
	fprintf(out, "%s%s(", ht_alloc_fn_name(a->fn, a->variant),
		a->variant & HT_VAR_NOTHROW ? "(nothrow)" : "");
	for (int i = 0; i < 3; i++) {
		if (!args[i].name)
			continue;
		if (!first)
			fputs(", ", out);
		text_arg(out, &args[i], a->args[i], 0);
		first = false;
	}
	fputc(')', out);
	if (alloc_descs[a->fn].is_free)
		return;
	if (a->hdr.flags & HT_F_NO_RETURN) {
		fputs(" did not return (an exception?)", out);
		return;
	}
	if (a->fn == HT_FN_POSIX_MEMALIGN && (int32_t)a->ret != 0) {
		char buf[16];

		fprintf(out, " = %s", ht_errno_name((int32_t)a->ret, buf, sizeof(buf)));
		return;
	}
	if (a->addr)
		fprintf(out, " = 0x%" PRIx64, (uint64_t)a->addr);
	else
		fputs(" = NULL", out);
	fprintf(out, "  <%" PRIu64 " ns>", (uint64_t)a->lat_ns);
	if (a->aliases) {
		fputs("  (same address as", out);
		for (unsigned fn = 1; fn < HT_FN_MAX; fn++)
			if (a->aliases & (1u << fn))
				fprintf(out, " %s", alloc_descs[fn].name);
		fputc(')', out);
	}
}

static void text_syscall(FILE *out, const struct ht_syscall *s)
{
	const struct sys_desc *d = &sys_descs[s->sys];
	char buf[16];
	int err;

	fprintf(out, "%s(", d->name);
	for (int i = 0; i < 6 && d->args[i].name; i++) {
		if (i)
			fputs(", ", out);
		text_arg(out, &d->args[i], s->args[i], s->sys);
	}
	fputc(')', out);
	if (ht_syscall_failed(s, &err))
		fprintf(out, " = -1 %s (%s)", ht_errno_name(err, buf, sizeof(buf)), strerror(err));
	else if (d->returns_addr)
		fprintf(out, " = 0x%" PRIx64, (uint64_t)s->ret);
	else
		fprintf(out, " = %" PRId64, (int64_t)s->ret);
	fprintf(out, "  <%" PRIu64 " ns>", (uint64_t)s->lat_ns);
	if (s->hdr.flags & HT_F_IN_ALLOC)
		fputs("  [in allocator]", out);
}

void ht_rec_print_text(FILE *out, const struct ht_hdr *rec, const struct ht_fmt_ctx *ctx)
{
	uint64_t rel = rec->ts_ns >= ctx->t0_ns ? rec->ts_ns - ctx->t0_ns : 0;

	fprintf(out, "%6" PRIu64 ".%06" PRIu64 " %7u %7u %-16s ", rel / 1000000000,
		rel % 1000000000 / 1000, rec->pid, rec->tid, ctx->comm ? ctx->comm : "");
	switch (rec->type) {
	case HT_REC_ALLOC:
		text_alloc(out, (const struct ht_alloc *)rec);
		break;
	case HT_REC_SYSCALL:
		text_syscall(out, (const struct ht_syscall *)rec);
		break;
	case HT_REC_KFUNC: {
		const struct ht_kfunc_rec *k = (const void *)rec;

		fprintf(out, "%s(addr=0x%" PRIx64 ", len=%" PRIu64 ") = %" PRId64 "%s",
			ht_kfunc_name(k->kfunc), (uint64_t)k->start, (uint64_t)k->len,
			(int64_t)k->ret,
			rec->flags & HT_F_IN_SYSCALL ? "" : "  [not from a syscall]");
		break;
	}
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;

		fprintf(out, "fault address=0x%" PRIx64 " ip=0x%" PRIx64 " %s %s",
			(uint64_t)f->address, (uint64_t)f->ip,
			f->error_code & HT_PF_INSTR   ? "exec"
			: f->error_code & HT_PF_WRITE ? "write"
						      : "read",
			f->error_code & HT_PF_PROT ? "present" : "not-present");
		break;
	}
	case HT_REC_FORK:
		fprintf(out, "fork child=%u", ((const struct ht_fork *)rec)->child_pid);
		break;
	case HT_REC_EXEC:
		fprintf(out, "exec %s", ((const struct ht_exec *)rec)->filename);
		break;
	case HT_REC_EXIT: {
		int status = ((const struct ht_exit *)rec)->exit_code;

		if (WIFSIGNALED(status))
			fprintf(out, "exit signal=%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
		else
			fprintf(out, "exit code=%d", WEXITSTATUS(status));
		break;
	}
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		fprintf(out, "rss %s=%" PRId64, ht_rss_member_name(r->member), (int64_t)r->size);
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = (const void *)rec;

		fprintf(out, "LOST %" PRIu64 " events (%s)", (uint64_t)l->count,
			ht_lost_kind_name(l->kind));
		break;
	}
	case HT_REC_KMEM: {
		const struct ht_kmem *k = (const void *)rec;
		char gfp[256];

		fprintf(out, "%s ptr=0x%" PRIx64, ht_kind_name(ht_rec_kind(rec)), (uint64_t)k->ptr);
		if (k->kind == HT_KA_PAGE)
			fprintf(out, " order=%u", k->order);
		if (k->op == HT_KOP_ALLOC) {
			if (k->cache_name[0])
				fprintf(out, " cache=%.*s", HT_KCACHE_LEN, k->cache_name);
			fprintf(out, " req=%" PRIu64 " alloc=%" PRIu64 " gfp=%s node=%d",
				(uint64_t)k->bytes_req, (uint64_t)k->bytes_alloc,
				ht_gfp_format(k->gfp_flags, gfp, sizeof(gfp)), k->node);
		}
		if (k->call_site) {
			const char *sym = ksym_text(ctx->ksyms, k->call_site, gfp, sizeof(gfp));

			if (sym)
				fprintf(out, " call_site=%s", sym);
			else
				fprintf(out, " call_site=0x%" PRIx64, (uint64_t)k->call_site);
		}
		break;
	}
	}
	fputc('\n', out);
}
