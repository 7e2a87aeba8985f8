// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of probe placement on the real libraries of this machine (glibc's malloc and free,
 * libstdc++'s operator new): every placed probe is checked against the rules, decoded here
 * with Capstone independently of probes.c: the probed instruction is one the kernel emulates,
 * what it skips writes no argument register nor the stack pointer and is no branch, and no
 * jump in the function lands in the skipped range. No BPF involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include <cmocka.h>
#include "heaptrail.h"
#include "source/live/probes.h"
#include "symbols/elfsym.h"
#include "util/procinfo.h"

/* What the kernel's x86 uprobe code emulates: rel jumps, calls and jccs, push of a register. */
static bool emulated(const cs_insn *in)
{
	const uint8_t *b = in->bytes;

	if (in->id == X86_INS_CALL || in->id == X86_INS_JMP)
		return in->detail->x86.operands[0].type == X86_OP_IMM &&
		       (b[0] == 0xe8 || b[0] == 0xe9 || b[0] == 0xeb);
	if (in->id == X86_INS_PUSH)
		return in->detail->x86.operands[0].type == X86_OP_REG &&
		       (in->size == 1 || (in->size == 2 && b[0] == 0x41));
	/* conditional jumps: short (0x7x) or near (0x0f 0x8x), nothing else */
	return (in->size == 2 && b[0] >= 0x70 && b[0] <= 0x7f) ||
	       (in->size == 6 && b[0] == 0x0f && (b[1] & 0xf0) == 0x80);
}

