/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A process's address space as an ordered set of non-overlapping VMAs, rebuilt from a
 * /proc/PID/maps snapshot and the memory syscalls that follow it.
 */
#ifndef HT_VMA_H
#define HT_VMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vma_kind { VMA_ANON, VMA_HEAP, VMA_STACK, VMA_FILE, VMA_SHM, VMA_SPECIAL };

struct vma {
	uint64_t start, end;
	char perms[5]; /* as in /proc/PID/maps: "rw-p" */
	uint8_t kind;  /* enum vma_kind */
	bool locked;
	bool by_allocator; /* made inside an allocator call (malloc's mmap, its brk) */
	const char *path;  /* files: the path (owned by the map's string pool); else NULL */
};

struct vma_map {
	struct vma *v;
	size_t n, cap;
	char **strings;
	size_t nstrings;
};

const char *vma_kind_name(int kind);

void vma_map_init(struct vma_map *m);
void vma_map_free(struct vma_map *m);
/* Replaces everything in dst with src's mappings (a fork); dst empty when out of memory. */
void vma_map_copy(struct vma_map *dst, const struct vma_map *src);
/* Replaces everything with the mappings listed in a /proc/PID/maps text. */
void vma_map_load(struct vma_map *m, const char *text, size_t len);
/* A new mapping over [start, start+len): whatever was there goes (MAP_FIXED). */
void vma_map_add(struct vma_map *m, uint64_t start, uint64_t len, const char *perms, int kind,
		 const char *path);
/* Marks [start, start+len) as made by the allocator. */
void vma_map_set_allocator(struct vma_map *m, uint64_t start, uint64_t len, bool by_allocator);
/* Bytes of the VMAs the allocator made. */
uint64_t vma_map_allocator_bytes(const struct vma_map *m);
/* munmap: removes [start, start+len), splitting the VMAs it cuts. */
void vma_map_remove(struct vma_map *m, uint64_t start, uint64_t len);
/* mprotect: new permissions (rwx) on [start, start+len) of the mapped parts. */
void vma_map_protect(struct vma_map *m, uint64_t start, uint64_t len, unsigned prot);
/*
 * A failed mprotect (ENOMEM, a hole in the range) has still changed every VMA from start up to
 * the first hole: the kernel's loop stops there. Nothing when start itself is not mapped.
 */
void vma_map_protect_until_hole(struct vma_map *m, uint64_t start, uint64_t len, unsigned prot);
/* mlock family: locked or not on [start, start+len). */
void vma_map_lock(struct vma_map *m, uint64_t start, uint64_t len, bool locked);
/* A successful mremap. */
void vma_map_remap(struct vma_map *m, uint64_t old, uint64_t old_len, uint64_t new_len,
		   unsigned flags, uint64_t result);
/* The heap ([heap]) now ends at brk; it starts at start (the first break). */
void vma_map_brk(struct vma_map *m, uint64_t start, uint64_t brk);
/* The VMA holding addr, or NULL. */
const struct vma *vma_map_find(const struct vma_map *m, uint64_t addr);
uint64_t vma_map_bytes(const struct vma_map *m);

#endif
