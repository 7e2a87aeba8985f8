// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HTML report: the page (user/output/html/), built into the binary, around the data it
 * draws, one JSON document: per process its stacks, each as indexes into the process's table
 * of frames (root first) with its live and allocated bytes and counts, and the losses.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include "output/html_out.h"
#include "output/hist_out.h"
#include "output/json.h"
#include "output/leaks_out.h"
#include "output/stack_out.h"
#include "record/event.h"
#include "util/idmap.h"
#include "util/vec.h"

/*
 * The page's parts, NUL-terminated, from the files themselves: the assembler reads them at
 * build time (the Makefile names them as this object's prerequisites).
 */
#define HTML_OUT_ASSET(name, file)                                                                 \
	__asm__(".pushsection .rodata\n"                                                           \
		".balign 8\n"                                                                      \
		".type " #name ", @object\n" #name ":\n"                                           \
		".incbin \"" file "\"\n"                                                           \
		".byte 0\n"                                                                        \
		".size " #name ", . - " #name "\n"                                                 \
		".popsection\n");                                                                  \
	extern const char name[]

HTML_OUT_ASSET(html_out_head, "user/output/html/head.html");
HTML_OUT_ASSET(html_out_style, "user/output/html/report.css");
HTML_OUT_ASSET(html_out_script, "user/output/html/report.js");

/* What the page shows of one stack. */
struct html_stack {
	uint32_t stack;
	uint64_t live_bytes, live_allocs, alloc_bytes, allocs;
	const struct births_stack *births; /* NULL: none */
};

/* The chart's series, and the most points each keeps (the largest value of each stretch). */
static const enum space_series html_series[] = {
	SPACE_LIVE,	SPACE_HEAP,	 SPACE_MAPPED,	 SPACE_RSS_ANON,
	SPACE_RSS_FILE, SPACE_RSS_SHMEM, SPACE_RSS_SWAP,
};
#define HTML_SERIES_POINTS 400

/* Where an address's frames (inlined ones first) begin in the table, and how many. */
struct html_addr {
	uint32_t first, n;
};

/*
 * One process's stacks and the frames they use. The table of frames is written as each
 * address is first seen, into its own buffer, which goes into the page after the stacks.
 */
struct html_proc {
	struct html_stack *stacks;
	size_t nstacks, stacks_cap;
	struct idmap stack_index; /* stack + 1 -> index + 1 in stacks */
	struct html_addr *addrs;
	size_t naddrs, addrs_cap;
	struct idmap addr_index; /* address (or a kernel name's key) -> index in addrs */
	uint32_t nframes;
	FILE *table_f;
	char *table;
	size_t table_len;
	struct json frames;
};

static void html_proc_free(struct html_proc *hp)
{
	if (hp->table_f)
		fclose(hp->table_f);
	free(hp->table);
	free(hp->stacks);
	free(hp->addrs);
	idmap_free(&hp->stack_index);
	idmap_free(&hp->addr_index);
	*hp = (struct html_proc){ 0 };
}

/* The table's buffer: 0, or -1 when out of memory. */
static int html_table_open(struct html_proc *hp)
{
	hp->table_f = open_memstream(&hp->table, &hp->table_len);
	if (!hp->table_f)
		return -1;
	json_init(&hp->frames, hp->table_f);
	json_array_begin(&hp->frames);
	return 0;
}

/* "frames": the table, into the page's document j: 0, or -1 when out of memory. */
static int html_table_close(struct html_proc *hp, struct json *j)
{
	json_array_end(&hp->frames);
	if (fclose(hp->table_f)) {
		hp->table_f = NULL;
		return -1;
	}
	hp->table_f = NULL;
	json_key(j, "frames");
	json_raw(j, hp->table);
	return 0;
}

/* One frame of the table: [name, module's file name, "file:line" (or the file) or null]. */
static void html_frame_json(struct json *j, const char *name, const char *module, const char *file,
			    int line)
{
	const char *base = module ? strrchr(module, '/') : NULL;

	json_array_begin(j);
	json_string(j, name);
	json_string(j, base ? base + 1 : module ? module : "");
	if (file && line > 0) {
		char where[512];

		snprintf(where, sizeof(where), "%s:%d", file, line);
		json_string(j, where);
	} else if (file) {
		json_string(j, file);
	} else {
		json_null(j);
	}
	json_array_end(j);
}

