// SPDX-License-Identifier: GPL-2.0-only
/*
 * Symbolization with libdwfl. Each process keeps the union of the /proc/PID/maps snapshots
 * taken while it ran, so the process need not be alive any more when its addresses are
 * resolved. An address in a mapped file becomes an offset in that file, resolved in one Dwfl
 * per file that every process mapping it shares (its symbol tables and debuginfo are read
 * once, not once per process), and remembered. Other addresses (the vdso, a file that cannot
 * be opened) go through a Dwfl built from the process's maps (dwfl_linux_proc_maps_report).
 */
#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "util/procinfo.h"
#include "symbols/symbolize.h"
#include "util/maps.h"
#include "util/vec.h"
#include "util/say.h"

/* libstdc++'s demangler; heaptrail links the C++ runtime for it. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* One line of /proc/PID/maps. */
struct range {
	uint64_t start, end;
	uint64_t offset;  /* in the file, of start */
	const char *path; /* a kept string; NULL for anonymous memory */
	char *line;	  /* the whole line, the range's own (its addresses are the process's) */
	bool exec;	  /* code can run there */
	unsigned dev_major, dev_minor;
	uint64_t inode; /* which file path was, when the line was read */
};

/*
 * A process's mappings: every snapshot's lines, where a newer one replaces the older ones it
 * overlaps (an address is reused: ld.so's cache unmapped, JIT code mapped there), and older
 * ones stay (a library unloaded since still names the stacks it made).
 */
struct sym_proc {
	uint32_t pid;
	uint64_t start_ns;
	struct range *ranges;
	size_t nranges;
	Dwfl *dwfl; /* built on first use, rebuilt when the mappings changed */
	bool stale;
	uint64_t read_ns; /* when /proc/PID/maps was last read (CLOCK_MONOTONIC, as records) */
	bool retained;	  /* exited: only the mappings its leaks need are left (symbolize_retain) */
};

/*
 * One mapped file, shared by every process that maps it (the same path, device and inode);
 * opened on first use.
 */
struct sym_file {
	const char *path; /* a kept string */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	Dwfl *dwfl; /* NULL when the file could not be opened as ELF */
	Dwfl_Module *mod;
	GElf_Addr bias;
	bool warm; /* its tables were read (symbolize_warm) */
	uint8_t build_id[SYMBOLIZE_BUILD_ID_MAX];
	size_t build_id_len; /* 0: none, or not opened */
};

/* Whether the code before (file, offset) ends in a call: the verdicts, cached. */
struct sym_verdict {
	const struct sym_file *file;
	uint64_t off;
	bool after_call;
};

/* A resolved address: file and offset of the call, and its frames in the pool. */
struct sym_cached {
	const struct sym_file *file;
	uint64_t off;
	uint32_t first, n;
};

struct symbolizer {
	struct sym_proc *procs;
	size_t nprocs, cap;
	struct sym_file **files;
	size_t nfiles, files_cap;
	struct sym_cached *cache; /* open addressing, a power of two in size */
	size_t ncache, cache_cap;
	struct sym_frame *pool; /* the cached frames */
	size_t npool, pool_cap;
	char **strings; /* every string handed out, once each: open addressing (keep()) */
	size_t nstrings, strings_cap;
	struct sym_verdict *verdicts; /* open addressing, a power of two in size */
	size_t nverdicts, verdicts_cap;
	csh cs; /* capstone, opened on first use */
	bool cs_open;
	bool offline; /* replaying a file: /proc is not the recorded processes' */
	void (*on_snapshot)(void *ctx, uint32_t pid, const char *text, size_t len);
	void *snapshot_ctx;
	void (*on_build_id)(void *ctx, const struct sym_build_id *b);
	void *build_id_ctx;
	struct sym_build_id *recorded; /* offline: the recording's build-ids */
	size_t nrecorded, recorded_cap;
};

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* A file found by its build-id alone (a recording replayed where the path holds another). */
static const Dwfl_Callbacks build_id_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

struct symbolizer *symbolize_new(void)
{
	return calloc(1, sizeof(struct symbolizer));
}

static void ranges_free(struct range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].line);
	free(r);
}

void symbolize_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++) {
		if (s->procs[i].dwfl)
			dwfl_end(s->procs[i].dwfl);
		ranges_free(s->procs[i].ranges, s->procs[i].nranges);
	}
	free(s->procs);
	for (size_t i = 0; i < s->nfiles; i++) {
		if (s->files[i]->dwfl)
			dwfl_end(s->files[i]->dwfl);
		free(s->files[i]);
	}
	free(s->files);
	free(s->recorded);
	free(s->cache);
	free(s->pool);
	free(s->verdicts);
	if (s->cs_open)
		cs_close(&s->cs);
	for (size_t i = 0; i < s->strings_cap; i++)
		free(s->strings[i]);
	free(s->strings);
	free(s);
}

