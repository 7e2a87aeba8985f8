// SPDX-License-Identifier: GPL-2.0-only
/* The allocator symbol table and its resolution into uprobes. */
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
#define MAX_RETS 16 /* ret instructions probed per function */

/*
 * A C++ exception may leave these through their caller's frame: operator new throws bad_alloc.
 * A uretprobe would have replaced that frame's return address, and the unwinder terminates the
 * program when it meets it; their returns are probed at their ret instructions instead.
 */
static bool may_throw(const struct alloc_sym *s)
{
	return s->fn == HT_FN_NEW && !(s->variant & HT_VAR_NOTHROW);
}

/*
 * File offsets of the ret instructions of one function. 0 found means the function leaves by a
 * tail call: the callee's return (at the same stack pointer) ends the call. Returns -1 when the
 * code cannot be read or decoded.
 */
static int find_rets(const char *path, const struct elf_func *f, uint64_t *offs, int max)
{
	uint8_t code[4096];
	size_t size = f->size < sizeof(code) ? f->size : sizeof(code);
	cs_insn *insn;
	csh handle;
	size_t count, decoded = 0;
	int fd, n = 0;

	if (!f->size || f->size > sizeof(code))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (pread(fd, code, size, (off_t)f->offset) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	close(fd);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK)
		return -1;
	count = cs_disasm(handle, code, size, f->offset, 0, &insn);
	for (size_t i = 0; i < count; i++) {
		decoded += insn[i].size;
		if (insn[i].id == X86_INS_RET && n < max)
			offs[n++] = insn[i].address;
	}
	if (count)
		cs_free(insn, count);
	cs_close(&handle);
	/* Padding after the last instruction may not decode; code before it must. */
	return decoded + 16 >= size ? n : -1;
}

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
	lp->probes = calloc(N_ALLOC_SYMS * (1 + MAX_RETS), sizeof(*lp->probes));
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
		uint64_t cookie = HT_COOKIE(alloc_syms[i].fn, alloc_syms[i].variant, aliases);
		uint64_t rets[MAX_RETS];
		int nrets = 0;

		if (may_throw(&alloc_syms[i])) {
			nrets = find_rets(path, &funcs[i], rets, MAX_RETS);
			if (nrets < 0) {
				fprintf(stderr, "heaptrail: %s: cannot decode %s to find its returns; "
						"not probed\n", path, alloc_syms[i].name);
				continue;
			}
			if (verbose)
				fprintf(stderr, "heaptrail: %s: %s may throw: its return is probed at "
						"%d ret instruction%s%s\n", path, alloc_syms[i].name,
					nrets, nrets == 1 ? "" : "s",
					nrets ? "" : " (it ends in a tail call: the callee's return "
						     "counts)");
		}
		lp->probes[lp->n++] = (struct probe){
			.symbol = alloc_syms[i].name,
			.offset = funcs[i].offset,
			.cookie = cookie | (may_throw(&alloc_syms[i]) ? 0 : HT_COOKIE_URET),
			.uretprobe = !may_throw(&alloc_syms[i]),
		};
		lp->nuret += !may_throw(&alloc_syms[i]);
		for (int r = 0; r < nrets; r++)
			lp->probes[lp->n++] = (struct probe){
				.symbol = alloc_syms[i].name,
				.offset = rets[r],
				.cookie = cookie | HT_COOKIE_AT_RET,
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