/* A new entry of the table for key: its index in addrs, or -1 when out of memory. */
static long html_addr_new(struct html_proc *hp, uint64_t key, uint32_t n)
{
	if (!vec_room((void **)&hp->addrs, hp->naddrs, &hp->addrs_cap, sizeof(*hp->addrs), 64) ||
	    idmap_put(&hp->addr_index, key, (uint32_t)hp->naddrs))
		return -1;
	hp->addrs[hp->naddrs] = (struct html_addr){ hp->nframes, n };
	hp->nframes += n;
	return (long)hp->naddrs++;
}

/* The stack's entry, made on first sight; NULL when out of memory. */
static struct html_stack *html_stack_of(struct html_proc *hp, uint32_t stack)
{
	uint64_t key = (uint64_t)stack + 1;
	long slot = idmap_find(&hp->stack_index, key);

	if (slot >= 0)
		return &hp->stacks[hp->stack_index.vals[slot] - 1];
	if (!vec_room((void **)&hp->stacks, hp->nstacks, &hp->stacks_cap, sizeof(*hp->stacks),
		      64) ||
	    idmap_put(&hp->stack_index, key, (uint32_t)hp->nstacks + 1))
		return NULL;
	hp->stacks[hp->nstacks] = (struct html_stack){ .stack = stack };
	return &hp->stacks[hp->nstacks++];
}

/*
 * The process's stacks: live from the leaks report, allocated from the distributions, when
 * from the births (which keep every stack apart, where the others merge those that show the
 * same: the page sums by frames anyway).
 */
static int html_collect(struct html_proc *hp, const struct html_out *o, const struct model_proc *p,
			const struct dists_proc *dp, uint64_t now)
{
	const struct births_proc *bp = o->births ? births_of(o->births, p) : NULL;
	size_t n = 0;
	struct leaks_stack *sums = leaks_stacks(o->leaks, p, now, &n);
	int err = 0;

	for (size_t k = 0; k < n && !err; k++) {
		struct html_stack *s = html_stack_of(hp, sums[k].stack);

		if (!s)
			err = -1;
		else {
			s->live_bytes += sums[k].bytes;
			s->live_allocs += sums[k].allocs;
		}
	}
	free(sums);
	for (size_t k = 0; dp && k < dp->nstacks && !err; k++) {
		struct html_stack *s = html_stack_of(hp, dp->by_stack[k].stack);

		if (!s)
			err = -1;
		else {
			s->alloc_bytes += dists_stack_bytes(dp, &dp->by_stack[k]);
			s->allocs += dists_stack_allocs(dp, &dp->by_stack[k]);
		}
	}
	for (size_t k = 0; bp && k < bp->nstacks && !err; k++) {
		struct html_stack *s = html_stack_of(hp, bp->stacks[k].stack);

		if (!s)
			err = -1;
		else
			s->births = &bp->stacks[k];
	}
	return err;
}

/* The frames of one address in the table, written there on first sight: its index in addrs, or -1. */
static long html_addr_of(struct html_proc *hp, const struct html_out *o, const struct model_proc *p,
			 uint64_t addr)
{
	struct sym_frame frames[SYMBOLIZE_MAX_INLINED];
	long slot = idmap_find(&hp->addr_index, addr);
	int n;

	if (slot >= 0)
		return hp->addr_index.vals[slot];
	n = symbolize_resolve(o->sym, p->pid, p->start_ns, addr, frames, SYMBOLIZE_MAX_INLINED);
	for (int k = 0; k < n; k++) {
		char name[32];

		snprintf(name, sizeof(name), "0x%" PRIx64, frames[k].addr);
		html_frame_json(&hp->frames, frames[k].sym ? frames[k].sym : name, frames[k].module,
				frames[k].file, frames[k].line);
	}
	return html_addr_new(hp, addr, (uint32_t)n);
}

static const char *html_end_name(enum stack_out_end end)
{
	switch (end) {
	case STACK_OUT_CUT_FP:
	case STACK_OUT_CUT_CFI:
		return "cut";
	case STACK_OUT_TRUNCATED:
		return "truncated";
	case STACK_OUT_WHOLE:
		break;
	}
	return NULL;
}

