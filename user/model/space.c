// SPDX-License-Identifier: GPL-2.0-only
/*
 * The address-space model: per process, a VMA map started from a maps snapshot and moved by
 * every memory syscall, faults classified by the mapping they hit, series and markers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "model/proctab.h"
#include "model/space.h"
#include "record/event.h"
#include "util/maps.h"

const char *const space_series_names[SPACE_SERIES_MAX] = {
	"heap_bytes",  "live_bytes", "mapped_bytes", "allocator_mapped_bytes",
	"rss_anon",    "rss_file",   "rss_shmem",    "rss_swap",
	"live_allocs", "faults",
};

const char *const space_series_units[SPACE_SERIES_MAX] = {
	"bytes", "bytes", "bytes", "bytes", "bytes", "bytes", "bytes", "bytes", "count", "count",
};

/* rss_stat members (enum ht_rss_member) to series */
static const int space_rss_series[4] = { SPACE_RSS_FILE, SPACE_RSS_ANON, SPACE_RSS_SWAP,
					 SPACE_RSS_SHMEM };

struct space {
	struct model *model;
	struct proctab procs; /* struct space_proc */
	bool now_only;	      /* space_now_only */
};

/* A quantity's new value: its current one, and a point of its series unless now_only. */
static void space_set(struct space_proc *t, enum space_series k, uint64_t ts, uint64_t v)
{
	t->now[k] = v;
	if (!t->now_only)
		series_add(&t->s[k], ts, v);
}

static void space_proc_fini(void *entry);

static void space_forget(void *ctx, const struct model_proc *p)
{
	proctab_forget(&((struct space *)ctx)->procs, p, space_proc_fini);
}

/* now_only: a process that ended needs its last values, not its address space. */
static void space_exit(void *ctx, const struct model_proc *p)
{
	struct space *s = ctx;
	struct space_proc *t;

	if (!s->now_only || !(t = proctab_find(&s->procs, p)))
		return;
	vma_map_free(&t->vmas);
	textbuf_free(&t->snap);
	t->snap_open = false;
}

static void space_reindex(void *ctx)
{
	proctab_reindex(&((struct space *)ctx)->procs);
}

struct space *space_new(struct model *m)
{
	struct space *s = calloc(1, sizeof(*s));
	struct model_hooks hooks = { .exit = space_exit,
				     .forget = space_forget,
				     .reindex = space_reindex };

	if (!s)
		return NULL;
	s->model = m;
	hooks.ctx = s;
	if (model_add_hooks(m, &hooks)) {
		free(s);
		return NULL;
	}
	return s;
}

void space_now_only(struct space *s)
{
	s->now_only = true;
}

static void space_proc_fini(void *entry)
{
	struct space_proc *t = entry;

	vma_map_free(&t->vmas);
	for (int k = 0; k < SPACE_SERIES_MAX; k++)
		series_free(&t->s[k]);
	free(t->markers);
	free(t->tids);
	textbuf_free(&t->snap);
}

void space_free(struct space *s)
{
	if (!s)
		return;
	proctab_free(&s->procs, space_proc_fini);
	free(s);
}

size_t space_nprocs(const struct space *s)
{
	return s->procs.n;
}

const struct space_proc *space_proc(const struct space *s, size_t i)
{
	return s->procs.order[i];
}

const struct space_proc *space_proc_find(const struct space *s, const struct model_proc *p)
{
	return proctab_find(&s->procs, p);
}

static struct space_proc *space_proc_of(struct space *s, const struct model_proc *p)
{
	bool fresh;
	struct space_proc *t = proctab_get(&s->procs, p, sizeof(*t), &fresh);

	if (fresh) {
		t->p = p;
		t->now_only = s->now_only;
		vma_map_init(&t->vmas);
	}
	return t;
}

/* ---------------------------------------------------------------- snapshots */

static int space_first_line(void *ctx, const struct maps_line *l)
{
	*(uint64_t *)ctx = l->start;
	return 1;
}

static int space_last_line(void *ctx, const struct maps_line *l)
{
	*(uint64_t *)ctx = l->start;
	return 0;
}

/* A snapshot is complete: the first one after exec, fork or attach is the start. */
static void space_snapshot_close(struct space_proc *t)
{
	if (!t->snap_open)
		return;
	t->snap_open = false;
	if (t->loaded)
		return;
	vma_map_load(&t->vmas, t->snap.text ?: "", t->snap.len);
	t->loaded = true;
	for (size_t i = 0; i < t->vmas.n; i++)
		if (t->vmas.v[i].kind == VMA_HEAP)
			t->brk_start = t->vmas.v[i].start;
}

/*
 * One MAPS record: a snapshot comes in records cut at line ends. Lines are in address order,
 * so a record whose first line is not above the last one seen begins another snapshot.
 */
