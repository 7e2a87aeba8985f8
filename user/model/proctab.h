/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-process entries of a model built beside the process model (the address space, the
 * distributions): found in O(1) by the process's index, listed in the order first seen.
 */
#ifndef HT_PROCTAB_H
#define HT_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include "model/model.h"

struct proctab {
	void **by_index; /* by model_proc.index; NULL: none yet */
	size_t nindex;
	void **order;			  /* in the order first seen */
	const struct model_proc **owners; /* order[i] is owners[i]'s */
	size_t n;
};

/*
 * The entry of p, made (size bytes, zeroed) when p has none yet, which *fresh then says. NULL
 * when p is NULL or memory runs out.
 */
void *proctab_get(struct proctab *t, const struct model_proc *p, size_t size, bool *fresh);
/* The entry of p, NULL when it has none. */
static inline void *proctab_find(const struct proctab *t, const struct model_proc *p)
{
	return p->index < t->nindex ? t->by_index[p->index] : NULL;
}
/* Drops p's entry, after fini(entry) when given (a model_hooks.forget). */
void proctab_forget(struct proctab *t, const struct model_proc *p, void (*fini)(void *entry));
/* Finds the entries by their processes' new indexes (a model_hooks.reindex). */
void proctab_reindex(struct proctab *t);
/* Frees every entry, after fini(entry) when given. */
void proctab_free(struct proctab *t, void (*fini)(void *entry));

#endif
