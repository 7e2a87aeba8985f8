// SPDX-License-Identifier: GPL-2.0-only
/*
 * --unwind: each module's call-frame information compiled once into the shared row table (a
 * BPF array userspace writes through mmap), and each process walked with the tables given its
 * executable mappings, or left to frame pointers (auto, when every module keeps them).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "source/live/tracer_int.h"
#include "source/live/unwind.h"
#include "symbols/cfi.h"
#include "util/maps.h"
#include "util/pidset.h"
#include "util/procinfo.h"
#include "util/vec.h"
#include "util/say.h"

#define UNWIND_DEFAULT_ROWS (1u << 20)
/* A process whose walk was cut has its tables refreshed at most this often. */
#define UNWIND_REFRESH_NS (1000 * 1000000ull)
#define UNWIND_RECENT	  32

/* A module, by the file's identity (the same path may be another file in a container). */
struct unwind_file {
	uint64_t dev, ino;
	uint32_t row_first, row_count;
	struct cfi_segment segs[CFI_MAX_SEGMENTS];
	unsigned nsegs;
	bool fp;     /* keeps frame pointers */
	bool usable; /* has rows in the table */
};

struct unwind {
	enum unwind_mode mode;
	bool verbose;
	int procs_fd;
	struct ht_unwind_row *rows; /* the BPF array, mapped */
	size_t rows_len;	    /* bytes mapped */
	uint32_t rows_cap, rows_used;
	bool full_said;
	struct unwind_file *files;
	size_t nfiles, files_cap;
	struct pidset decided; /* processes walked one way or the other */
	struct {
		pid_t pid;
		uint64_t ns;
	} recent[UNWIND_RECENT]; /* last refreshes after a cut walk */
	unsigned recent_next;
};

struct unwind *unwind_prepare(struct heaptrail_bpf *skel, enum unwind_mode mode,
			      unsigned table_rows, bool verbose)
{
	struct unwind *u;

	if (mode == UNWIND_FP)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->mode = mode;
	u->verbose = verbose;
	u->procs_fd = -1;
	u->rows_cap = table_rows ? table_rows : UNWIND_DEFAULT_ROWS;
	if (bpf_map__set_max_entries(skel->maps.unwind_rows, u->rows_cap) ||
	    bpf_map__set_map_flags(skel->maps.unwind_rows, BPF_F_MMAPABLE)) {
		free(u);
		return NULL;
	}
	skel->rodata->unwind_tables = true;
	return u;
}

int unwind_loaded(struct unwind *u, struct heaptrail_bpf *skel)
{
	size_t len = (size_t)u->rows_cap * sizeof(struct ht_unwind_row);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + (size_t)page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel->maps.unwind_rows),
		 0);
	if (p == MAP_FAILED) {
		say("cannot map the unwind table: %s", strerror(errno));
		return -1;
	}
	u->rows = p;
	u->rows_len = len;
	u->procs_fd = bpf_map__fd(skel->maps.unwind_procs);
	return 0;
}

static struct unwind_file *unwind_file_find(struct unwind *u, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < u->nfiles; i++)
		if (u->files[i].dev == dev && u->files[i].ino == ino)
			return &u->files[i];
	return NULL;
}

/* The mapped file itself, else its path as the process sees it; -1 when neither opens. */
static int unwind_open(pid_t pid, const struct maps_line *l)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, l->start,
		 l->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, maps_path(l));
	return open(path, O_RDONLY | O_CLOEXEC);
}

static void unwind_say_file(const struct unwind *u, const char *path, const struct unwind_file *f,
			    const struct cfi_table *t)
{
	double pct = t->bytes ? 100.0 * (double)t->bytes_bp / (double)t->bytes : 0.0;

	if (!u->verbose)
		return;
	if (!t->source)
		say("unwind: %s: no call-frame information: frame pointers only, where it has them",
		    path);
	else if (!f->usable)
		say("unwind: %s: %zu rows from %s do not fit the table (--unwind-table-size): "
		    "stacks through it are cut",
		    path, t->nrows, t->source);
	else
		say("unwind: %s: %zu rows from %s; frame pointers in %.0f%% of its code: %s", path,
		    t->nrows, t->source, pct,
		    f->fp ? "enough for auto" : "its processes need the rows");
}

/* The module of mapping l, compiled the first time it is seen; NULL when it cannot be read. */
static struct unwind_file *unwind_file_get(struct unwind *u, pid_t pid, const struct maps_line *l)
{
	uint64_t dev = ((uint64_t)l->dev_major << 32) | l->dev_minor;
	struct unwind_file *f = unwind_file_find(u, dev, l->inode);
	struct cfi_table t;
	int fd;

	if (f)
		return f;
	if (!vec_room((void **)&u->files, u->nfiles, &u->files_cap, sizeof(*u->files), 32))
		return NULL;
	fd = unwind_open(pid, l);
	if (fd < 0)
		return NULL;
	if (cfi_compile(fd, &t)) {
		close(fd);
		return NULL;
	}
	close(fd);
	f = &u->files[u->nfiles++];
	*f = (struct unwind_file){
		.dev = dev, .ino = l->inode, .nsegs = t.nsegs, .fp = cfi_has_frame_pointers(&t)
	};
	memcpy(f->segs, t.segs, sizeof(f->segs));
	if (t.nrows && t.nrows <= u->rows_cap - u->rows_used) {
		memcpy(u->rows + u->rows_used, t.rows, t.nrows * sizeof(*t.rows));
		f->row_first = u->rows_used;
		f->row_count = (uint32_t)t.nrows;
		f->usable = true;
		u->rows_used += (uint32_t)t.nrows;
	}
	unwind_say_file(u, maps_path(l), f, &t);
	cfi_table_free(&t);
	return f;
}

