/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A growing array of pointers indexed by a small dense number (a model process's index): how
 * the models built beside the process model find their own per-process data in O(1).
 */
#ifndef HT_SLOTS_H
#define HT_SLOTS_H

#include <stdlib.h>
#include <string.h>

struct slots {
	void **v;
	size_t n;
};

/* The slot of index i (NULL until set), grown as needed; NULL when out of memory. */
static inline void **slots_at(struct slots *s, size_t i)
{
	if (i >= s->n) {
		size_t n = s->n ? s->n : 16;
		void **v;

		while (n <= i)
			n *= 2;
		v = realloc(s->v, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + s->n, 0, (n - s->n) * sizeof(*v));
		s->v = v;
		s->n = n;
	}
	return &s->v[i];
}

static inline void slots_free(struct slots *s)
{
	free(s->v);
	*s = (struct slots){ 0 };
}

#endif