/*
 * One stack: [[frame indexes, root first], live bytes, live allocs, allocated bytes,
 * allocations, how it ends ("cut", "truncated", "none" without a stack, or null), with births
 * when it allocated: [[span, live bytes, live allocs, allocated bytes, allocations]...], and
 * the most bytes it held at once (0 without births)].
 */
static int html_stack_json(struct json *j, struct html_proc *hp, const struct html_out *o,
			   const struct model_proc *p, const struct html_stack *s)
{
	const struct model_stack *st =
		s->stack == MODEL_NO_STACK ? NULL : model_stack(o->model, s->stack);
	uint32_t true_frames = 0;
	const char *end = "none";

	if (st && st->frames) {
		true_frames =
			symbolize_true_frames(o->sym, p->pid, p->start_ns, st->frames, st->nframes);
		end = html_end_name(stack_out_end_of(st, true_frames, o->stack_depth));
	}
	json_array_begin(j);
	json_array_begin(j);
	for (uint32_t i = true_frames; i-- > 0;) {
		long a = html_addr_of(hp, o, p, st->frames[i]);

		if (a < 0)
			return -1;
		/* the function before what was inlined into it: the caller first */
		for (uint32_t k = hp->addrs[a].n; k-- > 0;)
			json_u64(j, hp->addrs[a].first + k);
	}
	json_array_end(j);
	json_u64(j, s->live_bytes);
	json_u64(j, s->live_allocs);
	json_u64(j, s->alloc_bytes);
	json_u64(j, s->allocs);
	if (end)
		json_string(j, end);
	else
		json_null(j);
	json_array_begin(j);
	for (uint32_t i = 0; s->births && i < s->births->nspans; i++) {
		const struct births_span *sp = &s->births->spans[i];

		json_array_begin(j);
		json_u64(j, sp->span);
		json_u64(j, sp->live_bytes);
		json_u64(j, sp->live);
		json_u64(j, sp->alloc_bytes);
		json_u64(j, sp->allocs);
		json_array_end(j);
	}
	json_array_end(j);
	json_u64(j, s->births ? s->births->peak_bytes : 0);
	json_array_end(j);
	return 0;
}

/*
 * A series as [ns from start, value] pairs, at most HTML_SERIES_POINTS: each stretch of the run
 * keeps its largest value (a peak must not fall between two kept points).
 */
static void html_series_json(struct json *j, const struct series *sr, uint64_t start, uint64_t end)
{
	uint64_t width = end > start ? (end - start) / HTML_SERIES_POINTS + 1 : 1;

	json_array_begin(j);
	for (size_t i = 0; i < sr->n;) {
		uint64_t ts = sr->pts[2 * i], v = sr->pts[2 * i + 1];
		uint64_t stretch = ts > start ? (ts - start) / width : 0;

		/* the first point of a stretch keeps its time; the value is the stretch's largest */
		for (i++; i < sr->n; i++) {
			uint64_t t = sr->pts[2 * i];

			if ((t > start ? (t - start) / width : 0) != stretch)
				break;
			if (sr->pts[2 * i + 1] > v)
				v = sr->pts[2 * i + 1];
		}
		json_array_begin(j);
		json_u64(j, ts > start ? ts - start : 0);
		json_u64(j, v);
		json_array_end(j);
	}
	json_array_end(j);
}

/* A kernel stack being walked: its frames' indexes, leaf first. */
struct html_kstack {
	struct html_proc *hp;
	uint32_t idx[HT_MAX_STACK_DEPTH + 1];
	uint32_t n;
	bool oom;
};

static void html_kernel_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off,
			      const char *module)
{
	struct html_kstack *k = ctx;
	long a = idmap_find(&k->hp->addr_index, addr);

	(void)off;
	if (k->n == sizeof(k->idx) / sizeof(k->idx[0]))
		return;
	if (a >= 0) {
		a = k->hp->addr_index.vals[a];
	} else {
		char name[32], mod[80];

		snprintf(name, sizeof(name), "0x%" PRIx64, addr);
		snprintf(mod, sizeof(mod), "[%s]", module ? module : "kernel.kallsyms");
		html_frame_json(&k->hp->frames, sym ? sym : name, mod, NULL, 0);
		a = html_addr_new(k->hp, addr, 1);
		if (a < 0) {
			k->oom = true;
			return;
		}
	}
	k->idx[k->n++] = k->hp->addrs[a].first;
}