void symbolize_memory(const struct symbolizer *s, struct symbolize_mem *mem)
{
	*mem = (struct symbolize_mem){
		.files = s->nfiles, .procs = s->nprocs, .cached = s->ncache, .frames = s->npool
	};
	mem->bytes = s->cap * sizeof(*s->procs) + s->files_cap * sizeof(*s->files) +
		     s->cache_cap * sizeof(*s->cache) + s->pool_cap * sizeof(*s->pool) +
		     s->strings_cap * sizeof(*s->strings);
	for (size_t i = 0; i < s->nprocs; i++) {
		mem->ranges += s->procs[i].nranges;
		mem->bytes += s->procs[i].nranges * sizeof(*s->procs[i].ranges);
		for (size_t k = 0; k < s->procs[i].nranges; k++)
			mem->bytes += strlen(s->procs[i].ranges[k].line) + 1;
	}
	for (size_t i = 0; i < s->nfiles; i++) {
		mem->files_read += s->files[i]->warm;
		mem->bytes += sizeof(*s->files[i]);
	}
	for (size_t i = 0; i < s->strings_cap; i++)
		if (s->strings[i])
			mem->bytes += strlen(s->strings[i]) + 1;
}

static size_t symbolize_string_slot(char *const *set, size_t cap, const char *str)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (const char *c = str; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	for (i = h & (cap - 1); set[i] && strcmp(set[i], str); i = (i + 1) & (cap - 1))
		;
	return i;
}

/*
 * Takes ownership of str (malloc'ed) and returns the one kept copy of its text: the same
 * maps line read again, or the same path in another process, costs nothing more. (Without
 * it, a process whose stacks kept missing its module list, as a frame-pointer walk through
 * code without them does, had its maps kept again at every read: 333 MB for 671 processes.)
 */
static const char *keep(struct symbolizer *s, char *str)
{
	size_t i;

	if (!str)
		return NULL;
	if ((s->nstrings + 1) * 2 > s->strings_cap) {
		size_t ncap = s->strings_cap ? s->strings_cap * 2 : 1024;
		char **n = calloc(ncap, sizeof(*n));

		if (!n) {
			free(str);
			return NULL;
		}
		for (size_t k = 0; k < s->strings_cap; k++)
			if (s->strings[k])
				n[symbolize_string_slot(n, ncap, s->strings[k])] = s->strings[k];
		free(s->strings);
		s->strings = n;
		s->strings_cap = ncap;
	}
	i = symbolize_string_slot(s->strings, s->strings_cap, str);
	if (s->strings[i]) {
		free(str);
		return s->strings[i];
	}
	s->strings[i] = str;
	s->nstrings++;
	return str;
}

static const char *demangled(struct symbolizer *s, const char *name)
{
	int status = -1;
	char *d;

	if (!name)
		return NULL;
	if (name[0] == '_' && name[1] == 'Z') {
		d = __cxa_demangle(name, NULL, NULL, &status);
		if (d && status == 0)
			return keep(s, d);
		free(d);
	}
	return keep(s, strdup(name));
}

void symbolize_forget(struct symbolizer *s, uint32_t pid, uint64_t start_ns)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sym_proc *p = &s->procs[i];

		if (p->pid != pid || p->start_ns != start_ns)
			continue;
		if (p->dwfl)
			dwfl_end(p->dwfl);
		ranges_free(p->ranges, p->nranges);
		*p = s->procs[--s->nprocs];
		return;
	}
}

static struct sym_proc *find_proc(struct symbolizer *s, uint32_t pid, uint64_t start_ns)
{
	struct sym_proc *p;

	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid && s->procs[i].start_ns == start_ns)
			return &s->procs[i];
	if (!vec_room((void **)&s->procs, s->nprocs, &s->cap, sizeof(*s->procs), 16))
		return NULL;
	p = &s->procs[s->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->start_ns = start_ns;
	return p;
}

/*
 * A return address lies in executable memory: one that falls in a mapping without x (a file
 * unmapped since, the range reused) means the list is out of date.
 */
static bool covered(const struct sym_proc *p, uint64_t addr)
{
	for (size_t i = 0; i < p->nranges; i++)
		if (addr >= p->ranges[i].start && addr < p->ranges[i].end && p->ranges[i].exec)
			return true;
	return false;
}

static bool overlaps(const struct range *a, const struct range *b)
{
	return a->start < b->end && b->start < a->end;
}

