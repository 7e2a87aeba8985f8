/* SPDX-License-Identifier: GPL-2.0-only */
/* A set of pids: open addressing with tombstones, grown at half full, shrunk on clear. */
#ifndef HT_PIDSET_H
#define HT_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pidset {
	uint32_t *slots; /* 0: empty; PIDSET_GONE: removed */
	size_t cap, used, live;
};

bool pidset_has(const struct pidset *s, uint32_t pid);
/* 0, or -1 out of memory. pid 0 is never a member. */
int pidset_add(struct pidset *s, uint32_t pid);
void pidset_remove(struct pidset *s, uint32_t pid);
void pidset_free(struct pidset *s);

#endif
