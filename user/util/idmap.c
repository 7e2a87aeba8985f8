// SPDX-License-Identifier: GPL-2.0-only
/* The u64 -> u32 map: lookup, insertion (growing at 3/4 full), backward-shift deletion. */
#include <stdlib.h>
#include <string.h>
#include "util/idmap.h"

long idmap_find(const struct idmap *m, uint64_t key)
{
	if (!m->cap)
		return -1;
	for (size_t i = idmap_bucket(key, m->cap);; i = idmap_next(i, m->cap)) {
		if (m->keys[i] == key)
			return (long)i;
		if (!m->keys[i])
			return -1;
	}
}

static int idmap_grow(struct idmap *m)
{
	struct idmap n = { .cap = m->cap ? m->cap * 2 : 16 };

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			idmap_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

int idmap_put(struct idmap *m, uint64_t key, uint32_t val)
{
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3 && idmap_grow(m))
		return -1;
	for (i = idmap_bucket(key, m->cap); m->keys[i] && m->keys[i] != key;
	     i = idmap_next(i, m->cap))
		;
	if (!m->keys[i])
		m->count++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

/* Backward-shift deletion: later entries of the run move up into the hole. */
void idmap_del(struct idmap *m, uint64_t key)
{
	long found = idmap_find(m, key);
	size_t hole, i;

	if (found < 0)
		return;
	hole = (size_t)found;
	for (i = idmap_next(hole, m->cap); m->keys[i]; i = idmap_next(i, m->cap)) {
		size_t home = idmap_bucket(m->keys[i], m->cap);

		/* i may move to hole only if its home is not in (hole, i] (cyclically). */
		if (hole <= i ? (home <= hole || home > i) : (home <= hole && home > i)) {
			m->keys[hole] = m->keys[i];
			m->vals[hole] = m->vals[i];
			hole = i;
		}
	}
	m->keys[hole] = 0;
	m->count--;
}

void idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
