// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record validation and naming. The argument layout of every allocator function and memory
 * syscall is described once here, in tables, that the printers (output/event_fmt.c) walk.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "record/event.h"
#include "util/say.h"

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

int ht_kinds_parse(const char *list, uint64_t *mask)
{
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
			say("unknown event kind '%.*s'", (int)(n < 63 ? n : 63), p);
			return -1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (!*mask) {
		say("empty event list");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- layouts */

static const struct ht_sys_desc sys_descs[HT_SYS_MAX] = {
	[HT_SYS_BRK] = { "brk", HT_K_BRK, true, { { "addr", HT_ARGK_ADDR } } },
	[HT_SYS_MMAP] = { "mmap",
			  HT_K_MMAP,
			  true,
			  { { "addr", HT_ARGK_ADDR },
			    { "len", HT_ARGK_SIZE },
			    { "prot", HT_ARGK_HEX },
			    { "flags", HT_ARGK_HEX },
			    { "fd", HT_ARGK_INT },
			    { "off", HT_ARGK_SIZE } } },
	[HT_SYS_MUNMAP] = { "munmap",
			    HT_K_MUNMAP,
			    false,
			    { { "addr", HT_ARGK_ADDR }, { "len", HT_ARGK_SIZE } } },
	[HT_SYS_MPROTECT] = { "mprotect",
			      HT_K_MPROTECT,
			      false,
			      { { "addr", HT_ARGK_ADDR },
				{ "len", HT_ARGK_SIZE },
				{ "prot", HT_ARGK_HEX } } },
	[HT_SYS_PKEY_MPROTECT] = { "pkey_mprotect",
				   HT_K_MPROTECT,
				   false,
				   { { "addr", HT_ARGK_ADDR },
				     { "len", HT_ARGK_SIZE },
				     { "prot", HT_ARGK_HEX },
				     { "pkey", HT_ARGK_INT } } },
	[HT_SYS_MREMAP] = { "mremap",
			    HT_K_MREMAP,
			    true,
			    { { "old_addr", HT_ARGK_ADDR },
			      { "old_len", HT_ARGK_SIZE },
			      { "new_len", HT_ARGK_SIZE },
			      { "flags", HT_ARGK_HEX },
			      { "new_addr", HT_ARGK_ADDR } } },
	[HT_SYS_MADVISE] = { "madvise",
			     HT_K_MADVISE,
			     false,
			     { { "addr", HT_ARGK_ADDR },
			       { "len", HT_ARGK_SIZE },
			       { "advice", HT_ARGK_INT } } },
	[HT_SYS_MLOCK] = { "mlock",
			   HT_K_MLOCK,
			   false,
			   { { "addr", HT_ARGK_ADDR }, { "len", HT_ARGK_SIZE } } },
	[HT_SYS_MLOCK2] = { "mlock2",
			    HT_K_MLOCK,
			    false,
			    { { "addr", HT_ARGK_ADDR },
			      { "len", HT_ARGK_SIZE },
			      { "flags", HT_ARGK_HEX } } },
	[HT_SYS_MUNLOCK] = { "munlock",
			     HT_K_MUNLOCK,
			     false,
			     { { "addr", HT_ARGK_ADDR }, { "len", HT_ARGK_SIZE } } },
	[HT_SYS_MLOCKALL] = { "mlockall", HT_K_MLOCK, false, { { "flags", HT_ARGK_HEX } } },
	[HT_SYS_MUNLOCKALL] = { "munlockall", HT_K_MUNLOCK, false, { { NULL } } },
	[HT_SYS_SHMAT] = { "shmat",
			   HT_K_SHMAT,
			   true,
			   { { "shmid", HT_ARGK_INT },
			     { "shmaddr", HT_ARGK_ADDR },
			     { "shmflg", HT_ARGK_HEX } } },
	[HT_SYS_SHMDT] = { "shmdt", HT_K_SHMDT, false, { { "shmaddr", HT_ARGK_ADDR } } },
};

static const struct ht_alloc_desc alloc_descs[HT_FN_MAX] = {
	[HT_FN_MALLOC] = { "malloc", HT_K_MALLOC, false, { { "size", HT_ARGK_SIZE } } },
	[HT_FN_CALLOC] = { "calloc",
			   HT_K_CALLOC,
			   false,
			   { { "nmemb", HT_ARGK_SIZE }, { "size", HT_ARGK_SIZE } } },
	[HT_FN_REALLOC] = { "realloc",
			    HT_K_REALLOC,
			    false,
			    { { "ptr", HT_ARGK_ADDR }, { "size", HT_ARGK_SIZE } } },
	[HT_FN_REALLOCARRAY] = { "reallocarray",
				 HT_K_REALLOCARRAY,
				 false,
				 { { "ptr", HT_ARGK_ADDR },
				   { "nmemb", HT_ARGK_SIZE },
				   { "size", HT_ARGK_SIZE } } },
	[HT_FN_FREE] = { "free", HT_K_FREE, true, { { "ptr", HT_ARGK_ADDR } } },
	[HT_FN_POSIX_MEMALIGN] = { "posix_memalign",
				   HT_K_POSIX_MEMALIGN,
				   false,
				   { { "memptr", HT_ARGK_ADDR },
				     { "align", HT_ARGK_SIZE },
				     { "size", HT_ARGK_SIZE } } },
	[HT_FN_ALIGNED_ALLOC] = { "aligned_alloc",
				  HT_K_ALIGNED_ALLOC,
				  false,
				  { { "align", HT_ARGK_SIZE }, { "size", HT_ARGK_SIZE } } },
	[HT_FN_MEMALIGN] = { "memalign",
			     HT_K_MEMALIGN,
			     false,
			     { { "align", HT_ARGK_SIZE }, { "size", HT_ARGK_SIZE } } },
	[HT_FN_VALLOC] = { "valloc", HT_K_VALLOC, false, { { "size", HT_ARGK_SIZE } } },
	[HT_FN_PVALLOC] = { "pvalloc", HT_K_PVALLOC, false, { { "size", HT_ARGK_SIZE } } },
	/* new and delete: their layout depends on the variant, see ht_alloc_args() */
	[HT_FN_NEW] = { "new", HT_K_NEW, false, { { NULL } } },
	[HT_FN_DELETE] = { "delete", HT_K_DELETE, true, { { NULL } } },
};

/* The argument layout of one call: fixed per function, per variant for new/delete. */
void ht_alloc_args(unsigned fn, unsigned variant, struct ht_arg_desc out[3])
{
	memset(out, 0, 3 * sizeof(out[0]));
	if (fn == HT_FN_NEW) {
		out[0] = (struct ht_arg_desc){ "size", HT_ARGK_SIZE };
		if (variant & HT_VAR_ALIGNED)
			out[1] = (struct ht_arg_desc){ "align", HT_ARGK_SIZE };
	} else if (fn == HT_FN_DELETE) {
		int i = 1;

		out[0] = (struct ht_arg_desc){ "ptr", HT_ARGK_ADDR };
		if (variant & HT_VAR_SIZED)
			out[i++] = (struct ht_arg_desc){ "size", HT_ARGK_SIZE };
		if (variant & HT_VAR_ALIGNED)
			out[i++] = (struct ht_arg_desc){ "align", HT_ARGK_SIZE };
	} else if (fn > 0 && fn < HT_FN_MAX) {
		memcpy(out, alloc_descs[fn].args, 3 * sizeof(out[0]));
	}
}

const struct ht_alloc_desc *ht_alloc_desc(unsigned fn)
{
	return ht_alloc_fn_valid(fn) ? &alloc_descs[fn] : NULL;
}

const struct ht_sys_desc *ht_sys_desc(unsigned sys)
{
	return sys < HT_SYS_MAX ? &sys_descs[sys] : NULL;
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
		[HT_LOST_HOLD] = "hold",
		[HT_LOST_FREE] = "free",
		[HT_LOST_KMEM_FREE] = "kmem_free",
		[HT_LOST_SAMPLE_TABLE] = "sample_table",
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
	[HT_REC_SYS_HIST] = sizeof(struct ht_sys_hist_rec),
	[HT_REC_BUILD_ID] = sizeof(struct ht_build_id),
	[HT_REC_SAMPLING] = sizeof(struct ht_sampling),
	[HT_REC_TOTALS] = sizeof(struct ht_totals),
};

/* What is wrong with the fields of a record of this type (its size is right), or NULL. */
static const char *ht_rec_field_problem(const void *buf, int type)
{
	switch (type) {
	case HT_REC_ALLOC: {
		const struct ht_alloc *a = buf;

		if (!ht_alloc_fn_valid(a->fn))
			return "unknown allocator function";
		break;
	}
	case HT_REC_SYSCALL: {
		const struct ht_syscall *s = buf;

		if (s->sys == 0 || s->sys >= HT_SYS_MAX)
			return "unknown syscall";
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = buf;

		if (l->kind >= HT_LOST_MAX)
			return "unknown loss kind";
		break;
	}
	case HT_REC_KFUNC: {
		const struct ht_kfunc_rec *k = buf;

		if (k->kfunc == 0 || k->kfunc >= HT_KF_MAX)
			return "unknown kernel function";
		break;
	}
	case HT_REC_SYS_HIST: {
		const struct ht_sys_hist_rec *h = buf;

		if (h->key.sys == 0 || h->key.sys >= HT_SYS_MAX ||
		    h->key.what > HT_SYS_HIST_MMAP_LEN)
			return "unknown syscall histogram";
		break;
	}
	case HT_REC_SAMPLING:
		if (((const struct ht_sampling *)buf)->sample_bytes == 0)
			return "sampling record without a rate";
		break;
	case HT_REC_TOTALS: {
		const struct ht_totals *t = buf;

		if (t->final > 1 || t->c.live_bytes < 0 || t->c.live_allocs < 0)
			return "totals record out of range";
		break;
	}
	case HT_REC_BUILD_ID: {
		const struct ht_build_id *b = buf;

		if (b->len == 0 || b->len > HT_BUILD_ID_MAX)
			return "build-id length out of range";
		break;
	}
	case HT_REC_KMEM: {
		const struct ht_kmem *k = buf;

		if (k->kind == 0 || k->kind >= HT_KA_MAX ||
		    (k->op != HT_KOP_ALLOC && k->op != HT_KOP_FREE))
			return "unknown kernel allocator event";
		break;
	}
	}
	return NULL;
}

const char *ht_rec_problem(const void *buf, size_t len)
{
	struct ht_hdr hdr;

	if (len < sizeof(hdr))
		return "shorter than a record header";
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.type == 0 || hdr.type >= HT_REC_MAX)
		return "unknown record type";
	/* Exact sizes: a record of another size was written by another format version. */
	if (hdr.type == HT_REC_STACK) {
		struct ht_stack st;

		if (len < HT_STACK_HDR_SIZE || hdr.size < HT_STACK_HDR_SIZE)
			return "stack record shorter than its header";
		memcpy(&st, buf, HT_STACK_HDR_SIZE);
		if (st.nframes > HT_MAX_STACK_DEPTH ||
		    hdr.size != HT_STACK_HDR_SIZE + 8 * st.nframes)
			return "stack record size does not match its frame count";
	} else if (hdr.type == HT_REC_FAULTS) {
		struct ht_faults fb;

		if (len < HT_FAULTS_HDR_SIZE || hdr.size < HT_FAULTS_HDR_SIZE)
			return "fault batch shorter than its header";
		memcpy(&fb, buf, HT_FAULTS_HDR_SIZE);
		if (fb.n == 0 || fb.n > HT_FAULT_BATCH ||
		    hdr.size != HT_FAULTS_HDR_SIZE + sizeof(fb.e[0]) * fb.n)
			return "fault batch size does not match its count";
	} else if (hdr.type == HT_REC_MAPS || hdr.type == HT_REC_KSYMS ||
		   hdr.type == HT_REC_SLABS) {
		struct ht_maps mp;

		if (len < HT_MAPS_HDR_SIZE || hdr.size < HT_MAPS_HDR_SIZE)
			return "maps record shorter than its header";
		memcpy(&mp, buf, HT_MAPS_HDR_SIZE);
		if (mp.len > HT_MAPS_MAX_TEXT || hdr.size != HT_MAPS_HDR_SIZE + mp.len)
			return "maps record size does not match its text";
	} else if (hdr.size != rec_sizes[hdr.type] &&
		   !(hdr.type == HT_REC_COMM && hdr.size == HT_COMM_V2_SIZE))
		return "record size does not match its type";
	if (hdr.size > len)
		return "record extends past the end of the buffer";
	return ht_rec_field_problem(buf, hdr.type);
}

int ht_rec_check(const void *buf, size_t len)
{
	if (ht_rec_problem(buf, len)) {
		errno = EBADMSG;
		return -1;
	}
	return ((const struct ht_hdr *)buf)->type;
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

int ht_text_records(uint16_t type, uint32_t pid, uint64_t ts, const char *text, size_t len,
		    int (*fn)(void *ctx, const struct ht_hdr *rec), void *ctx)
{
	struct ht_maps *m = malloc(HT_MAPS_HDR_SIZE + HT_MAPS_MAX_TEXT);
	int err = m ? 0 : -1;

	while (!err && len) {
		size_t n = len < HT_MAPS_MAX_TEXT ? len : HT_MAPS_MAX_TEXT;

		while (n < len && n > 0 && text[n - 1] != '\n')
			n--;
		if (!n)
			n = len < HT_MAPS_MAX_TEXT ? len : HT_MAPS_MAX_TEXT;
		*m = (struct ht_maps){ .hdr = { .type = type,
						.size = (uint16_t)(HT_MAPS_HDR_SIZE + n),
						.ts_ns = ts,
						.pid = pid,
						.tid = pid },
				       .len = (uint32_t)n };
		memcpy(m->text, text, n);
		err = fn(ctx, &m->hdr) ? -1 : 0;
		text += n;
		len -= n;
	}
	free(m);
	return err;
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
