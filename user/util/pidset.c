// SPDX-License-Identifier: GPL-2.0-only
/* The pid set: linear probing over a power-of-two table. */
#include <stdlib.h>
#include "util/pidset.h"

#define PIDSET_GONE UINT32_MAX

static size_t pidset_slot(uint32_t pid, size_t cap)
{
	return (size_t)(pid * 0x9e3779b1u) & (cap - 1);
}

bool pidset_has(const struct pidset *s, uint32_t pid)
{
	if (!s->cap || !pid || pid == PIDSET_GONE)
		return false;
	for (size_t i = pidset_slot(pid, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == pid)
			return true;
		if (!s->slots[i])
			return false;
	}
}

static int pidset_resize(struct pidset *s, size_t cap)
{
	uint32_t *old = s->slots;
	size_t ocap = s->cap;

	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		s->slots = old;
		return -1;
	}
	s->cap = cap;
	s->used = s->live = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i] && old[i] != PIDSET_GONE)
			pidset_add(s, old[i]);
	free(old);
	return 0;
}

int pidset_add(struct pidset *s, uint32_t pid)
{
	size_t i;

	if (!pid || pid == PIDSET_GONE)
		return 0;
	if (pidset_has(s, pid))
		return 0;
	/* tombstones count as used: a table of removed pids is rebuilt, not probed forever */
	if ((s->used + 1) * 2 > s->cap) {
		size_t cap = 16;

		while (cap < (s->live + 1) * 4)
			cap *= 2;
		if (pidset_resize(s, cap))
			return -1;
	}
	for (i = pidset_slot(pid, s->cap); s->slots[i] && s->slots[i] != PIDSET_GONE;
	     i = (i + 1) & (s->cap - 1))
		;
	if (!s->slots[i])
		s->used++;
	s->slots[i] = pid;
	s->live++;
	return 0;
}

void pidset_remove(struct pidset *s, uint32_t pid)
{
	if (!s->cap || !pid || pid == PIDSET_GONE)
		return;
	for (size_t i = pidset_slot(pid, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == pid) {
			s->slots[i] = PIDSET_GONE;
			s->live--;
			return;
		}
	}
}

void pidset_free(struct pidset *s)
{
	free(s->slots);
	*s = (struct pidset){ 0 };
}
