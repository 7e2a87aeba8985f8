// SPDX-License-Identifier: GPL-2.0-only
/* Bounded series of (time, value) points: thinning by halves as they grow. */
#include <stdlib.h>
#include "model/series.h"

void series_add(struct series *s, uint64_t ts, uint64_t v)
{
	if (!s->res)
		s->res = SERIES_RES_NS;
	/* never step back in time */
	if (s->n && ts < s->pts[2 * (s->n - 1)])
		ts = s->pts[2 * (s->n - 1)];
	if (s->n == SERIES_MAX_POINTS) {
		/* keep the later point of each pair: the value in effect at the end of both */
		for (size_t i = 0; i < s->n / 2; i++) {
			s->pts[2 * i] = s->pts[2 * (2 * i + 1)];
			s->pts[2 * i + 1] = s->pts[2 * (2 * i + 1) + 1];
		}
		s->n /= 2;
		s->res *= 2;
	}
	if (s->n && s->pts[2 * (s->n - 1)] / s->res == ts / s->res) {
		s->pts[2 * (s->n - 1) + 1] = v;
		return;
	}
	if (s->n && s->pts[2 * (s->n - 1) + 1] == v)
		return; /* no change */
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *p = realloc(s->pts, ncap * 2 * sizeof(*p));

		if (!p)
			return;
		s->pts = p;
		s->cap = ncap;
	}
	s->pts[2 * s->n] = ts;
	s->pts[2 * s->n + 1] = v;
	s->n++;
}

void series_free(struct series *s)
{
	free(s->pts);
	*s = (struct series){ 0 };
}