/* A name of the kernel's table (allocator, cache): its frame's index, made on first sight. */
static uint32_t html_kernel_name(struct html_proc *hp, const char *name, uint64_t key)
{
	long a = idmap_find(&hp->addr_index, key);

	if (a >= 0)
		return hp->addrs[hp->addr_index.vals[a]].first;
	html_frame_json(&hp->frames, name, NULL, NULL, 0);
	a = html_addr_new(hp, key, 1);
	return a < 0 ? UINT32_MAX : hp->addrs[a].first;
}

/*
 * -k: the kernel's outstanding allocations as one more "process": its stacks under their
 * allocator and cache (two frames at the root), live values only (the kernel model keeps
 * allocation totals per allocator and cache, not per stack). The frames' table is written
 * into its own buffer as it grows, and appended after the stacks.
 */
static int html_kernel_json(struct json *j, const struct html_out *o, uint64_t now)
{
	uint64_t bytes = 0, allocs = 0;
	size_t n = 0;
	struct kreport_group *g = kreport_groups(o->kr, now, &n, &bytes, &allocs);
	struct html_proc hp = { 0 };
	int err = html_table_open(&hp);

	json_object_begin(j);
	json_kv_u64(j, "pid", 0);
	json_kv_string(j, "comm", "kernel");
	json_kv_bool(j, "kernel", true);
	json_kv_u64(j, "live_bytes", bytes);
	json_kv_u64(j, "live_allocs", allocs);
	json_kv_u64(j, "alloc_bytes", 0);
	json_kv_u64(j, "allocs", 0);
	json_kv_u64(j, "frees", 0);
	json_key(j, "stacks");
	json_array_begin(j);
	for (size_t i = 0; i < n && !err; i++) {
		struct html_kstack k = { .hp = &hp };
		const char *cache = kreport_cache_name(o->kr, g[i].cache);
		/* keys apart from kernel addresses, which are all above 2^63 */
		uint32_t kind = html_kernel_name(&hp, ht_kalloc_name(g[i].kind), 1 + g[i].kind);
		uint32_t cname =
			cache ? html_kernel_name(&hp, cache, 0x10000 + g[i].cache) : UINT32_MAX;

		if (g[i].stack_id)
			kreport_frames(o->kr, g[i].stack_id, html_kernel_frame, &k);
		else
			kreport_frame(o->kr, g[i].call_site, html_kernel_frame, &k);
		if (k.oom || kind == UINT32_MAX) {
			err = -1;
			break;
		}
		json_array_begin(j);
		json_array_begin(j);
		json_u64(j, kind);
		if (cname != UINT32_MAX)
			json_u64(j, cname);
		for (uint32_t f = k.n; f-- > 0;)
			json_u64(j, k.idx[f]);
		json_array_end(j);
		json_u64(j, g[i].bytes);
		json_u64(j, g[i].allocs);
		json_u64(j, 0);
		json_u64(j, 0);
		json_null(j);
		json_array_begin(j);
		json_array_end(j);
		json_u64(j, 0);
		json_array_end(j);
	}
	json_array_end(j);
	free(g);
	if (!err)
		err = html_table_close(&hp, j);
	json_object_end(j);
	html_proc_free(&hp);
	return err;
}