struct sym_fresh {
	struct symbolizer *s;
	struct range *v;
	size_t n, cap;
};

static int sym_fresh_line(void *ctx, const struct maps_line *l)
{
	struct sym_fresh *f = ctx;
	struct range r = {
		.start = l->start,
		.end = l->end,
		.offset = l->offset,
		.exec = l->perms[2] == 'x',
		.dev_major = l->dev_major,
		.dev_minor = l->dev_minor,
		.inode = l->inode,
	};
	char *copy = strndup(l->text, l->len);

	if (!copy)
		return 1;
	if (!vec_room((void **)&f->v, f->n, &f->cap, sizeof(*f->v), 64)) {
		free(copy);
		return 1;
	}
	r.path = maps_path(l) ? keep(f->s, strdup(maps_path(l))) : NULL;
	r.line = copy;
	f->v[f->n++] = r;
	return 0;
}

/* Merges a maps text in: its lines replace older ones they overlap; a line seen before stays. */
static void merge_maps(struct symbolizer *s, struct sym_proc *p, const char *text, size_t len)
{
	struct sym_fresh f = { .s = s };
	struct range *fresh, *merged;
	size_t nfresh, n = 0;
	bool changed = false;

	maps_each(text, len, sym_fresh_line, &f);
	fresh = f.v;
	nfresh = f.n;
	merged = malloc((p->nranges + nfresh + 1) * sizeof(*merged));
	if (!merged) {
		ranges_free(fresh, nfresh);
		return;
	}
	/* a fresh line not seen before changes the list; compared before old lines go */
	for (size_t k = 0; k < nfresh; k++) {
		bool seen = false;

		for (size_t i = 0; i < p->nranges && !seen; i++)
			seen = !strcmp(p->ranges[i].line, fresh[k].line);
		changed |= !seen;
	}
	for (size_t i = 0; i < p->nranges; i++) {
		bool replaced = false, same = false;

		for (size_t k = 0; k < nfresh && !same; k++) {
			same = !strcmp(p->ranges[i].line, fresh[k].line);
			replaced |= !same && overlaps(&p->ranges[i], &fresh[k]);
		}
		if (!replaced && !same)
			merged[n++] = p->ranges[i];
		else
			free(p->ranges[i].line); /* the fresh copy takes its place */
		changed |= replaced;
	}
	for (size_t k = 0; k < nfresh; k++)
		merged[n++] = fresh[k];
	free(fresh);
	free(p->ranges);
	p->ranges = merged;
	p->nranges = n;
	p->stale |= changed;
}

/* Reads /proc/PID/maps now (not offline) and merges it in, telling the snapshot hook. */
static void snapshot(struct symbolizer *s, struct sym_proc *p)
{
	struct timespec now;
	size_t len;
	char *text;

	if (s->offline)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	p->read_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	text = proc_maps_text((pid_t)p->pid, &len);
	if (!text)
		return;
	merge_maps(s, p, text, len);
	if (s->on_snapshot && len)
		s->on_snapshot(s->snapshot_ctx, p->pid, text, len);
	free(text);
}

static struct sym_file *symbolize_file(struct symbolizer *s, const struct sym_proc *p,
				       const struct range *r);

void symbolize_add_maps(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const char *text,
			size_t len)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);

	if (!p)
		return;
	merge_maps(s, p, text, len);
	/*
	 * Live, the process is there now (a snapshot is taken while it is held, when it can be):
	 * its files are opened as it sees them, which may take it being alive (another mount
	 * namespace, a file deleted or replaced since). Opening is cheap; their tables are read
	 * later (symbolize_warm).
	 */
	for (size_t i = 0; !s->offline && i < p->nranges; i++)
		if (p->ranges[i].path && p->ranges[i].exec)
			symbolize_file(s, p, &p->ranges[i]);
}

void symbolize_retain(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const uint64_t *addrs,
		      size_t n)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);
	size_t kept = 0;

	if (!p || !p->nranges)
		return;
	p->retained = true;
	for (size_t i = 0; i < p->nranges; i++) {
		bool used = false;

		/* return addresses: the call is the byte before (symbolize_resolve) */
		for (size_t k = 0; k < n && !used; k++)
			used = addrs[k] && addrs[k] - 1 >= p->ranges[i].start &&
			       addrs[k] - 1 < p->ranges[i].end;
		if (used)
			p->ranges[kept++] = p->ranges[i];
		else
			free(p->ranges[i].line);
	}
	if (kept < p->nranges) {
		struct range *r = realloc(p->ranges, (kept ? kept : 1) * sizeof(*r));

		p->ranges = r ? r : p->ranges;
		p->nranges = kept;
		p->stale = true;
	}
	if (p->dwfl) {
		dwfl_end(p->dwfl);
		p->dwfl = NULL;
	}
}