static void space_snapshot_add(struct space_proc *t, const char *text, size_t len)
{
	uint64_t first;

	if (!len)
		return;
	if (t->snap_open && maps_each(text, len, space_first_line, &first) && first <= t->snap_last)
		space_snapshot_close(t);
	if (!t->snap_open)
		t->snap.len = 0;
	t->snap_open = true;
	textbuf_append(&t->snap, text, len);
	maps_each(text, len, space_last_line, &t->snap_last);
}

struct space_lookup {
	uint64_t addr, end;
	char *out;
	size_t len;
};

static int space_lookup_line(void *ctx, const struct maps_line *l)
{
	struct space_lookup *q = ctx;

	if (q->addr < l->start || q->addr >= l->end)
		return 0;
	if (maps_path(l))
		snprintf(q->out, q->len, "%s", maps_path(l));
	q->end = l->end;
	return 1;
}

/* The path in the snapshot line that holds addr ("" if none), and that line's end (0: none). */
static uint64_t space_path_at(const struct space_proc *t, uint64_t addr, char *out, size_t len)
{
	struct space_lookup q = { addr, 0, out, len };

	out[0] = '\0';
	maps_each(t->snap.text, t->snap.len, space_lookup_line, &q);
	return q.end;
}

/* A System V segment's size: its lines in the snapshot, from where it was attached. */
static uint64_t space_shm_size(const struct space_proc *t, uint64_t addr)
{
	char path[4096], next[4096];
	uint64_t end = space_path_at(t, addr, path, sizeof(path));

	if (!end || strncmp(path, "/SYSV", 5))
		return 0;
	/* one segment may show as several VMAs (mprotect'ed parts) */
	for (uint64_t e; (e = space_path_at(t, end, next, sizeof(next))) && !strcmp(next, path);)
		end = e;
	return end - addr;
}

/* ---------------------------------------------------------------- syscalls */

