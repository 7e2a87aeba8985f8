// SPDX-License-Identifier: GPL-2.0-only
/* Folded stacks (flamegraph.pl, speedscope): each process's stacks as "root;...;leaf N" lines. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/folded_out.h"
#include "output/stack_out.h"
#include "util/vec.h"

const char *const folded_metric_names[FOLDED_METRICS] = {
	[FOLDED_LIVE_BYTES] = "live-bytes",
	[FOLDED_LIVE_ALLOCS] = "live-allocs",
	[FOLDED_ALLOC_BYTES] = "alloc-bytes",
};

struct folded_line {
	char *text; /* the frames, root first */
	uint64_t value;
};

struct folded_lines {
	struct folded_line *v;
	size_t n, cap;
};

/* A name as one frame: ';' separates frames, and a line ends at its newline. */
static void folded_name(FILE *f, const char *name)
{
	for (const char *c = name; *c; c++)
		fputc(*c == ';' ? ',' : *c == '\n' ? ' ' : *c, f);
}

static void folded_frame(FILE *f, const struct sym_frame *fr)
{
	const char *base = fr->module ? strrchr(fr->module, '/') : NULL;

	fputc(';', f);
	if (fr->sym) {
		folded_name(f, fr->sym);
		return;
	}
	/* unnamed: its module, so that the same unknown code folds across processes */
	fputc('[', f);
	folded_name(f, base ? base + 1 : fr->module ? fr->module : "unknown");
	fputc(']', f);
}

/* The frames of stack in process p, root first, after its process frame. */
static char *folded_stack(const struct folded_out *o, const struct model_proc *p, uint32_t stack)
{
	const struct model_stack *st =
		stack == MODEL_NO_STACK ? NULL : model_stack(o->model, stack);
	struct sym_frame frames[SYMBOLIZE_MAX_INLINED];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint32_t true_frames;

	if (!f)
		return NULL;
	folded_name(f, p->comm);
	fprintf(f, " (%" PRIu32 ")", p->pid);
	if (!st || !st->frames) {
		fputs(";[stack not captured]", f);
		goto out;
	}
	true_frames = symbolize_true_frames(o->sym, p->pid, p->start_ns, st->frames, st->nframes);
	/* a stack that does not reach its root says so where the root would be, as JSON does */
	switch (stack_out_end_of(st, true_frames, o->stack_depth)) {
	case STACK_OUT_CUT_FP:
	case STACK_OUT_CUT_CFI:
		fputs(";[cut]", f);
		break;
	case STACK_OUT_TRUNCATED:
		fputs(";[truncated]", f);
		break;
	case STACK_OUT_WHOLE:
		break;
	}
	for (uint32_t i = true_frames; i-- > 0;) {
		int n = symbolize_resolve(o->sym, p->pid, p->start_ns, st->frames[i], frames,
					  SYMBOLIZE_MAX_INLINED);

		/* innermost (inlined) first: the caller goes out first */
		for (int k = n; k-- > 0;)
			folded_frame(f, &frames[k]);
	}
out:
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

static int folded_add(struct folded_lines *l, char *text, uint64_t value)
{
	if (!text)
		return -1;
	if (!vec_room((void **)&l->v, l->n, &l->cap, sizeof(*l->v), 256)) {
		free(text);
		return -1;
	}
	l->v[l->n++] = (struct folded_line){ text, value };
	return 0;
}

static int folded_by_text(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->text, ((const struct folded_line *)b)->text);
}

/* The live metrics: the leaks report's sums per stack. */
static int folded_live(const struct folded_out *o, struct folded_lines *l, uint64_t now)
{
	for (size_t i = 0; i < model_nprocs(o->model); i++) {
		const struct model_proc *p = model_proc_at(o->model, i);
		size_t n = 0;
		struct leaks_stack *sums = leaks_stacks(o->leaks, p, now, &n);
		int err = 0;

		for (size_t k = 0; k < n && !err; k++) {
			uint64_t v =
				o->metric == FOLDED_LIVE_BYTES ? sums[k].bytes : sums[k].allocs;

			if (v)
				err = folded_add(l, folded_stack(o, p, sums[k].stack), v);
		}
		free(sums);
		if (err)
			return -1;
	}
	return 0;
}

/* Allocated bytes: the sums of the per-stack size distributions. */
static int folded_allocated(const struct folded_out *o, struct folded_lines *l)
{
	for (size_t i = 0; i < dists_nprocs(o->dists); i++) {
		const struct dists_proc *dp = dists_proc(o->dists, i);

		for (size_t k = 0; k < dp->nstacks; k++) {
			uint64_t bytes = dists_stack_bytes(dp, &dp->by_stack[k]);

			if (bytes &&
			    folded_add(l, folded_stack(o, dp->p, dp->by_stack[k].stack), bytes))
				return -1;
		}
	}
	return 0;
}

int folded_out_write(FILE *f, const struct folded_out *o, uint64_t now)
{
	struct folded_lines l = { 0 };
	int err =
		o->metric == FOLDED_ALLOC_BYTES ? folded_allocated(o, &l) : folded_live(o, &l, now);

	if (!err && l.n)
		qsort(l.v, l.n, sizeof(*l.v), folded_by_text);
	for (size_t i = 0; !err && i < l.n; i++) {
		uint64_t sum = l.v[i].value;

		/* stacks that differ only in what is not shown (a cut walk's tail) fold to one */
		while (i + 1 < l.n && !strcmp(l.v[i].text, l.v[i + 1].text))
			sum += l.v[++i].value;
		fprintf(f, "%s %" PRIu64 "\n", l.v[i].text, sum);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].text);
	free(l.v);
	return err;
}
