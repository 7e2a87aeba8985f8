// SPDX-License-Identifier: GPL-2.0-only
/* The allocator symbol table and its resolution into uprobes. */
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "heaptrail.h"
#include "symbols/elfsym.h"
#include "source/live/probes.h"
#include "util/say.h"

struct alloc_sym {
	const char *name;
	uint8_t fn;
	uint8_t variant;
};

#define A  HT_VAR_ARRAY
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
#define MAX_RETS     16 /* ret instructions probed per function */

/*
 * A C++ exception may leave these through their caller's frame: operator new throws bad_alloc.
 * A uretprobe would have replaced that frame's return address, and the unwinder terminates the
 * program when it meets it; their returns are probed at their ret instructions instead.
 */
static bool may_throw(const struct alloc_sym *s)
{
	return s->fn == HT_FN_NEW && !(s->variant & HT_VAR_NOTHROW);
}

/* Reads a function's code; returns its size in buf, 0 when it cannot. */
static size_t read_code(const char *path, const struct elf_func *f, uint8_t *buf, size_t cap)
{
	size_t size = f->size < cap ? f->size : cap;
	int fd;

	if (!f->size || f->size > cap)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, buf, size, (off_t)f->offset) != (ssize_t)size)
		size = 0;
	close(fd);
	return size;
}

/*
 * File offsets of the ret instructions of one function. 0 found means the function leaves by a
 * tail call: the callee's return (at the same stack pointer) ends the call. Returns -1 when the
 * code cannot be read or decoded.
 */
static int find_rets(csh cs, const uint8_t *code, size_t size, uint64_t base, uint64_t *offs,
		     int max)
{
	cs_insn *insn;
	size_t count, decoded = 0;
	int n = 0;

	count = cs_disasm(cs, code, size, base, 0, &insn);
	for (size_t i = 0; i < count; i++) {
		decoded += insn[i].size;
		if (insn[i].id == X86_INS_RET && n < max)
			offs[n++] = insn[i].address;
	}
	if (count)
		cs_free(insn, count);
	/* Padding after the last instruction may not decode; code before it must. */
	return decoded + 16 >= size ? n : -1;
}

/*
 * Instructions the x86 uprobe code emulates instead of single-stepping them (out of line, with a
 * trap: ~20 us here, against ~0.6 us): rel8/rel32 jumps, calls and conditional jumps since the
 * first x86 uprobes (branch_setup_xol_ops), and push of a register since Linux 4.18
 * (push_setup_xol_ops). heaptrail needs 5.8 for its ring buffer, so both apply. Only plain
 * encodings count: a prefix makes the kernel single-step.
 */
static bool kernel_emulates(const cs_insn *in)
{
	const uint8_t *b = in->bytes;

	if ((b[0] >= 0x70 && b[0] <= 0x7f) || b[0] == 0xe8 || b[0] == 0xe9 || b[0] == 0xeb)
		return true;
	if (in->size == 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f)
		return true;
	if (in->size == 1 && b[0] >= 0x50 && b[0] <= 0x57)
		return true;
	return in->size == 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57;
}

