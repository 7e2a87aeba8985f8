/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The allocator API that heaptrail probes, as one table of {symbol, function, variant}, and
 * its resolution in a library into the uprobes to attach (offset + BPF cookie).
 */
#ifndef HT_PROBES_H
#define HT_PROBES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct probe {
	const char *symbol;
	uint64_t offset; /* file offset of the probed instruction */
	uint64_t cookie; /* HT_COOKIE(fn, variant, aliases), | HT_COOKIE_AT_RET on a ret */
	bool uretprobe;	 /* an entry probe whose return is seen by a uretprobe (at the same place:
			 * it needs the return address at the stack pointer, which holds there) */
};

struct libprobes {
	char path[PATH_MAX];
	struct probe *probes; /* entry-type uprobes: function entries, and ret instructions */
	int n;
	int nuret; /* how many of them also want a uretprobe */
};

/*
 * Resolves every allocator symbol that the library (or static binary) at path defines. Symbols
 * that share an address become one probe whose cookie names the others as aliases. Each entry
 * probe goes on the first instruction the kernel emulates where that is safe, or at the entry
 * with at_entry. Returns 0, or -1 with errno: ENOENT when the file defines none of them,
 * ENOEXEC when it is not ELF, ... (the caller says what that means). verbose says where each
 * probe went and why.
 */
int probes_resolve(const char *path, bool at_entry, bool free_returns, bool verbose,
		   struct libprobes **out);
void probes_free(struct libprobes *lp);

#endif