void symbolize_set_offline(struct symbolizer *s, bool offline)
{
	s->offline = offline;
}

void symbolize_on_build_id(struct symbolizer *s,
			   void (*fn)(void *ctx, const struct sym_build_id *b), void *ctx)
{
	s->on_build_id = fn;
	s->build_id_ctx = ctx;
}

void symbolize_on_snapshot(struct symbolizer *s,
			   void (*fn)(void *ctx, uint32_t pid, const char *text, size_t len),
			   void *ctx)
{
	s->on_snapshot = fn;
	s->snapshot_ctx = ctx;
}

bool symbolize_cover(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t captured_ns,
		     const uint64_t *addrs, size_t n)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);
	bool read = false;

	if (!p)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (covered(p, addrs[i]))
			continue;
		/*
		 * Maps read after the capture that do not cover it never will: what was mapped
		 * then and is not now was unmapped, and what never was mapped (a frame-pointer
		 * walk's garbage) never will be. Reading again would only cost.
		 */
		if (read || p->read_ns >= captured_ns)
			return false;
		snapshot(s, p);
		read = true;
		if (!covered(p, addrs[i]))
			return false;
	}
	return true;
}

void symbolize_inherit(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint32_t parent,
		       uint64_t parent_start_ns)
{
	struct sym_proc *from, *to;
	size_t from_index;

	from = find_proc(s, parent, parent_start_ns);
	if (!from)
		return;
	if (!from->nranges)
		snapshot(s, from);
	from_index = (size_t)(from - s->procs);
	to = find_proc(s, pid, start_ns); /* may move s->procs */
	from = &s->procs[from_index];
	if (!to || to->nranges || !from->nranges)
		return;
	to->ranges = malloc(from->nranges * sizeof(*to->ranges));
	if (!to->ranges)
		return;
	for (size_t i = 0; i < from->nranges; i++) {
		to->ranges[i] = from->ranges[i];
		to->ranges[i].line = strdup(from->ranges[i].line);
		if (!to->ranges[i].line) {
			ranges_free(to->ranges, i);
			to->ranges = NULL;
			return;
		}
	}
	to->nranges = from->nranges;
	to->stale = true;
}

const char *symbolize_module(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t addr)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);

	if (!p)
		return NULL;
	if (!p->nranges)
		snapshot(s, p);
	for (size_t i = 0; i < p->nranges; i++)
		if (addr >= p->ranges[i].start && addr < p->ranges[i].end)
			return p->ranges[i].path;
	return NULL;
}

static int by_start(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static Dwfl *proc_dwfl(struct sym_proc *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (p->dwfl && !p->stale)
		return p->dwfl;
	if (p->dwfl)
		dwfl_end(p->dwfl);
	p->dwfl = NULL;
	p->stale = false;
	if (!p->nranges)
		return NULL;
	qsort(p->ranges, p->nranges, sizeof(*p->ranges), by_start);
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < p->nranges; i++)
		fprintf(f, "%s\n", p->ranges[i].line);
	fclose(f);
	p->dwfl = dwfl_begin(&dwfl_callbacks);
	f = p->dwfl ? fmemopen(text, len, "r") : NULL;
	if (f) {
		dwfl_report_begin(p->dwfl);
		dwfl_linux_proc_maps_report(p->dwfl, f);
		dwfl_report_end(p->dwfl, NULL, NULL);
		fclose(f);
	}
	free(text);
	return p->dwfl;
}

/* The name of a function's DIE, from its origin if inlined: the linkage name (demangled). */
static const char *die_name(struct symbolizer *s, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr)) {
		name = dwarf_formstring(&attr);
		if (name)
			return demangled(s, name);
	}
	if (dwarf_attr_integrate(die, DW_AT_name, &attr)) {
		name = dwarf_formstring(&attr);
		if (name)
			return keep(s, strdup(name));
	}
	return NULL;
}

/* Where an inlined subroutine was called from: DW_AT_call_file/line of its DIE. */
static void call_site(struct symbolizer *s, Dwarf_Die *cu, Dwarf_Die *die, const char **file,
		      int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;
	Dwarf_Files *files;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
		*line = (int)v;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && v < nfiles) {
		const char *f = dwarf_filesrc(files, v, NULL, NULL);

		*file = f ? keep(s, strdup(f)) : NULL;
	}
}

/*
 * The frames of the call at pc in mod (addr, the return address, is what they show): the
 * inlined calls at that address, innermost first, then the function that holds them.
 */