static int html_proc_json(struct json *j, const struct html_out *o, const struct model_proc *p,
			  uint64_t now)
{
	const struct dists_proc *dp = o->dists ? dists_proc_find(o->dists, p) : NULL;
	const struct space_proc *sp = o->space ? space_proc_find(o->space, p) : NULL;
	struct html_proc hp = { 0 };
	int err = html_table_open(&hp) ? -1 : html_collect(&hp, o, p, dp, now);

	json_object_begin(j);
	leaks_out_json_proc(j, p);
	json_key(j, "stacks");
	json_array_begin(j);
	for (size_t k = 0; k < hp.nstacks && !err; k++)
		err = html_stack_json(j, &hp, o, p, &hp.stacks[k]);
	json_array_end(j);
	if (!err)
		err = html_table_close(&hp, j);
	if (dp) {
		/* as hist --json has them */
		json_key(j, "sizes");
		json_object_begin(j);
		hist_out_json(j, &dp->size);
		json_object_end(j);
		json_key(j, "lifetimes");
		json_object_begin(j);
		hist_out_json(j, &dp->lifetime);
		json_object_end(j);
	}
	if (sp && o->births) {
		json_key(j, "series");
		json_object_begin(j);
		for (size_t k = 0; k < sizeof(html_series) / sizeof(html_series[0]); k++) {
			json_key(j, space_series_names[html_series[k]]);
			html_series_json(j, &sp->s[html_series[k]], births_start(o->births), now);
		}
		json_object_end(j);
	}
	json_object_end(j);
	html_proc_free(&hp);
	return err;
}

/* Where the page was made, as the page shows it. */
static void html_about_json(struct json *j, const struct html_out *o)
{
	struct utsname u;
	time_t t = time(NULL);
	char when[64];

	json_key(j, "about");
	json_object_begin(j);
	json_key(j, "command_line");
	json_array_begin(j);
	for (int i = 0; i < o->argc; i++)
		json_string(j, o->argv[i]);
	json_array_end(j);
	if (o->input) {
		json_kv_string(j, "recording", o->input);
	} else if (!uname(&u)) {
		json_kv_string(j, "kernel", u.release);
		json_kv_string(j, "host", u.nodename);
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	json_kv_string(j, "made", when);
	json_object_end(j);
}

/* The data document, in a buffer: 0, or -1 when out of memory. */
static int html_data(const struct html_out *o, uint64_t now, char **text, size_t *len)
{
	const uint64_t *lost = model_lost(o->model);
	FILE *f = open_memstream(text, len);
	struct json j;
	int err = 0;

	if (!f)
		return -1;
	json_init(&j, f);
	json_object_begin(&j);
	html_about_json(&j, o);
	if (o->births) {
		/* births' spans, and where the run ended: the chart's axis */
		json_key(&j, "time");
		json_object_begin(&j);
		json_kv_u64(&j, "span_ns", births_span_ns(o->births));
		json_kv_u64(&j, "spans", BIRTHS_SPANS);
		json_kv_u64(&j, "end_ns",
			    now > births_start(o->births) ? now - births_start(o->births) : 0);
		json_kv_u64(&j, "dropped", births_dropped(o->births));
		json_object_end(&j);
	}
	json_key(&j, "processes");
	json_array_begin(&j);
	for (size_t i = 0; i < model_nprocs(o->model) && !err; i++)
		err = html_proc_json(&j, o, model_proc_at(o->model, i), now);
	json_array_end(&j);
	if (o->kr && !err) {
		json_key(&j, "kernel");
		err = html_kernel_json(&j, o, now);
	}
	/* 0: exact; else stacks' numbers are estimates from one allocation per N bytes */
	json_kv_u64(&j, "sample_bytes", model_sample_bytes(o->model));
	json_key(&j, "lost");
	json_object_begin(&j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(&j, ht_lost_kind_name(k), lost[k]);
	json_object_end(&j);
	json_object_end(&j);
	if (fclose(f) || err) {
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

/*
 * The data inside the page's <script> element: "</" would end the element early (a C++ name
 * such as operator</), and "<\/" is the same JSON string.
 */
static void html_put_data(FILE *f, const char *text)
{
	for (const char *c = text; *c; c++) {
		fputc(*c, f);
		if (c[0] == '<' && c[1] == '/')
			fputc('\\', f);
	}
}

int html_out_write(FILE *f, const struct html_out *o, uint64_t now)
{
	char *data = NULL;
	size_t len = 0;

	if (html_data(o, now, &data, &len))
		return -1;
	fputs(html_out_head, f);
	fputs("<style>\n", f);
	fputs(html_out_style, f);
	fputs("</style>\n</head>\n<body>\n<script type=\"application/json\" id=\"heaptrail-data\">",
	      f);
	html_put_data(f, data);
	fputs("</script>\n<script>\n", f);
	fputs(html_out_script, f);
	fputs("</script>\n</body>\n</html>\n", f);
	free(data);
	return 0;
}
