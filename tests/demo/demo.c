// SPDX-License-Identifier: GPL-2.0-only
/*
 * The demo that `make run` traces: a little program that builds a list, grows a buffer with
 * realloc, maps and unmaps a region, forgets to free part of its work, and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct node {
	struct node *next;
	char name[40];
};

static void *(*volatile do_malloc)(size_t) = malloc;

__attribute__((noinline)) static struct node *build_list(int n)
{
	struct node *head = NULL;

	for (int i = 0; i < n; i++) {
		struct node *nd = do_malloc(sizeof(*nd));

		snprintf(nd->name, sizeof(nd->name), "node-%d", i);
		nd->next = head;
		head = nd;
	}
	return head;
}

__attribute__((noinline)) static char *grow_buffer(void)
{
	char *buf = NULL;

	for (size_t size = 64; size <= 4096; size *= 4) {
		buf = realloc(buf, size);
		memset(buf, 'x', size);
	}
	return buf;
}

int main(void)
{
	struct node *list = build_list(4);
	char *buf = grow_buffer();
	char *region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);

	if (region == MAP_FAILED)
		return 1;
	memset(region, 1, 1 << 16);
	munmap(region, 1 << 20);
	free(buf);
	/* Only the head is freed: the three other nodes leak. */
	printf("demo: built a list starting at %s\n", list->name);
	free(list);
	return 0;
}
