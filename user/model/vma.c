// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMA interval map: a sorted array of non-overlapping VMAs. Every change first splits the
 * VMAs at its boundaries, so that it then deals with whole VMAs only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/vma.h"
#include "util/maps.h"
#include "util/vec.h"

#define PAGE 4096ull

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

const char *vma_kind_name(int kind)
{
	static const char *const names[] = { "anon", "heap", "stack", "file", "shm", "special" };

	return kind >= 0 && kind <= VMA_SPECIAL ? names[kind] : "?";
}

void vma_map_init(struct vma_map *m)
{
	memset(m, 0, sizeof(*m));
}

void vma_map_free(struct vma_map *m)
{
	for (size_t i = 0; i < m->nstrings; i++)
		free(m->strings[i]);
	free(m->strings);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static const char *intern(struct vma_map *m, const char *s)
{
	char **n;

	if (!s)
		return NULL;
	for (size_t i = m->nstrings; i-- > 0;)
		if (!strcmp(m->strings[i], s))
			return m->strings[i];
	n = realloc(m->strings, (m->nstrings + 1) * sizeof(*n));
	if (!n)
		return NULL;
	m->strings = n;
	m->strings[m->nstrings] = strdup(s);
	return m->strings[m->nstrings] ? m->strings[m->nstrings++] : NULL;
}

void vma_map_copy(struct vma_map *dst, const struct vma_map *src)
{
	vma_map_free(dst);
	if (!src->n || !(dst->v = malloc(src->n * sizeof(*dst->v))))
		return;
	dst->cap = src->n;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = src->v[i];
		dst->v[i].path = intern(dst, src->v[i].path);
	}
	dst->n = src->n;
}

/* Index of the first VMA that ends after addr. */
static size_t first_after(const struct vma_map *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int insert_at(struct vma_map *m, size_t i, const struct vma *v)
{
	if (!vec_room((void **)&m->v, m->n, &m->cap, sizeof(*m->v), 64))
		return -1;
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
	m->v[i] = *v;
	m->n++;
	return 0;
}

/* Splits the VMA that holds addr strictly inside, so that addr becomes a boundary. */
static void split_at(struct vma_map *m, uint64_t addr)
{
	size_t i = first_after(m, addr);
	struct vma tail;

	if (i == m->n || m->v[i].start >= addr)
		return;
	tail = m->v[i];
	tail.start = addr;
	m->v[i].end = addr;
	insert_at(m, i + 1, &tail);
}

/* [first, last) indexes of the VMAs inside [start, end), after splitting at both ends. */
static void carve(struct vma_map *m, uint64_t start, uint64_t end, size_t *first, size_t *last)
{
	split_at(m, start);
	split_at(m, end);
	*first = first_after(m, start);
	*last = *first;
	while (*last < m->n && m->v[*last].end <= end)
		(*last)++;
}

void vma_map_remove(struct vma_map *m, uint64_t start, uint64_t len)
{
	size_t a, b;

	if (!len)
		return;
	carve(m, start, start + page_up(len), &a, &b);
	if (a == b)
		return; /* nothing there (an empty map has no array to move in) */
	memmove(&m->v[a], &m->v[b], (m->n - b) * sizeof(*m->v));
	m->n -= b - a;
}

void vma_map_add(struct vma_map *m, uint64_t start, uint64_t len, const char *perms, int kind,
		 const char *path)
{
	struct vma v = { .start = start, .end = start + page_up(len), .kind = (uint8_t)kind };

	if (!len)
		return;
	vma_map_remove(m, start, len);
	snprintf(v.perms, sizeof(v.perms), "%.4s", perms);
	v.path = intern(m, path);
	insert_at(m, first_after(m, start), &v);
}

void vma_map_protect(struct vma_map *m, uint64_t start, uint64_t len, unsigned prot)
{
	size_t a, b;

	carve(m, start, start + page_up(len), &a, &b);
	for (size_t i = a; i < b; i++) {
		m->v[i].perms[0] = prot & 1 ? 'r' : '-';
		m->v[i].perms[1] = prot & 2 ? 'w' : '-';
		m->v[i].perms[2] = prot & 4 ? 'x' : '-';
	}
}

void vma_map_protect_until_hole(struct vma_map *m, uint64_t start, uint64_t len, unsigned prot)
{
	uint64_t end = start + page_up(len), at = start;
	size_t i = first_after(m, start);

	while (i < m->n && m->v[i].start <= at && at < end) {
		at = m->v[i].end;
		i++;
	}
	/* [start, at) is mapped without a gap */
	if (at > start)
		vma_map_protect(m, start, (at < end ? at : end) - start, prot);
}

void vma_map_set_allocator(struct vma_map *m, uint64_t start, uint64_t len, bool by_allocator)
{
	size_t a, b;

	carve(m, start, start + page_up(len), &a, &b);
	for (size_t i = a; i < b; i++)
		m->v[i].by_allocator = by_allocator;
}

uint64_t vma_map_allocator_bytes(const struct vma_map *m)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].by_allocator)
			sum += m->v[i].end - m->v[i].start;
	return sum;
}

