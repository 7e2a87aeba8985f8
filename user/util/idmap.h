/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A u64 -> u32 map (pid -> process, stack id -> stack, ...), open-addressed with linear probing
 * and backward-shift deletion (no tombstones), and the hashing it shares with other such tables.
 */
#ifndef HT_IDMAP_H
#define HT_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	uint64_t *keys; /* 0: empty, so 0 is not a key */
	uint32_t *vals;
	size_t cap, count;
};

static inline uint64_t idmap_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

/* Maps a hash onto [0, cap) without a power-of-two capacity. */
static inline size_t idmap_bucket(uint64_t key, size_t cap)
{
	return (size_t)(((unsigned __int128)idmap_mix(key) * cap) >> 64);
}

static inline size_t idmap_next(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

/* The slot holding key, or -1. */
long idmap_find(const struct idmap *m, uint64_t key);
/* Sets key's value: 0, or -1 when out of memory. */
int idmap_put(struct idmap *m, uint64_t key, uint32_t val);
void idmap_del(struct idmap *m, uint64_t key);
void idmap_free(struct idmap *m);

#endif