static int symbolize_in_module(struct symbolizer *s, Dwfl_Module *mod, Dwarf_Addr pc, uint64_t addr,
			       struct sym_frame *out, int max)
{
	const char *module, *file = NULL, *sym;
	Dwarf_Die *cu, *scopes = NULL;
	Dwarf_Addr bias = 0;
	Dwfl_Line *dline;
	GElf_Off off = 0;
	GElf_Sym elfsym;
	int line = 0, n = 0, nscopes;

	module = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	module = module ? keep(s, strdup(module)) : "[anon]";
	sym = demangled(s, dwfl_module_addrinfo(mod, pc, &off, &elfsym, NULL, NULL, NULL));
	dline = dwfl_module_getsrc(mod, pc);
	if (dline) {
		const char *f = dwfl_lineinfo(dline, NULL, &line, NULL, NULL, NULL);

		file = f ? keep(s, strdup(f)) : NULL;
	}
	cu = dwfl_module_addrdie(mod, pc, &bias);
	nscopes = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
	for (int i = 0; i < nscopes && n < max - 1; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag != DW_TAG_inlined_subroutine)
			continue;
		out[n++] = (struct sym_frame){ .addr = addr,
					       .sym = die_name(s, &scopes[i]),
					       .module = module,
					       .file = file,
					       .line = line,
					       .inlined = true };
		call_site(s, cu, &scopes[i], &file, &line);
	}
	free(scopes);
	out[n++] = (struct sym_frame){ .addr = addr,
				       .sym = sym,
				       .offset = sym ? off + 1 : 0,
				       .module = module,
				       .file = file,
				       .line = line };
	return n;
}

/* path opened when it is the file a mapping maps (its device and inode); -1 otherwise. */
static int symbolize_open_same(const char *path, const struct range *r, bool *other)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || major(st.st_dev) != r->dev_major ||
	    minor(st.st_dev) != r->dev_minor || st.st_ino != r->inode) {
		*other = true;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Opens the file a mapping of process p maps, as p sees it: at its path when that is the same
 * file here, else through /proc/PID/root (another mount namespace: a container), else through
 * /proc/PID/map_files (the mapped file itself, whatever became of its path). A different file
 * at the same path is never used. *name gets the path it was opened by (for .gnu_debuglink,
 * which is looked for beside it). Replaying a file, the path is all there is.
 */
static int symbolize_open(struct symbolizer *s, const struct sym_proc *p, const struct range *r,
			  const char **name, bool *other)
{
	char buf[4200];
	int fd;

	*name = r->path;
	if (s->offline)
		return open(r->path, O_RDONLY | O_CLOEXEC);
	fd = symbolize_open_same(r->path, r, other);
	if (fd >= 0)
		return fd;
	snprintf(buf, sizeof(buf), "/proc/%u/root%s", p->pid, r->path);
	fd = symbolize_open_same(buf, r, other);
	if (fd < 0) {
		snprintf(buf, sizeof(buf), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, p->pid,
			 r->start, r->end);
		fd = open(buf, O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0)
		*name = keep(s, strdup(buf));
	return fd;
}

/* fd (consumed) as f's module, its build-id read; false when it is not an ELF file. */
static bool symbolize_report(struct sym_file *f, const char *name, int fd)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len;

	f->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!f->dwfl) {
		close(fd);
		return false;
	}
	dwfl_report_begin(f->dwfl);
	/* on success the descriptor is libdwfl's */
	f->mod = dwfl_report_elf(f->dwfl, f->path, name, fd, 0, false);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->mod)
		close(fd);
	if (!f->mod || !dwfl_module_getelf(f->mod, &f->bias)) {
		dwfl_end(f->dwfl);
		f->dwfl = NULL;
		f->mod = NULL;
		return false;
	}
	len = dwfl_module_build_id(f->mod, &bits, &vaddr);
	f->build_id_len = len > 0 && len <= SYMBOLIZE_BUILD_ID_MAX ? (size_t)len : 0;
	memcpy(f->build_id, bits, f->build_id_len);
	return true;
}

static void symbolize_unreport(struct sym_file *f)
{
	if (f->dwfl)
		dwfl_end(f->dwfl);
	f->dwfl = NULL;
	f->mod = NULL;
	f->build_id_len = 0;
	f->warm = false;
}

static bool symbolize_same_build_id(const struct sym_file *f, const struct sym_build_id *b)
{
	return f->build_id_len == b->len && !memcmp(f->build_id, b->id, b->len);
}

