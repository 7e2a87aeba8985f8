// SPDX-License-Identifier: GPL-2.0-only
/*
 * Compiling a module's call-frame information into unwind rows: libdw reads the tables
 * (dwarf_cfi_addrframe gives the frame state at an address and the range it holds for), this
 * file reduces each state to the rules the BPF walk follows (bpf/unwind.h) and merges equal
 * neighbours.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include "symbols/cfi.h"
#include "util/vec.h"

#define CFI_REG_BP 6
#define CFI_REG_SP 7
#define CFI_REG_RA 16

/*
 * Bytes without call-frame information are probed one by one for the next range that has it
 * (libdw finds ranges by address only); past this many in a row, in steps of 16, where compilers
 * start functions.
 */
#define CFI_GAP_BYTEWISE 4096

struct cfi_build {
	struct cfi_table *t;
	size_t cap;
};

static int cfi_push(struct cfi_build *b, const struct ht_unwind_row *r)
{
	struct cfi_table *t = b->t;

	if (t->nrows) {
		struct ht_unwind_row *last = &t->rows[t->nrows - 1];

		/* the same rules from here on: one row */
		if (last->cfa == r->cfa && last->cfa_off == r->cfa_off && last->bp_off == r->bp_off)
			return 0;
		if (last->pc == r->pc) {
			*last = *r;
			return 0;
		}
	}
	if (!vec_room((void **)&t->rows, t->nrows, &b->cap, sizeof(*t->rows), 1024))
		return -1;
	t->rows[t->nrows++] = *r;
	return 0;
}

/* The CFA rule: a register plus an offset, or the PLT's expression. */
static void cfi_cfa_rule(Dwarf_Frame *fr, struct ht_unwind_row *r)
{
	Dwarf_Op *ops;
	size_t nops;
	unsigned reg;
	int64_t off;

	r->cfa = HT_UW_NONE;
	if (dwarf_frame_cfa(fr, &ops, &nops) || nops == 0)
		return;
	if (nops == 1 && (ops[0].atom == DW_OP_bregx ||
			  (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31))) {
		reg = ops[0].atom == DW_OP_bregx ? (unsigned)ops[0].number
						 : (unsigned)(ops[0].atom - DW_OP_breg0);
		off = ops[0].atom == DW_OP_bregx ? (int64_t)ops[0].number2 : (int64_t)ops[0].number;
		if (off < INT16_MIN || off > INT16_MAX)
			return; /* a frame over 32 KiB: not followed */
		if (reg == CFI_REG_SP || reg == CFI_REG_BP) {
			r->cfa = reg == CFI_REG_SP ? HT_UW_CFA_SP : HT_UW_CFA_BP;
			r->cfa_off = (int16_t)off;
		}
		return;
	}
	/*
	 * The PLT's: rsp + 8, plus 8 once past the entry's push, which is at byte 11 (10 in
	 * some linkers' layouts) of each 16-byte entry:
	 * breg7 8; breg16 0; lit15; and; litN; ge; lit3; shl; plus.
	 */
	if (nops == 9 && ops[0].atom == DW_OP_breg7 && ops[0].number == 8 &&
	    ops[1].atom == DW_OP_breg16 && ops[1].number == 0 && ops[2].atom == DW_OP_lit15 &&
	    ops[3].atom == DW_OP_and && ops[4].atom >= DW_OP_lit0 && ops[4].atom <= DW_OP_lit15 &&
	    ops[5].atom == DW_OP_ge && ops[6].atom == DW_OP_lit3 && ops[7].atom == DW_OP_shl &&
	    ops[8].atom == DW_OP_plus) {
		r->cfa = HT_UW_CFA_PLT;
		r->cfa_off = ops[4].atom - DW_OP_lit0;
	}
}

/*
 * A register's rule as an offset from the CFA where the caller's value is saved: 1 when saved
 * there (*off), 0 when the caller's value is this frame's, -1 when undefined or anything else.
 */
static int cfi_saved_at(Dwarf_Frame *fr, int regno, int64_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;

	if (dwarf_frame_register(fr, regno, mem, &ops, &nops))
		return -1;
	if (nops == 0)
		return ops == NULL ? 0 : -1; /* NULL: same value; ops_mem: undefined */
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return -1;
	if (nops == 1) {
		*off = 0;
		return 1;
	}
	if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number; /* libdw stores the signed factored offset here */
		return 1;
	}
	return -1;
}