/* The argument registers of the SysV x86-64 ABI and the stack pointer, in every width. */
static bool is_protected_reg(unsigned reg)
{
	static const unsigned regs[] = {
		X86_REG_RDI, X86_REG_EDI, X86_REG_DI,  X86_REG_DIL, X86_REG_RSI, X86_REG_ESI,
		X86_REG_SI,  X86_REG_SIL, X86_REG_RDX, X86_REG_EDX, X86_REG_DX,	 X86_REG_DL,
		X86_REG_DH,  X86_REG_RCX, X86_REG_ECX, X86_REG_CX,  X86_REG_CL,	 X86_REG_CH,
		X86_REG_R8,  X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, X86_REG_R9,	 X86_REG_R9D,
		X86_REG_R9W, X86_REG_R9B, X86_REG_RSP, X86_REG_ESP, X86_REG_SP,	 X86_REG_SPL,
		X86_REG_RIP,
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (regs[i] == reg)
			return true;
	return false;
}

static bool is_branch(const cs_insn *in)
{
	for (int g = 0; g < in->detail->groups_count; g++) {
		uint8_t grp = in->detail->groups[g];

		if (grp == CS_GRP_JUMP || grp == CS_GRP_CALL || grp == CS_GRP_RET ||
		    grp == CS_GRP_INT || grp == CS_GRP_IRET)
			return true;
	}
	return in->id == X86_INS_SYSCALL || in->id == X86_INS_SYSENTER;
}

/* An instruction that may be stepped over: no control flow, no argument register or sp written. */
static bool skippable(csh cs, const cs_insn *in)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;

	if (is_branch(in) || cs_regs_access(cs, in, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return false;
	for (int i = 0; i < nwr; i++)
		if (is_protected_reg(wr[i]))
			return false;
	return true;
}

#define PLACE_LOOKAHEAD 8

/*
 * Where to put a function's entry probe: on the first instruction the kernel emulates, if every
 * instruction before it can be stepped over and nothing in the function jumps into the skipped
 * range (or onto the new probe, which would count a call twice); otherwise at the entry.
 * Returns the offset; why says what was decided.
 */
static uint64_t place_entry(csh cs, const uint8_t *code, size_t size, uint64_t entry, char *why,
			    size_t whylen)
{
	cs_insn *insn;
	size_t count = cs_disasm(cs, code, size, entry, 0, &insn), i;
	uint64_t place = entry;
	char skipped[128] = "";

	snprintf(why, whylen, "at entry: ");
	for (i = 0; i < count && i < PLACE_LOOKAHEAD; i++) {
		if (kernel_emulates(&insn[i])) {
			place = insn[i].address;
			break;
		}
		if (!skippable(cs, &insn[i])) {
			snprintf(why + strlen(why), whylen - strlen(why),
				 "'%s %s' cannot be skipped", insn[i].mnemonic, insn[i].op_str);
			goto out;
		}
		snprintf(skipped + strlen(skipped), sizeof(skipped) - strlen(skipped), "%s%s",
			 skipped[0] ? "; " : "", insn[i].mnemonic);
	}
	if (i == count || i == PLACE_LOOKAHEAD) {
		snprintf(why + strlen(why), whylen - strlen(why),
			 "no emulated instruction early on");
		place = entry;
		goto out;
	}
	if (place == entry) {
		snprintf(why, whylen, "at entry: '%s %s' is emulated", insn[i].mnemonic,
			 insn[i].op_str);
		goto out;
	}
	/* Jumps into (entry, place] from anywhere in the function, or any indirect jump. */
	for (size_t k = 0; k < count; k++) {
		cs_x86_op *op = &insn[k].detail->x86.operands[0];
		bool jump = false;

		for (int g = 0; g < insn[k].detail->groups_count; g++)
			jump |= insn[k].detail->groups[g] == CS_GRP_JUMP;
		if (!jump)
			continue;
		if (insn[k].detail->x86.op_count != 1 || op->type != X86_OP_IMM) {
			snprintf(why, whylen, "at entry: the function has an indirect jump");
			place = entry;
			goto out;
		}
		if ((uint64_t)op->imm > entry && (uint64_t)op->imm <= place) {
			snprintf(why, whylen, "at entry: a jump lands at +0x%lx",
				 (unsigned long)((uint64_t)op->imm - entry));
			place = entry;
			goto out;
		}
	}
	if (snprintf(why, whylen, "at +0x%lx on '%s %s' (emulated), skipping %s",
		     (unsigned long)(place - entry), insn[i].mnemonic, insn[i].op_str,
		     skipped) >= (int)whylen)
		why[whylen - 1] =
			'\0'; /* cut (snprintf did): only -v says it; the test quiets gcc */
out:
	if (count)
		cs_free(insn, count);
	return place;
}

int probes_resolve(const char *path, bool at_entry, bool free_returns, bool verbose,
		   struct libprobes **out)
{
	const char *names[N_ALLOC_SYMS];
	struct elf_func funcs[N_ALLOC_SYMS];
	struct libprobes *lp;
	uint8_t code[4096];
	csh cs;
	int found;

	for (size_t i = 0; i < N_ALLOC_SYMS; i++)
		names[i] = alloc_syms[i].name;
	found = elf_find_funcs(path, names, N_ALLOC_SYMS, funcs);
	if (found < 0)
		return -1;
	if (found == 0) {
		errno = ENOENT;
		return -1;
	}
	lp = calloc(1, sizeof(*lp));
	if (!lp)
		return -1;
	lp->probes = calloc(N_ALLOC_SYMS * (1 + MAX_RETS), sizeof(*lp->probes));
	if (!lp->probes) {
		free(lp);
		return -1;
	}
	snprintf(lp->path, sizeof(lp->path), "%s", path);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		probes_free(lp);
		errno = ENOMEM;
		return -1;
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
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
				say("%s: %s shares its address with an earlier symbol: one probe, "
				    "reported under the earlier name",
				    path, alloc_syms[i].name);
			continue;
		}
		uint64_t cookie = HT_COOKIE(alloc_syms[i].fn, alloc_syms[i].variant, aliases);
		size_t size = read_code(path, &funcs[i], code, sizeof(code));
		uint64_t rets[MAX_RETS], place = funcs[i].offset;
		char why[256] = "at entry: --probe-at-entry";
		int nrets = 0;

		if (!at_entry && size)
			place = place_entry(cs, code, size, funcs[i].offset, why, sizeof(why));
		else if (!size)
			snprintf(why, sizeof(why), "at entry: its code could not be read");
		if (verbose)
			say("%s: %s probed %s", path, alloc_syms[i].name, why);
		if (may_throw(&alloc_syms[i])) {
			nrets = size ? find_rets(cs, code, size, funcs[i].offset, rets, MAX_RETS)
				     : -1;
			if (nrets < 0) {
				say("%s: cannot decode %s to find its returns; not probed", path,
				    alloc_syms[i].name);
				continue;
			}
			if (verbose)
				say("%s: %s may throw: its return is probed at %d ret "
				    "instruction%s%s",
				    path, alloc_syms[i].name, nrets, nrets == 1 ? "" : "s",
				    nrets ? ""
					  : " (it ends in a tail call: the callee's return "
					    "counts)");
		}
		/* frees want a return probe only to flag what the kernel does inside them */
		bool uret = !may_throw(&alloc_syms[i]) &&
			    (free_returns || !HT_FN_IS_FREE(alloc_syms[i].fn));

		lp->probes[lp->n++] = (struct probe){
			.symbol = alloc_syms[i].name,
			.offset = place,
			.cookie = cookie | (uret ? HT_COOKIE_URET : 0),
			.uretprobe = uret,
		};
		lp->nuret += uret;
		for (int r = 0; r < nrets; r++)
			lp->probes[lp->n++] = (struct probe){
				.symbol = alloc_syms[i].name,
				.offset = rets[r],
				.cookie = cookie | HT_COOKIE_AT_RET,
			};
	}
	cs_close(&cs);
	*out = lp;
	return 0;
}

void probes_free(struct libprobes *lp)
{
	if (!lp)
		return;
	free(lp->probes);
	free(lp);
}