/* The file with that build-id, where libdwfl finds one (.build-id directories, debuginfod). */
static int symbolize_open_build_id(const struct sym_build_id *b, char **found)
{
	Dwfl *d = dwfl_begin(&build_id_callbacks);
	Dwfl_Module *mod;
	void *userdata = NULL;
	Elf *elf = NULL;
	int fd = -1;

	*found = NULL;
	if (!d)
		return -1;
	dwfl_report_begin(d);
	mod = dwfl_report_module(d, "build-id", 0, 1);
	if (mod && !dwfl_module_report_build_id(mod, b->id, b->len, 0)) {
		dwfl_report_end(d, NULL, NULL);
		fd = dwfl_build_id_find_elf(mod, &userdata, "build-id", 0, found, &elf);
	}
	if (elf)
		elf_end(elf); /* the descriptor stays open: reported again by the caller */
	dwfl_end(d);
	return fd;
}

static const struct sym_build_id *symbolize_recorded(const struct symbolizer *s, unsigned dev_major,
						     unsigned dev_minor, uint64_t inode)
{
	for (size_t i = 0; i < s->nrecorded; i++)
		if (s->recorded[i].inode == inode && s->recorded[i].dev_major == dev_major &&
		    s->recorded[i].dev_minor == dev_minor)
			return &s->recorded[i];
	return NULL;
}

/*
 * Replaying: f is the file at its path only when its build-id is the recorded one; else the
 * file with that build-id, found elsewhere, or none (said once).
 */
static void symbolize_check_recorded(struct symbolizer *s, struct sym_file *f,
				     const struct sym_build_id *want)
{
	const char *name;
	char *found;
	int fd;

	if (f->mod && symbolize_same_build_id(f, want))
		return;
	symbolize_unreport(f);
	fd = symbolize_open_build_id(want, &found);
	if (fd < 0) {
		free(found);
	} else {
		name = found ? keep(s, found) : NULL; /* keep() owns found */
		if (symbolize_report(f, name ? name : f->path, fd) &&
		    symbolize_same_build_id(f, want))
			return;
		symbolize_unreport(f);
	}
	say("warning: %s is not the file recorded (another build-id, or missing) and no file with "
	    "the recorded build-id was found: its frames have no names",
	    f->path);
}

void symbolize_add_build_id(struct symbolizer *s, const struct sym_build_id *b)
{
	/* live, the files are the mapped ones themselves (device and inode checked) */
	if (!s->offline || symbolize_recorded(s, b->dev_major, b->dev_minor, b->inode))
		return;
	if (!vec_room((void **)&s->recorded, s->nrecorded, &s->recorded_cap, sizeof(*s->recorded),
		      16))
		return;
	s->recorded[s->nrecorded++] = *b;
	/* a file opened before its build-id came (a stack before its mappings' records) */
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i]->inode == b->inode && s->files[i]->dev_major == b->dev_major &&
		    s->files[i]->dev_minor == b->dev_minor)
			symbolize_check_recorded(s, s->files[i], b);
}

/* The file mapping r of process p maps, opened on first use; NULL when out of memory. */
static struct sym_file *symbolize_file(struct symbolizer *s, const struct sym_proc *p,
				       const struct range *r)
{
	const struct sym_build_id *want;
	struct sym_file *f;
	const char *name;
	bool other = false;
	int fd;

	for (size_t i = 0; i < s->nfiles; i++) {
		f = s->files[i];
		if (f->inode == r->inode && f->dev_major == r->dev_major &&
		    f->dev_minor == r->dev_minor && !strcmp(f->path, r->path))
			return f;
	}
	if (!vec_room((void **)&s->files, s->nfiles, &s->files_cap, sizeof(*s->files), 16))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = r->path;
	f->dev_major = r->dev_major;
	f->dev_minor = r->dev_minor;
	f->inode = r->inode;
	s->files[s->nfiles++] = f;
	fd = symbolize_open(s, p, r, &name, &other);
	if (fd >= 0)
		symbolize_report(f, name, fd);
	want = s->offline ? symbolize_recorded(s, f->dev_major, f->dev_minor, f->inode) : NULL;
	if (want)
		symbolize_check_recorded(s, f, want);
	if (!s->offline && f->build_id_len && s->on_build_id) {
		struct sym_build_id b = { .dev_major = f->dev_major,
					  .dev_minor = f->dev_minor,
					  .inode = f->inode,
					  .len = f->build_id_len };

		memcpy(b.id, f->build_id, f->build_id_len);
		s->on_build_id(s->build_id_ctx, &b);
	}
	if (fd < 0 && other)
		say("warning: %s, as pid %u mapped it, is not the file at that path now (another "
		    "device or inode), and the process is gone: its frames have no names",
		    r->path, p->pid);
	return f;
}

