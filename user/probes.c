// SPDX-License-Identifier: GPL-2.0-only
/* The allocator symbol table and its resolution into uprobes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../bpf/heaptrail.h"
#include "elfsym.h"
#include "probes.h"

struct alloc_sym {
	const char *name;
	uint8_t fn;
	uint8_t variant;
};

#define A HT_VAR_ARRAY
#define NT HT_VAR_NOTHROW
#define AL HT_VAR_ALIGNED
#define SZ HT_VAR_SIZED

/* Order matters only for aliases: the first symbol at an address names the probe. */
static const struct alloc_sym alloc_syms[] = {
	{ "malloc", HT_FN_MALLOC, 0 },
	{ "calloc", HT_FN_CALLOC, 0 },
	{ "realloc", HT_FN_REALLOC, 0 },
	{ "reallocarray", HT_FN_REALLOCARRAY, 0 },
	{ "free", HT_FN_FREE, 0 },
	{ "posix_memalign", HT_FN_POSIX_MEMALIGN, 0 },
	{ "aligned_alloc", HT_FN_ALIGNED_ALLOC, 0 },
	{ "memalign", HT_FN_MEMALIGN, 0 },
	{ "valloc", HT_FN_VALLOC, 0 },
	{ "pvalloc", HT_FN_PVALLOC, 0 },
	/* operator new (Itanium mangling, size_t is unsigned long) */
	{ "_Znwm", HT_FN_NEW, 0 },
	{ "_Znam", HT_FN_NEW, A },
	{ "_ZnwmRKSt9nothrow_t", HT_FN_NEW, NT },
	{ "_ZnamRKSt9nothrow_t", HT_FN_NEW, A | NT },
	{ "_ZnwmSt11align_val_t", HT_FN_NEW, AL },
	{ "_ZnamSt11align_val_t", HT_FN_NEW, A | AL },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", HT_FN_NEW, AL | NT },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", HT_FN_NEW, A | AL | NT },
	/* operator delete */
	{ "_ZdlPv", HT_FN_DELETE, 0 },
	{ "_ZdaPv", HT_FN_DELETE, A },
	{ "_ZdlPvm", HT_FN_DELETE, SZ },
	{ "_ZdaPvm", HT_FN_DELETE, A | SZ },
	{ "_ZdlPvRKSt9nothrow_t", HT_FN_DELETE, NT },
	{ "_ZdaPvRKSt9nothrow_t", HT_FN_DELETE, A | NT },
	{ "_ZdlPvSt11align_val_t", HT_FN_DELETE, AL },
	{ "_ZdaPvSt11align_val_t", HT_FN_DELETE, A | AL },
	{ "_ZdlPvmSt11align_val_t", HT_FN_DELETE, SZ | AL },
	{ "_ZdaPvmSt11align_val_t", HT_FN_DELETE, A | SZ | AL },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", HT_FN_DELETE, AL | NT },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", HT_FN_DELETE, A | AL | NT },
};

#define N_ALLOC_SYMS (sizeof(alloc_syms) / sizeof(alloc_syms[0]))

int libprobes_resolve(const char *path, bool verbose, struct libprobes **out)
{
	const char *names[N_ALLOC_SYMS];
	struct elf_func funcs[N_ALLOC_SYMS];
	struct libprobes *lp;
	int found;

	for (size_t i = 0; i < N_ALLOC_SYMS; i++)
		names[i] = alloc_syms[i].name;
	found = elf_find_funcs(path, names, N_ALLOC_SYMS, funcs);
	if (found < 0)
		return found;
	if (found == 0)
		return -ENOENT;
	lp = calloc(1, sizeof(*lp));
	if (!lp)
		return -ENOMEM;
	lp->probes = calloc(N_ALLOC_SYMS, sizeof(*lp->probes));
	if (!lp->probes) {
		free(lp);
		return -ENOMEM;
	}
	snprintf(lp->path, sizeof(lp->path), "%s", path);
	for (size_t i = 0; i < N_ALLOC_SYMS; i++) {
		uint32_t aliases = 0;
		bool owner = true;

		if (!funcs[i].offset)
			continue;
		for (size_t k = 0; k < N_ALLOC_SYMS; k++) {
			if (k == i || funcs[k].offset != funcs[i].offset)
				continue;
			if (k < i) {
				owner = false; /* probed under the earlier name */
				break;
			}
			if (alloc_syms[k].fn != alloc_syms[i].fn)
				aliases |= 1u << alloc_syms[k].fn;
		}
		if (!owner) {
			if (verbose)
				fprintf(stderr, "heaptrail: %s: %s shares its address with an earlier "
						"symbol: one probe, reported under the earlier name\n",
					path, alloc_syms[i].name);
			continue;
		}
		lp->probes[lp->n++] = (struct probe){
			.symbol = alloc_syms[i].name,
			.offset = funcs[i].offset,
			.cookie = HT_COOKIE(alloc_syms[i].fn, alloc_syms[i].variant, aliases),
		};
	}
	*out = lp;
	return 0;
}

void libprobes_free(struct libprobes *lp)
{
	if (!lp)
		return;
	free(lp->probes);
	free(lp);
}