/* The row for the frame state fr at pc. */
static void cfi_row(Dwarf_Frame *fr, uint64_t pc, struct ht_unwind_row *r)
{
	int64_t off;
	int how;

	*r = (struct ht_unwind_row){ .pc = (uint32_t)pc, .cfa = HT_UW_NONE };
	how = cfi_saved_at(fr, CFI_REG_RA, &off);
	if (how < 0) {
		Dwarf_Op mem[3], *ops;
		size_t nops;

		/* an undefined return address marks the outermost frame */
		if (!dwarf_frame_register(fr, CFI_REG_RA, mem, &ops, &nops) && nops == 0 &&
		    ops == mem)
			r->cfa = HT_UW_END;
		return;
	}
	if (how == 0 || off != -8)
		return; /* x86-64 keeps it at CFA - 8; anything else we do not follow */
	cfi_cfa_rule(fr, r);
	if (r->cfa == HT_UW_NONE)
		return;
	how = cfi_saved_at(fr, CFI_REG_BP, &off);
	if (how > 0 && off >= INT8_MIN && off <= INT8_MAX && off != 0) {
		r->bp_off = (int8_t)off;
	} else if (how != 0) {
		r->cfa = HT_UW_NONE; /* rbp somewhere we do not follow: it would be wrong above */
	}
}

/* Rows for [lo, hi) of one executable segment. */
static int cfi_segment_rows(Dwarf_CFI *cfi, struct cfi_build *b, uint64_t lo, uint64_t hi)
{
	static const struct ht_unwind_row none = { .cfa = HT_UW_NONE };
	uint64_t pc = lo, gap = 0;

	while (pc < hi) {
		Dwarf_Frame *fr = NULL;
		Dwarf_Addr start, end;
		struct ht_unwind_row r;

		if (dwarf_cfi_addrframe(cfi, pc, &fr) ||
		    dwarf_frame_info(fr, &start, &end, NULL) < 0 || end <= pc) {
			free(fr);
			r = none;
			r.pc = (uint32_t)pc;
			if (cfi_push(b, &r))
				return -1;
			pc += ++gap > CFI_GAP_BYTEWISE ? 16 - (pc & 15) : 1;
			continue;
		}
		gap = 0;
		cfi_row(fr, pc, &r);
		free(fr);
		b->t->bytes += end - pc;
		if (r.cfa == HT_UW_CFA_BP)
			b->t->bytes_bp += end - pc;
		if (cfi_push(b, &r))
			return -1;
		pc = end;
	}
	return 0;
}

static Dwarf_CFI *cfi_open(Elf *elf, Dwarf **dw, const char **source)
{
	Dwarf_CFI *cfi = dwarf_getcfi_elf(elf);

	*dw = NULL;
	if (cfi) {
		*source = ".eh_frame";
		return cfi;
	}
	*dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	cfi = *dw ? dwarf_getcfi(*dw) : NULL;
	if (cfi)
		*source = ".debug_frame";
	return cfi;
}

int cfi_compile(int fd, struct cfi_table *t)
{
	struct cfi_build b = { .t = t };
	const char *source = NULL;
	Dwarf_CFI *cfi = NULL;
	Dwarf *dw = NULL;
	size_t nph;
	Elf *elf;
	int err = -1;

	memset(t, 0, sizeof(*t));
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph))
		goto out;
	for (size_t i = 0; i < nph && t->nsegs < CFI_MAX_SEGMENTS; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
			t->segs[t->nsegs++] =
				(struct cfi_segment){ ph.p_vaddr, ph.p_offset, ph.p_filesz };
	}
	err = 0;
	cfi = cfi_open(elf, &dw, &source);
	if (!cfi)
		goto out;
	t->source = source;
	for (unsigned i = 0; i < t->nsegs && !err; i++) {
		/* rows hold 32-bit link-time addresses */
		if (t->segs[i].vaddr + t->segs[i].filesz > UINT32_MAX)
			continue;
		err = cfi_segment_rows(cfi, &b, t->segs[i].vaddr,
				       t->segs[i].vaddr + t->segs[i].filesz);
	}
out:
	if (cfi && !dw)
		dwarf_cfi_end(cfi);
	if (dw)
		dwarf_end(dw);
	if (elf)
		elf_end(elf);
	if (err) {
		cfi_table_free(t);
		return -1;
	}
	return elf ? 0 : -1;
}

void cfi_table_free(struct cfi_table *t)
{
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

bool cfi_has_frame_pointers(const struct cfi_table *t)
{
	return t->bytes && t->bytes_bp * 2 >= t->bytes;
}

bool cfi_bias(const struct cfi_segment *segs, unsigned nsegs, uint64_t start, uint64_t off,
	      uint64_t *bias)
{
	for (unsigned i = 0; i < nsegs; i++) {
		const struct cfi_segment *s = &segs[i];

		/* a segment's mapping starts at its page: p_offset rounded down */
		uint64_t page_off = s->offset & ~4095ull, page_vaddr = s->vaddr & ~4095ull;

		if (off >= page_off && off < s->offset + s->filesz) {
			*bias = start - (page_vaddr + (off - page_off));
			return true;
		}
	}
	return false;
}