/* The address the ELF file gives to its byte at off (from its loaded segments), or false. */
static bool symbolize_file_vaddr(const struct sym_file *f, uint64_t off, GElf_Addr *vaddr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(f->mod, &bias);
	size_t nphdr;

	if (!elf || elf_getphdrnum(elf, &nphdr))
		return false;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);

		if (ph && ph->p_type == PT_LOAD && off >= ph->p_offset &&
		    off < ph->p_offset + ph->p_filesz) {
			*vaddr = off - ph->p_offset + ph->p_vaddr;
			return true;
		}
	}
	return false;
}

static size_t symbolize_slot(const struct symbolizer *s, const struct sym_file *f, uint64_t off)
{
	uint64_t h = (off ^ (uint64_t)(uintptr_t)f) * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 20) & (s->cache_cap - 1);

	while (s->cache[i].file && (s->cache[i].file != f || s->cache[i].off != off))
		i = (i + 1) & (s->cache_cap - 1);
	return i;
}

/* Remembers n frames for (f, off); forgetting on failure only costs a later lookup. */
static void symbolize_remember(struct symbolizer *s, const struct sym_file *f, uint64_t off,
			       const struct sym_frame *frames, int n)
{
	size_t slot;

	if (2 * (s->ncache + 1) > s->cache_cap) {
		size_t ncap = s->cache_cap ? s->cache_cap * 2 : 1024, ocap = s->cache_cap;
		struct sym_cached *old = s->cache, *n2 = calloc(ncap, sizeof(*n2));

		if (!n2)
			return;
		s->cache = n2;
		s->cache_cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].file)
				s->cache[symbolize_slot(s, old[i].file, old[i].off)] = old[i];
		free(old);
	}
	if (s->npool + (size_t)n > s->pool_cap) {
		size_t ncap = s->pool_cap ? s->pool_cap * 2 : 1024;
		struct sym_frame *p;

		while (ncap < s->npool + (size_t)n)
			ncap *= 2;
		p = realloc(s->pool, ncap * sizeof(*p));
		if (!p)
			return;
		s->pool = p;
		s->pool_cap = ncap;
	}
	memcpy(&s->pool[s->npool], frames, (size_t)n * sizeof(*frames));
	slot = symbolize_slot(s, f, off);
	s->cache[slot] = (struct sym_cached){ f, off, (uint32_t)s->npool, (uint32_t)n };
	s->npool += (size_t)n;
	s->ncache++;
}

/* The mapping of p that holds addr, or NULL. */
static const struct range *symbolize_range_at(const struct sym_proc *p, uint64_t addr)
{
	for (size_t i = 0; i < p->nranges; i++)
		if (addr >= p->ranges[i].start && addr < p->ranges[i].end)
			return &p->ranges[i];
	return NULL;
}

/* addr in a mapped file, through the file's shared Dwfl and the cache; 0 when it cannot. */
static int symbolize_in_file(struct symbolizer *s, const struct sym_proc *p, const struct range *r,
			     uint64_t addr, struct sym_frame *out, int max)
{
	uint64_t off = addr - 1 - r->start + r->offset;
	struct sym_file *f = symbolize_file(s, p, r);
	GElf_Addr vaddr;
	int n;

	if (!f || !f->mod)
		return 0;
	if (s->cache_cap) {
		const struct sym_cached *c = &s->cache[symbolize_slot(s, f, off)];

		if (c->file && (int)c->n <= max) {
			for (uint32_t i = 0; i < c->n; i++) {
				out[i] = s->pool[c->first + i];
				out[i].addr = addr;
			}
			return (int)c->n;
		}
	}
	if (!symbolize_file_vaddr(f, off, &vaddr))
		return 0;
	n = symbolize_in_module(s, f->mod, vaddr + f->bias, addr, out, max);
	symbolize_remember(s, f, off, out, n);
	return n;
}

int symbolize_resolve(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t addr,
		      struct sym_frame *out, int max)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);
	const struct range *r;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	int n;

	out[0] = (struct sym_frame){ .addr = addr, .module = "[anon]" };
	if (!p || !addr)
		return 1;
	/* A return address: the call is the instruction before it. */
	r = symbolize_range_at(p, addr - 1);
	if (r && r->path && r->exec) {
		n = symbolize_in_file(s, p, r, addr, out, max);
		if (n > 0)
			return n;
	}
	dwfl = proc_dwfl(p);
	mod = dwfl ? dwfl_addrmodule(dwfl, addr - 1) : NULL;
	if (!mod)
		return 1;
	return symbolize_in_module(s, mod, addr - 1, addr, out, max);
}

