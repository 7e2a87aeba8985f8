/* SPDX-License-Identifier: GPL-2.0-only */
/* Names of traced tasks (comm), learnt from the stream and from /proc, per thread and process. */
#ifndef HT_COMM_H
#define HT_COMM_H

#include <stdint.h>

struct comm_cache;

struct comm_cache *comm_cache_new(void);
void comm_cache_free(struct comm_cache *c);
/* tid == pid names the process. */
void comm_cache_set(struct comm_cache *c, uint32_t pid, uint32_t tid, const char *comm);
/* The thread's own name, else its process's, else what /proc says (when live), else "". */
const char *comm_cache_get(struct comm_cache *c, uint32_t pid, uint32_t tid, int live);
/* Drops every name of the process (exec replaced its threads, or it exited). */
void comm_cache_forget(struct comm_cache *c, uint32_t pid);

#endif
