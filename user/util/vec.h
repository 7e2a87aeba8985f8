/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Room in a growing array: the one grow-by-doubling that arrays of entries, frames, points
 * and samples share, so that its overflow check is written once.
 */
#ifndef HT_VEC_H
#define HT_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Makes *v (an array of *cap elements of size bytes, n of them used) hold one more: doubles it
 * when full, from first elements when empty. false when out of memory, *v and *cap unchanged.
 */
static inline bool vec_room(void **v, size_t n, size_t *cap, size_t size, size_t first)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || ncap > SIZE_MAX / size)
		return false;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

#endif
