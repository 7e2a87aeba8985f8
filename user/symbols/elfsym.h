/* SPDX-License-Identifier: GPL-2.0-only */
/* Function symbols of an ELF file, resolved to the file offsets that uprobes are placed at. */
#ifndef HT_ELFSYM_H
#define HT_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct elf_func {
	uint64_t vaddr;	 /* st_value */
	uint64_t offset; /* file offset of the first instruction; 0 when not found */
	uint64_t size;
};

/*
 * Looks up each of names[0..n) among the defined functions of the ELF file at path (.dynsym,
 * then .symtab for static binaries), preferring the default version of a versioned symbol.
 * out[i].offset stays 0 for a name that is not there. Returns how many were found, or -1 with
 * errno (ENOEXEC for a file that is not ELF). Says nothing: a missing file may be no error.
 */
int elf_find_funcs(const char *path, const char *const *names, size_t n, struct elf_func *out);

#endif