void symbolize_warm(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const uint64_t *addrs,
		    size_t n)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);
	Dwarf_Addr bias;

	for (size_t i = 0; p && i < n; i++) {
		const struct range *r = addrs[i] ? symbolize_range_at(p, addrs[i] - 1) : NULL;
		struct sym_file *f = r && r->path && r->exec ? symbolize_file(s, p, r) : NULL;

		if (!f || !f->mod || f->warm)
			continue;
		f->warm = true;
		/* the symbol table, and the DWARF sections (decompressed here, once) */
		dwfl_module_getsymtab(f->mod);
		dwfl_module_getdwarf(f->mod, &bias);
	}
}

/* Looks the verdict of (f, off) up; returns its slot, empty (file NULL) if not there. */
static size_t symbolize_verdict_slot(const struct symbolizer *s, const struct sym_file *f,
				     uint64_t off)
{
	uint64_t h = (off ^ (uint64_t)(uintptr_t)f) * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 32) & (s->verdicts_cap - 1);

	while (s->verdicts[i].file && (s->verdicts[i].file != f || s->verdicts[i].off != off))
		i = (i + 1) & (s->verdicts_cap - 1);
	return i;
}

/*
 * Does the code of f before file offset off end in a call instruction, one that returns to
 * off? Any of x86's call forms (a direct call is 5 bytes, an indirect one 2 to 7 with its
 * prefixes and addressing) decodes there, exactly that long. -1 when the code cannot be read.
 */
static int symbolize_after_call(struct symbolizer *s, struct sym_file *f, uint64_t off)
{
	uint8_t code[15];
	const char *image;
	size_t slot, size;
	GElf_Addr bias;
	Elf *e;
	int verdict = 0;

	if (off < sizeof(code))
		return -1;
	if (s->verdicts_cap) {
		slot = symbolize_verdict_slot(s, f, off);
		if (s->verdicts[slot].file)
			return s->verdicts[slot].after_call;
	}
	if (!f->mod || !(e = dwfl_module_getelf(f->mod, &bias)))
		return -1;
	/* the file's image as libelf has it mapped, else a copy of the bytes */
	image = elf_rawfile(e, &size);
	if (image && off <= size) {
		memcpy(code, image + off - sizeof(code), sizeof(code));
	} else {
		Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)(off - sizeof(code)), sizeof(code),
						   ELF_T_BYTE);

		if (!d || d->d_size != sizeof(code))
			return -1;
		memcpy(code, d->d_buf, sizeof(code));
	}
	if (!s->cs_open) {
		if (cs_open(CS_ARCH_X86, CS_MODE_64, &s->cs) != CS_ERR_OK)
			return -1;
		s->cs_open = true;
	}
	for (size_t len = 2; len <= 7 && !verdict; len++) {
		cs_insn *insn = NULL;
		size_t n = cs_disasm(s->cs, code + sizeof(code) - len, len, off - len, 1, &insn);

		verdict = n == 1 && insn[0].size == len &&
			  (insn[0].id == X86_INS_CALL || insn[0].id == X86_INS_LCALL);
		if (n)
			cs_free(insn, n);
	}
	/* Remember it (a table at most half full: grow by doubling). */
	if ((s->nverdicts + 1) * 2 > s->verdicts_cap) {
		size_t ncap = s->verdicts_cap ? s->verdicts_cap * 2 : 256;
		struct sym_verdict *old = s->verdicts, *n = calloc(ncap, sizeof(*n));
		size_t ocap = s->verdicts_cap;

		if (!n)
			return verdict;
		s->verdicts = n;
		s->verdicts_cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].file)
				s->verdicts[symbolize_verdict_slot(s, old[i].file, old[i].off)] =
					old[i];
		free(old);
	}
	slot = symbolize_verdict_slot(s, f, off);
	s->verdicts[slot] = (struct sym_verdict){ f, off, verdict };
	s->nverdicts++;
	return verdict;
}

uint32_t symbolize_true_frames(struct symbolizer *s, uint32_t pid, uint64_t start_ns,
			       const uint64_t *frames, uint32_t n)
{
	struct sym_proc *p = find_proc(s, pid, start_ns);

	/* Without the process's mappings nothing can be told: shown as captured. */
	if (!p || (!p->nranges && !p->retained))
		return n;
	for (uint32_t i = 0; i < n; i++) {
		const struct range *r = frames[i] ? symbolize_range_at(p, frames[i] - 1) : NULL;
		struct sym_file *f;

		if (!r || !r->exec)
			return i; /* no code there: not a return address of this process */
		if (!r->path)
			continue; /* JIT code or the vdso: nothing to read it from afterwards */
		f = symbolize_file(s, p, r);
		if (f && symbolize_after_call(s, f, r->offset + (frames[i] - r->start)) == 0)
			return i;
	}
	return n;
}