static const char *space_perms(unsigned prot, unsigned flags)
{
	static char p[5];

	snprintf(p, sizeof(p), "%c%c%c%c", prot & PROT_READ ? 'r' : '-',
		 prot & PROT_WRITE ? 'w' : '-', prot & PROT_EXEC ? 'x' : '-',
		 (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE
			 ? 's'
			 : 'p');
	return p;
}

static void space_add_marker(struct space_proc *t, uint64_t ts, uint64_t bytes, const char *what)
{
	struct space_marker *m;

	if (t->now_only)
		return;
	m = realloc(t->markers, (t->nmarkers + 1) * sizeof(*m));
	if (!m)
		return;
	t->markers = m;
	m = &t->markers[t->nmarkers++];
	m->ts_ns = ts;
	m->bytes = bytes;
	snprintf(m->label, sizeof(m->label), "%s %.1f MiB", what, (double)bytes / (1 << 20));
}

static void space_note_tid(struct space_proc *t, uint32_t tid)
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

static void space_mmap(struct space_proc *t, const struct ht_syscall *s, bool in_alloc)
{
	const uint64_t *a = (const uint64_t *)s->args;
	char path[4096];

	if (a[1] >= SPACE_MARKER_MIN_BYTES)
		space_add_marker(t, s->hdr.ts_ns, a[1],
				 in_alloc ? "mmap by the allocator" : "mmap");
	if (a[3] & MAP_ANONYMOUS) {
		vma_map_add(&t->vmas, (uint64_t)s->ret, a[1],
			    space_perms((unsigned)a[2], (unsigned)a[3]), VMA_ANON, NULL);
		return;
	}
	space_path_at(t, (uint64_t)s->ret, path, sizeof(path));
	vma_map_add(&t->vmas, (uint64_t)s->ret, a[1], space_perms((unsigned)a[2], (unsigned)a[3]),
		    VMA_FILE, path[0] ? path : NULL);
}

static void space_brk(struct space_proc *t, const struct ht_syscall *s)
{
	struct vma_map *m = &t->vmas;

	if (!t->brk_start) {
		t->brk_start = (uint64_t)s->ret; /* the first break: brk(0) */
	} else if (s->args[0]) {
		const struct vma *heap = NULL;

		for (size_t i = 0; i < m->n; i++)
			if (m->v[i].kind == VMA_HEAP)
				heap = &m->v[i];
		space_add_marker(t, s->hdr.ts_ns,
				 (uint64_t)s->ret - (heap ? heap->start : t->brk_start),
				 "brk: heap");
		vma_map_brk(m, t->brk_start, (uint64_t)s->ret);
	}
	space_set(t, SPACE_HEAP, s->hdr.ts_ns, (uint64_t)s->ret - t->brk_start);
}

static void space_shm(struct space_proc *t, const struct ht_syscall *s)
{
	const uint64_t *a = (const uint64_t *)s->args;
	struct vma_map *m = &t->vmas;
	char path[64];

	if (s->sys == HT_SYS_SHMAT) {
		uint64_t size = space_shm_size(t, (uint64_t)s->ret);

		snprintf(path, sizeof(path), "/SYSV shmid %d", (int)a[0]);
		if (size)
			vma_map_add(m, (uint64_t)s->ret, size, a[2] & 010000 ? "r--s" : "rw-s",
				    VMA_SHM, path);
	} else {
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
	}
}

static void space_syscall(struct space_proc *t, const struct ht_syscall *s)
{
	struct vma_map *m = &t->vmas;
	const uint64_t *a = (const uint64_t *)s->args;
	bool in_alloc = s->hdr.flags & HT_F_IN_ALLOC;
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
		space_mmap(t, s, in_alloc);
		break;
	case HT_SYS_MUNMAP:
		if (a[1] >= SPACE_MARKER_MIN_BYTES)
			space_add_marker(t, s->hdr.ts_ns, a[1], "munmap");
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
		space_brk(t, s);
		break;
	case HT_SYS_SHMAT:
	case HT_SYS_SHMDT:
		space_shm(t, s);
		break;
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
	space_set(t, SPACE_MAPPED, s->hdr.ts_ns, vma_map_bytes(m));
	space_set(t, SPACE_ALLOC_MAPPED, s->hdr.ts_ns, vma_map_allocator_bytes(m));
}

/* ---------------------------------------------------------------- faults */

/* A user fault below the stack is the stack growing down. */
static void space_stack_growth(struct space_proc *t, uint64_t addr)
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

static void space_fault(struct space_proc *t, const struct ht_fault *f)
{
	const struct vma *v;

	space_stack_growth(t, f->address);
	v = vma_map_find(&t->vmas, f->address);
	t->faults_by_kind[v ? v->kind : VMA_SPECIAL + 1][!!(f->error_code & HT_PF_WRITE)]++;
	if (!(f->error_code & HT_PF_PROT))
		t->first_touch++;
	space_set(t, SPACE_FAULTS, f->hdr.ts_ns, ++t->faults);
}

/*
 * A child starts with its parent's mappings, as the kernel copies them (but those marked
 * MADV_DONTFORK, which no record shows). Its own snapshot is not needed then: a child held at
 * its fork has none read (HT_F_HELD_FORK), and one that was not had only the snapshot of its
 * first syscall, after faults that found no mapping to count against.
 */
static void space_fork(struct space *s, const struct space_proc *parent, uint32_t child_pid)
{
	const struct model_proc *cp = model_proc_live(s->model, child_pid);
	struct space_proc *c;

	if (!cp || !parent->loaded)
		return;
	c = space_proc_of(s, cp);
	if (!c || c->loaded)
		return;
	vma_map_copy(&c->vmas, &parent->vmas);
	c->loaded = true;
	c->brk_start = parent->brk_start;
}

void space_apply(struct space *s, const struct ht_hdr *rec)
{
	struct space_proc *t = space_proc_of(s, model_proc_live(s->model, rec->pid));

	if (!t)
		return;
	if (rec->tid && !t->now_only)
		space_note_tid(t, rec->tid);
	if (rec->type == HT_REC_MAPS) {
		space_snapshot_add(t, ((const struct ht_maps *)rec)->text,
				   ((const struct ht_maps *)rec)->len);
		return;
	}
	space_snapshot_close(t);
	switch (rec->type) {
	case HT_REC_FORK:
		space_fork(s, t, ((const struct ht_fork *)rec)->child_pid);
		break;
	case HT_REC_EXEC:
		/* a new program: its mappings come in the snapshot that follows */
		vma_map_free(&t->vmas);
		t->loaded = false;
		t->brk_start = 0;
		break;
	case HT_REC_SYSCALL:
		space_syscall(t, (const struct ht_syscall *)rec);
		break;
	case HT_REC_FAULT:
		space_fault(t, (const struct ht_fault *)rec);
		break;
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		if (r->member < 4)
			space_set(t, space_rss_series[r->member], rec->ts_ns, (uint64_t)r->size);
		break;
	}
	case HT_REC_ALLOC:
		if (t->p->sampled)
			break; /* its counts change with its totals records */
			       /* fall through */
	case HT_REC_TOTALS:
		/* sampled mode: a point per totals record (SAMPLE_TOTALS_MS apart while it runs) */
		space_set(t, SPACE_LIVE, rec->ts_ns, t->p->live_bytes);
		space_set(t, SPACE_LIVE_ALLOCS, rec->ts_ns, model_proc_live_allocs(t->p));
		break;
	}
}

void space_finish(struct space *s)
{
	for (size_t i = 0; i < s->procs.n; i++)
		space_snapshot_close(s->procs.order[i]);
}
