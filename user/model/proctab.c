// SPDX-License-Identifier: GPL-2.0-only
/* The per-process table: an index array that grows by doubling, and the entries in order. */
#include <stdlib.h>
#include <string.h>
#include "model/proctab.h"

void *proctab_get(struct proctab *t, const struct model_proc *p, size_t size, bool *fresh)
{
	void *e, **order;
	const struct model_proc **owners;

	*fresh = false;
	if (!p)
		return NULL;
	if (p->index >= t->nindex) {
		size_t n = t->nindex ? t->nindex : 16;
		void **v;

		while (n <= p->index)
			n *= 2;
		v = realloc(t->by_index, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + t->nindex, 0, (n - t->nindex) * sizeof(*v));
		t->by_index = v;
		t->nindex = n;
	}
	if (t->by_index[p->index])
		return t->by_index[p->index];
	order = realloc(t->order, (t->n + 1) * sizeof(*order));
	if (!order)
		return NULL;
	t->order = order;
	owners = realloc(t->owners, (t->n + 1) * sizeof(*owners));
	if (!owners)
		return NULL;
	t->owners = owners;
	e = calloc(1, size);
	if (!e)
		return NULL;
	t->order[t->n] = e;
	t->owners[t->n++] = p;
	t->by_index[p->index] = e;
	*fresh = true;
	return e;
}

void proctab_forget(struct proctab *t, const struct model_proc *p, void (*fini)(void *entry))
{
	void *e = proctab_find(t, p);
	size_t i;

	if (!e)
		return;
	for (i = 0; t->order[i] != e; i++)
		;
	memmove(&t->order[i], &t->order[i + 1], (t->n - i - 1) * sizeof(*t->order));
	memmove(&t->owners[i], &t->owners[i + 1], (t->n - i - 1) * sizeof(*t->owners));
	t->n--;
	t->by_index[p->index] = NULL;
	if (fini)
		fini(e);
	free(e);
}

/* The indexes only shrink (the model closes the gaps): by_index stays large enough. */
void proctab_reindex(struct proctab *t)
{
	memset(t->by_index, 0, t->nindex * sizeof(*t->by_index));
	for (size_t i = 0; i < t->n; i++)
		t->by_index[t->owners[i]->index] = t->order[i];
}

void proctab_free(struct proctab *t, void (*fini)(void *entry))
{
	for (size_t i = 0; i < t->n; i++) {
		if (fini)
			fini(t->order[i]);
		free(t->order[i]);
	}
	free(t->order);
	free(t->owners);
	free(t->by_index);
	*t = (struct proctab){ 0 };
}
