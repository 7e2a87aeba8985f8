// SPDX-License-Identifier: GPL-2.0-only
/* A chained hash of task names keyed by tid; entries remember their process for forgetting. */
#include <stdlib.h>
#include <string.h>
#include "heaptrail.h"
#include "model/comm.h"
#include "util/procinfo.h"

#define COMM_BUCKETS 4096

struct comm_entry {
	struct comm_entry *next;
	uint32_t pid, tid;
	char comm[HT_COMM_LEN];
};

struct comm_cache {
	struct comm_entry *buckets[COMM_BUCKETS];
};

struct comm_cache *comm_cache_new(void)
{
	return calloc(1, sizeof(struct comm_cache));
}

void comm_cache_free(struct comm_cache *c)
{
	if (!c)
		return;
	for (int b = 0; b < COMM_BUCKETS; b++) {
		for (struct comm_entry *e = c->buckets[b], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(c);
}

static struct comm_entry *lookup(struct comm_cache *c, uint32_t tid)
{
	for (struct comm_entry *e = c->buckets[tid % COMM_BUCKETS]; e; e = e->next)
		if (e->tid == tid)
			return e;
	return NULL;
}

void comm_cache_set(struct comm_cache *c, uint32_t pid, uint32_t tid, const char *comm)
{
	struct comm_entry *e = lookup(c, tid);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->tid = tid;
		e->next = c->buckets[tid % COMM_BUCKETS];
		c->buckets[tid % COMM_BUCKETS] = e;
	}
	e->pid = pid;
	strncpy(e->comm, comm, sizeof(e->comm) - 1);
	e->comm[sizeof(e->comm) - 1] = '\0';
}

const char *comm_cache_get(struct comm_cache *c, uint32_t pid, uint32_t tid, int live)
{
	struct comm_entry *e = lookup(c, tid);
	char buf[64];

	/* A tid seen under another pid belonged to a process that is gone. */
	if (e && e->pid == pid)
		return e->comm;
	if (tid != pid) {
		e = lookup(c, pid);
		if (e && e->pid == pid)
			return e->comm;
	}
	if (!live)
		return "";
	proc_comm((int)pid, 0, buf, sizeof(buf));
	comm_cache_set(c, pid, pid, buf);
	e = lookup(c, pid);
	return e ? e->comm : "";
}

void comm_cache_forget(struct comm_cache *c, uint32_t pid)
{
	for (int b = 0; b < COMM_BUCKETS; b++) {
		struct comm_entry **pp = &c->buckets[b];

		while (*pp) {
			if ((*pp)->pid == pid) {
				struct comm_entry *dead = *pp;

				*pp = dead->next;
				free(dead);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}