struct unwind_scan {
	struct unwind *u;
	pid_t pid;
	struct ht_unwind_proc proc;
	const char *no_fp; /* a module without frame pointers, if any */
	char no_fp_buf[256];
};

static int unwind_scan_line(void *ctx, const struct maps_line *l)
{
	struct unwind_scan *s = ctx;
	struct unwind_file *f;
	uint64_t bias;

	if (l->perms[2] != 'x' || !maps_path(l) || !l->inode)
		return 0;
	f = unwind_file_get(s->u, s->pid, l);
	if (!f)
		return 0;
	if (!f->fp && !s->no_fp) {
		snprintf(s->no_fp_buf, sizeof(s->no_fp_buf), "%s", maps_path(l));
		s->no_fp = s->no_fp_buf;
	}
	if (!f->usable || s->proc.n >= HT_UNWIND_MAPS)
		return 0;
	if (!cfi_bias(f->segs, f->nsegs, l->start, l->offset, &bias))
		return 0;
	s->proc.maps[s->proc.n++] = (struct ht_unwind_map){
		.start = l->start,
		.end = l->end,
		.bias = bias,
		.row_first = f->row_first,
		.row_count = f->row_count,
	};
	return 0;
}

void unwind_process(struct unwind *u, pid_t pid)
{
	struct unwind_scan s = { .u = u, .pid = pid };
	bool tables;
	size_t len;
	char *text;

	if (!u || !u->rows)
		return;
	for (unsigned i = 0; i < HT_UNWIND_MAPS; i++)
		s.proc.maps[i].start = s.proc.maps[i].end = HT_UNWIND_UNUSED;
	s.proc.holds_left = HT_UNWIND_HOLDS;
	text = proc_maps_text(pid, &len);
	if (!text)
		return;
	maps_each(text, len, unwind_scan_line, &s);
	free(text);
	pidset_add(&u->decided, (uint32_t)pid);
	tables = u->mode == UNWIND_DWARF || s.no_fp;
	if (u->verbose)
		say("unwind: pid %d: %s%s%s", pid,
		    tables ? "call-frame information" : "frame pointers (every module keeps them)",
		    tables && s.no_fp ? ", since this has no frame pointers: " : "",
		    tables && s.no_fp ? s.no_fp : "");
	if (tables &&
	    bpf_map_update_elem(u->procs_fd, &(uint32_t){ (uint32_t)pid }, &s.proc, BPF_ANY)) {
		if (!u->full_said)
			say("unwind: no room for pid %d's table (%s): it and others are walked by "
			    "frame pointers",
			    pid, strerror(errno));
		u->full_said = true;
	} else if (!tables)
		bpf_map_delete_elem(u->procs_fd, &(uint32_t){ (uint32_t)pid });
}

void unwind_ensure(struct unwind *u, pid_t pid)
{
	if (u && !pidset_has(&u->decided, (uint32_t)pid))
		unwind_process(u, pid);
}

void unwind_fork(struct unwind *u, pid_t parent, pid_t child)
{
	struct ht_unwind_proc proc;

	if (!u || !u->rows || !pidset_has(&u->decided, (uint32_t)parent))
		return;
	/*
	 * process_fork gave the child its parent's tables, or the parent had none (frame
	 * pointers). Without room for them, the child's own reading will say why.
	 */
	if (!bpf_map_lookup_elem(u->procs_fd, &(uint32_t){ (uint32_t)parent }, &proc) &&
	    bpf_map_lookup_elem(u->procs_fd, &(uint32_t){ (uint32_t)child }, &proc))
		return;
	pidset_add(&u->decided, (uint32_t)child);
}

void unwind_on_stack(struct unwind *u, pid_t pid, uint32_t flags, uint64_t now_ns)
{
	if (!u)
		return;
	if (!pidset_has(&u->decided, (uint32_t)pid)) {
		unwind_process(u, pid);
		return;
	}
	if (!(flags & (HT_F_STACK_CUT | HT_F_STACK_UNMAPPED)))
		return;
	/* the process may have mapped a module since (dlopen): read its mappings again */
	for (unsigned i = 0; i < UNWIND_RECENT; i++)
		if (u->recent[i].pid == pid && now_ns - u->recent[i].ns < UNWIND_REFRESH_NS)
			return;
	u->recent[u->recent_next].pid = pid;
	u->recent[u->recent_next].ns = now_ns;
	u->recent_next = (u->recent_next + 1) % UNWIND_RECENT;
	unwind_process(u, pid);
}

void unwind_forget(struct unwind *u, pid_t pid)
{
	/*
	 * The entry itself went in BPF at the exec or exit: deleting it here, when the record
	 * is read, could take the entry a new process of the same pid got at its fork since.
	 */
	if (u)
		pidset_remove(&u->decided, (uint32_t)pid);
}

void unwind_print_usage(const struct unwind *u)
{
	if (!u)
		return;
	say("unwind tables: %" PRIu32 " rows for %zu modules (%" PRIu32 " KiB) of %" PRIu32
	    " (%zu KiB of kernel memory)",
	    u->rows_used, u->nfiles, (uint32_t)(u->rows_used * sizeof(*u->rows) / 1024),
	    u->rows_cap, u->rows_len / 1024);
}

void unwind_free(struct unwind *u)
{
	if (!u)
		return;
	if (u->rows)
		munmap(u->rows, u->rows_len);
	free(u->files);
	pidset_free(&u->decided);
	free(u);
}