/* An argument register (rdi rsi rdx rcx r8 r9, any width) or the stack pointer. */
static bool argument_or_sp(csh cs, uint16_t reg)
{
	static const char *const names[] = { "rdi", "edi", "di",  "dil", "rsi", "esi", "si",  "sil",
					     "rdx", "edx", "dx",  "dl",	 "dh",	"rcx", "ecx", "cx",
					     "cl",  "ch",  "r8",  "r8d", "r8w", "r8b", "r9",  "r9d",
					     "r9w", "r9b", "rsp", "esp", "sp",	"spl", "rip" };
	const char *name = cs_reg_name(cs, reg);

	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static size_t read_at(const char *path, uint64_t off, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = pread(fd, buf, len, (off_t)off);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/* Checks one entry probe against the rules; returns whether it was placed past the entry. */
static bool check_entry_probe(csh cs, const char *path, const struct probe *p)
{
	const char *names[1] = { p->symbol };
	struct elf_func f;
	uint8_t code[4096];
	size_t size, count;
	cs_insn *insn;
	bool past = false;

	assert_int_equal(elf_find_funcs(path, names, 1, &f), 1);
	size = read_at(path, f.offset, code, f.size < sizeof(code) ? f.size : sizeof(code));
	assert_true(size > 0);
	assert_true(p->offset >= f.offset && p->offset < f.offset + size);
	count = cs_disasm(cs, code, size, f.offset, 0, &insn);
	assert_true(count > 0);
	for (size_t i = 0; i < count; i++) {
		const cs_insn *in = &insn[i];
		const cs_x86_op *op = &in->detail->x86.operands[0];
		cs_regs rd, wr;
		uint8_t nrd = 0, nwr = 0;

		if (in->address == p->offset && p->offset != f.offset) {
			assert_true(emulated(in));
			past = true;
		}
		if (in->address < p->offset) {
			/* skipped: it runs before the probe, so the probe must see what it saw */
			for (int g = 0; g < in->detail->groups_count; g++)
				assert_true(in->detail->groups[g] != CS_GRP_JUMP &&
					    in->detail->groups[g] != CS_GRP_CALL &&
					    in->detail->groups[g] != CS_GRP_RET);
			assert_int_equal(cs_regs_access(cs, in, rd, &nrd, wr, &nwr), CS_ERR_OK);
			for (int w = 0; w < nwr; w++)
				assert_false(argument_or_sp(cs, wr[w]));
		}
		/* nothing jumps into the skipped range (it would miss or double the probe) */
		if (p->offset != f.offset && cs_insn_group(cs, in, CS_GRP_JUMP)) {
			assert_int_equal(op->type, X86_OP_IMM);
			assert_false((uint64_t)op->imm > f.offset &&
				     (uint64_t)op->imm <= p->offset);
		}
	}
	cs_free(insn, count);
	return past;
}

static csh open_capstone(void)
{
	csh cs;

	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	return cs;
}

static void test_glibc_placement(void **state)
{
	struct proc_libs libs;
	struct libprobes *lp, *at_entry;
	csh cs = open_capstone();
	int placed = 0;
	bool free_placed = false;

	assert_int_equal(proc_find_libs(0, &libs), 0);
	assert_true(libs.libc[0]);
	assert_int_equal(probes_resolve(libs.libc, false, false, false, &lp), 0);
	assert_int_equal(probes_resolve(libs.libc, true, false, false, &at_entry), 0);
	assert_int_equal(lp->n, at_entry->n);
	for (int i = 0; i < lp->n; i++) {
		bool past = check_entry_probe(cs, libs.libc, &lp->probes[i]);

		placed += past;
		if (!strcmp(lp->probes[i].symbol, "free"))
			free_placed = past;
		/* --probe-at-entry: the same functions, every probe on the first instruction */
		assert_string_equal(at_entry->probes[i].symbol, lp->probes[i].symbol);
		assert_true(at_entry->probes[i].offset <= lp->probes[i].offset);
		assert_false(check_entry_probe(cs, libs.libc, &at_entry->probes[i]));
	}
	/*
	 * glibc's free starts with `test %rdi,%rdi`, which the kernel single-steps (~20 us a
	 * call): the reason placement exists. Where it does, the probe must have moved.
	 */
	{
		const char *names[1] = { "free" };
		struct elf_func f;
		uint8_t code[16];
		cs_insn *insn;
		size_t n;

		assert_int_equal(elf_find_funcs(libs.libc, names, 1, &f), 1);
		n = cs_disasm(cs, code, read_at(libs.libc, f.offset, code, sizeof(code)), f.offset,
			      1, &insn);
		assert_int_equal(n, 1);
		if (!strcmp(insn[0].mnemonic, "test") && !strcmp(insn[0].op_str, "rdi, rdi"))
			assert_true(free_placed);
		cs_free(insn, n);
	}
	assert_true(placed > 0);
	probes_free(lp);
	probes_free(at_entry);
	cs_close(&cs);
}

/* operator new may throw: its returns are probed at its ret instructions, which are rets. */
static void test_operator_new_rets(void **state)
{
	char cxx[4096];
	struct libprobes *lp;
	csh cs = open_capstone();
	int rets = 0;

	find_system_libstdcxx(cxx, sizeof(cxx));
	assert_true(cxx[0]);
	assert_int_equal(probes_resolve(cxx, false, false, false, &lp), 0);
	for (int i = 0; i < lp->n; i++) {
		const struct probe *p = &lp->probes[i];
		uint8_t code[16];
		cs_insn *insn;
		size_t n;

		if (!(p->cookie & HT_COOKIE_AT_RET)) {
			check_entry_probe(cs, cxx, p);
			continue;
		}
		assert_false(
			p->uretprobe); /* a uretprobe in a throwing function kills the program */
		n = cs_disasm(cs, code, read_at(cxx, p->offset, code, sizeof(code)), p->offset, 1,
			      &insn);
		assert_int_equal(n, 1);
		assert_int_equal(insn[0].id, X86_INS_RET);
		cs_free(insn, n);
		rets++;
	}
	assert_true(rets > 0);
	probes_free(lp);
	cs_close(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glibc_placement),
		cmocka_unit_test(test_operator_new_rets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
