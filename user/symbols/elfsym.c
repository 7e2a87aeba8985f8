// SPDX-License-Identifier: GPL-2.0-only
/* ELF function lookup with libelf: symbol tables, symbol versions, and vaddr to file offset. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>
#include "symbols/elfsym.h"

/* Versym entries with this bit are non-default (name@VER rather than name@@VER). */
#define VERSYM_HIDDEN 0x8000

/* The file offset of vaddr in an executable segment: 0, or -1 when no segment holds it. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *offset)
{
	size_t nphdr;

	if (elf_getphdrnum(elf, &nphdr))
		return -1;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
			*offset = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -1;
}

static Elf_Data *find_versym(Elf *elf, size_t symtab_index)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym &&
		    sh.sh_link == symtab_index)
			return elf_getdata(scn, NULL);
	}
	return NULL;
}

/* One symbol table: fills the names not found yet. */
static void scan_symtab(Elf *elf, Elf_Scn *scn, const char *const *names, size_t n,
			struct elf_func *out, int *hidden)
{
	Elf_Data *data = elf_getdata(scn, NULL), *versym;
	GElf_Shdr sh;
	size_t count;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	versym = find_versym(elf, elf_ndxscn(scn));
	count = sh.sh_size / sh.sh_entsize;
	for (size_t i = 1; i < count; i++) {
		GElf_Sym sym;
		GElf_Versym vs = 0;
		const char *name;
		uint64_t offset;
		int is_hidden;

		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name)
			continue;
		if (versym)
			gelf_getversym(versym, (int)i, &vs);
		is_hidden = !!(vs & VERSYM_HIDDEN);
		for (size_t k = 0; k < n; k++) {
			if (strcmp(name, names[k]))
				continue;
			/* Keep a default-version definition over a hidden (compat) one. */
			if (out[k].offset && !(hidden[k] && !is_hidden))
				break;
			if (vaddr_to_offset(elf, sym.st_value, &offset))
				break;
			out[k].vaddr = sym.st_value;
			out[k].offset = offset;
			out[k].size = sym.st_size;
			hidden[k] = is_hidden;
			break;
		}
	}
}

int elf_find_funcs(const char *path, const char *const *names, size_t n, struct elf_func *out)
{
	int hidden[n ? n : 1];
	int fd, found = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;

	memset(out, 0, n * sizeof(*out));
	memset(hidden, 0, sizeof(hidden));
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		errno = ENOEXEC;
		return -1;
	}
	/* .dynsym first: it is what a shared library exports. */
	for (int pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) &&
			    sh.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB))
				scan_symtab(elf, scn, names, n, out, hidden);
		}
	}
	for (size_t k = 0; k < n; k++)
		found += out[k].offset != 0;
	elf_end(elf);
	close(fd);
	return found;
}