void vma_map_lock(struct vma_map *m, uint64_t start, uint64_t len, bool locked)
{
	size_t a, b;

	carve(m, start, start + page_up(len), &a, &b);
	for (size_t i = a; i < b; i++)
		m->v[i].locked = locked;
}

void vma_map_remap(struct vma_map *m, uint64_t old, uint64_t old_len, uint64_t new_len,
		   unsigned flags, uint64_t result)
{
	const struct vma *src = vma_map_find(m, old);
	struct vma props = src ? *src : (struct vma){ .perms = "rw-p", .kind = VMA_ANON };

	old_len = page_up(old_len);
	new_len = page_up(new_len);
	if (result == old) {
		/* in place: shrink, or grow into what follows */
		if (new_len < old_len)
			vma_map_remove(m, old + new_len, old_len - new_len);
		else if (new_len > old_len)
			vma_map_add(m, old + old_len, new_len - old_len, props.perms, props.kind,
				    props.path);
		return;
	}
	/* moved; with MREMAP_DONTUNMAP (4) the old range stays mapped */
	if (!(flags & 4))
		vma_map_remove(m, old, old_len);
	vma_map_add(m, result, new_len, props.perms, props.kind, props.path);
}

void vma_map_brk(struct vma_map *m, uint64_t start, uint64_t brk)
{
	uint64_t end = page_up(brk), old_end = start;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].kind == VMA_HEAP && m->v[i].end > old_end)
			old_end = m->v[i].end;
	if (end > old_end)
		vma_map_add(m, old_end, end - old_end, "rw-p", VMA_HEAP, "[heap]");
	else if (end < old_end)
		vma_map_remove(m, end, old_end - end);
}

const struct vma *vma_map_find(const struct vma_map *m, uint64_t addr)
{
	size_t i = first_after(m, addr);

	return i < m->n && m->v[i].start <= addr ? &m->v[i] : NULL;
}

uint64_t vma_map_bytes(const struct vma_map *m)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < m->n; i++)
		sum += m->v[i].end - m->v[i].start;
	return sum;
}

static int kind_of(const char *path)
{
	if (!path || !*path)
		return VMA_ANON;
	if (!strcmp(path, "[heap]"))
		return VMA_HEAP;
	if (!strncmp(path, "[stack", 6))
		return VMA_STACK;
	if (path[0] == '[')
		return VMA_SPECIAL; /* [vdso], [vvar], [vsyscall], [uprobes] */
	if (!strncmp(path, "/SYSV", 5))
		return VMA_SHM;
	if (!strcmp(path, "/dev/zero (deleted)"))
		return VMA_ANON; /* shared anonymous memory */
	return VMA_FILE;
}

static int vma_map_load_line(void *ctx, const struct maps_line *l)
{
	vma_map_add(ctx, l->start, l->end - l->start, l->perms, kind_of(l->name), l->name);
	return 0;
}

void vma_map_load(struct vma_map *m, const char *text, size_t len)
{
	m->n = 0;
	maps_each(text, len, vma_map_load_line, m);
}
