/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Symbolization with elfutils (libdw): the module list of each process is built from its maps
 * snapshots (MAPS records) and from /proc/PID/maps read while it is alive, so that stacks of processes that have exited still resolve;
 * addresses become function+offset, file:line where debug info exists (in the binary, through
 * .gnu_debuglink, or by build-id under /usr/lib/debug), with inlined frames, demangled.
 */
#ifndef HT_SYMBOLIZE_H
#define HT_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frames one address can expand to (its inlined calls). */
#define SYMBOLIZE_MAX_INLINED 16

struct symbolizer;

/* One frame of a resolved address; an inlined call adds frames for the same address. */
struct sym_frame {
	uint64_t addr;
	const char *sym;    /* demangled; NULL when unknown */
	uint64_t offset;    /* from the start of sym */
	const char *module; /* path, "[anon]" outside any file mapping, "[vdso]" ... */
	const char *file;   /* NULL when unknown */
	int line;	    /* 0 when unknown */
	bool inlined;	    /* a function inlined into the next frame */
};

struct symbolizer *symbolize_new(void);
void symbolize_free(struct symbolizer *s);

/* What the symbolizer holds, for -v: its own tables' bytes (libdw's are not counted here). */
struct symbolize_mem {
	size_t files, files_read; /* mapped files known, and those whose tables were read */
	size_t procs, ranges;	  /* processes' module lists, and the mappings in them */
	size_t cached, frames;	  /* addresses resolved, and the frames kept for them */
	size_t bytes;
};
void symbolize_memory(const struct symbolizer *s, struct symbolize_mem *mem);

/*
 * Makes sure the module list of process (pid, start_ns) covers these addresses, captured at
 * captured_ns (CLOCK_MONOTONIC, as records' times), reading /proc/PID/maps again if one is not
 * covered yet (a library loaded since) and the maps were not read after the capture. The
 * process must be alive for that; returns false when an address stays uncovered.
 */
bool symbolize_cover(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t captured_ns,
		     const uint64_t *addrs, size_t n);
/*
 * Reads the symbol tables and debuginfo of the files these addresses lie in, each file once:
 * done while tracing, so that the report at the end (after a signal, say) has only lookups
 * left to do.
 */
void symbolize_warm(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const uint64_t *addrs,
		    size_t n);
/*
 * How many of a stack's leading frames are return addresses the process really had: each in
 * executable memory and, where that is a file, right after a call instruction. A
 * frame-pointer walk through code built without frame pointers reads other data as frames (a
 * string's bytes, a stale pointer to code): the stack is cut at the first such frame. All n
 * when the process's mappings are not known.
 */
uint32_t symbolize_true_frames(struct symbolizer *s, uint32_t pid, uint64_t start_ns,
			       const uint64_t *frames, uint32_t n);
/*
 * Process (pid, start_ns) has exited and only these addresses of it will be symbolized (the
 * frames of what it left live): its module list keeps just the mappings they lie in, so that
 * a process that has gone costs the files its leaks were made in, not its whole list.
 */
void symbolize_retain(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const uint64_t *addrs,
		      size_t n);
/* Process (pid, start_ns) will not be asked about again: its module list goes. */
void symbolize_forget(struct symbolizer *s, uint32_t pid, uint64_t start_ns);
/* Replaying a file: never read /proc (the processes there are not the recorded ones). */
void symbolize_set_offline(struct symbolizer *s, bool offline);
/* Called with the text of every /proc/PID/maps read (record writes them into the file). */
void symbolize_on_snapshot(struct symbolizer *s,
			   void (*fn)(void *ctx, uint32_t pid, const char *text, size_t len),
			   void *ctx);
/* A mapped file's GNU build-id, keyed as maps lines name the file: by device and inode. */
#define SYMBOLIZE_BUILD_ID_MAX 40
struct sym_build_id {
	unsigned dev_major, dev_minor;
	uint64_t inode;
	uint8_t id[SYMBOLIZE_BUILD_ID_MAX];
	size_t len;
};
/* Live: called with the build-id of every mapped file opened (record writes them down). */
void symbolize_on_build_id(struct symbolizer *s,
			   void (*fn)(void *ctx, const struct sym_build_id *b), void *ctx);
/*
 * Replaying: the build-id a file had when it was recorded. A file at its path with another
 * build-id is never used for names; the file with this one is looked for instead, where libdwfl
 * looks (under /usr/lib/debug/.build-id, and on the debuginfod servers of DEBUGINFOD_URLS).
 */
void symbolize_add_build_id(struct symbolizer *s, const struct sym_build_id *b);
/* A maps snapshot (a MAPS record: the source's, live or recorded), merged as if read now. */
void symbolize_add_maps(struct symbolizer *s, uint32_t pid, uint64_t start_ns, const char *text,
			size_t len);
/* A forked child starts with its parent's mappings: it gets the parent's module list. */
void symbolize_inherit(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint32_t parent,
		       uint64_t parent_start_ns);
/*
 * The path of the file mapped at addr in that process, from its module list (read now if it has
 * none yet); NULL outside any file mapping.
 */
const char *symbolize_module(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t addr);
/*
 * Resolves a return address of that process into at most max frames (innermost first); the
 * strings live as long as the symbolizer. Returns the number of frames (at least 1).
 */
int symbolize_resolve(struct symbolizer *s, uint32_t pid, uint64_t start_ns, uint64_t addr,
		      struct sym_frame *out, int max);

#endif
