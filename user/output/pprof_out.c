// SPDX-License-Identifier: GPL-2.0-only
/*
 * pprof profiles: the model's stacks as profile.proto messages (protobuf-c code generated from
 * third_party/pprof/profile.proto at build time), packed and gzipped with zlib.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include "profile.pb-c.h"
#include "output/pprof_out.h"
#include "util/idmap.h"
#include "util/vec.h"
#include "util/say.h"

typedef Perftools__Profiles__Profile pprof_profile;
typedef Perftools__Profiles__Sample pprof_sample;
typedef Perftools__Profiles__Location pprof_location;
typedef Perftools__Profiles__Line pprof_line;
typedef Perftools__Profiles__Function pprof_function;
typedef Perftools__Profiles__Mapping pprof_mapping;
typedef Perftools__Profiles__Label pprof_label;
typedef Perftools__Profiles__ValueType pprof_value_type;

enum {
	PPROF_ALLOC_OBJECTS,
	PPROF_ALLOC_SPACE,
	PPROF_INUSE_OBJECTS,
	PPROF_INUSE_SPACE,
	PPROF_VALUES
};

/* The proc of kernel allocations' entries (-k): no process of the model. */
#define PPROF_KERNEL UINT32_MAX

/* One process's stack with its four values, before equal stacks are merged. */
struct pprof_entry {
	uint32_t proc;	/* model_proc_at() index, or PPROF_KERNEL */
	uint8_t kind;	/* PPROF_KERNEL: the allocator (HT_KA_*) */
	uint16_t cache; /* and the slab cache (kmodel index) */
	uint32_t nlocs;
	uint64_t *locs; /* location ids, leaf first */
	int64_t values[PPROF_VALUES];
};

struct pprof {
	char **strings; /* the string table; [0] is "" */
	size_t nstrings, strings_cap;
	uint32_t *string_slots; /* open addressing: index + 1 into strings */
	size_t string_slots_cap;
	pprof_function **functions;
	size_t nfunctions, functions_cap;
	struct idmap function_ids; /* name << 32 | file -> id */
	pprof_mapping **mappings;
	size_t nmappings, mappings_cap;
	struct idmap mapping_ids; /* module's string index -> id */
	pprof_location **locations;
	size_t nlocations, locations_cap;
	struct idmap location_ids; /* address -> id, of the process being read */
	struct pprof_entry *entries;
	size_t nentries, entries_cap;
	bool oom;
};

/* Grows *v (of *cap elements of size) to hold one more; false (and oom) when out of memory. */
static bool pprof_room(struct pprof *b, void **v, size_t n, size_t *cap, size_t size)
{
	if (vec_room(v, n, cap, size, 64))
		return true;
	b->oom = true;
	return false;
}

static uint64_t pprof_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The string's index in the table, added on first use (0, "", when out of memory). */
static int64_t pprof_string(struct pprof *b, const char *s)
{
	size_t i;
	char *copy;

	if (!s || !*s)
		return 0;
	if ((b->nstrings + 1) * 2 > b->string_slots_cap) {
		size_t ncap = b->string_slots_cap ? b->string_slots_cap * 2 : 1024;
		uint32_t *n = calloc(ncap, sizeof(*n));

		if (!n) {
			b->oom = true;
			return 0;
		}
		for (size_t k = 1; k < b->nstrings; k++) {
			for (i = pprof_hash(b->strings[k]) % ncap; n[i]; i = (i + 1) % ncap)
				;
			n[i] = (uint32_t)k + 1;
		}
		free(b->string_slots);
		b->string_slots = n;
		b->string_slots_cap = ncap;
	}
	for (i = pprof_hash(s) % b->string_slots_cap; b->string_slots[i];
	     i = (i + 1) % b->string_slots_cap)
		if (!strcmp(b->strings[b->string_slots[i] - 1], s))
			return b->string_slots[i] - 1;
	copy = strdup(s);
	if (!copy || !pprof_room(b, (void **)&b->strings, b->nstrings, &b->strings_cap,
				 sizeof(*b->strings))) {
		free(copy);
		b->oom = true;
		return 0;
	}
	b->strings[b->nstrings] = copy;
	b->string_slots[i] = (uint32_t)b->nstrings + 1;
	return (int64_t)b->nstrings++;
}

static uint64_t pprof_function_id(struct pprof *b, const char *name, const char *file)
{
	int64_t n = pprof_string(b, name), f = pprof_string(b, file);
	uint64_t key = ((uint64_t)n << 32 | (uint64_t)f) + 1;
	long slot = idmap_find(&b->function_ids, key);
	pprof_function *fn;

	if (slot >= 0)
		return b->function_ids.vals[slot];
	fn = malloc(sizeof(*fn));
	if (!fn || !pprof_room(b, (void **)&b->functions, b->nfunctions, &b->functions_cap,
			       sizeof(*b->functions))) {
		free(fn);
		b->oom = true;
		return 0;
	}
	perftools__profiles__function__init(fn);
	fn->id = b->nfunctions + 1;
	fn->name = fn->system_name = n;
	fn->filename = f;
	b->functions[b->nfunctions++] = fn;
	if (idmap_put(&b->function_ids, key, (uint32_t)fn->id))
		b->oom = true;
	return fn->id;
}

/*
 * A module as a mapping: heaptrail resolved its names, so the profile says it has them (and
 * files and lines, but for the kernel's: kallsyms has names only).
 */
static uint64_t pprof_mapping_id(struct pprof *b, const char *module, bool lines)
{
	int64_t name = pprof_string(b, module);
	long slot = idmap_find(&b->mapping_ids, (uint64_t)name + 1);
	pprof_mapping *m;

	if (slot >= 0)
		return b->mapping_ids.vals[slot];
	m = malloc(sizeof(*m));
	if (!m || !pprof_room(b, (void **)&b->mappings, b->nmappings, &b->mappings_cap,
			      sizeof(*b->mappings))) {
		free(m);
		b->oom = true;
		return 0;
	}
	perftools__profiles__mapping__init(m);
	m->id = b->nmappings + 1;
	m->filename = name;
	m->has_functions = true;
	m->has_filenames = m->has_line_numbers = m->has_inline_frames = lines;
	b->mappings[b->nmappings++] = m;
	if (idmap_put(&b->mapping_ids, (uint64_t)name + 1, (uint32_t)m->id))
		b->oom = true;
	return m->id;
}

/*
 * A location with its lines: inlined calls first, the function they were inlined into last. Its
 * mapping: the file's, or with kernel the kernel's or a kernel module's (fr's module, "[...]").
 */
static uint64_t pprof_new_location(struct pprof *b, uint64_t addr, const struct sym_frame *fr,
				   int n, bool kernel)
{
	pprof_location *loc = malloc(sizeof(*loc));
	pprof_line **lines = calloc((size_t)n, sizeof(*lines));
	pprof_line *line_v = calloc((size_t)n, sizeof(*line_v));

	if (!loc || !lines || !line_v ||
	    !pprof_room(b, (void **)&b->locations, b->nlocations, &b->locations_cap,
			sizeof(*b->locations))) {
		free(loc);
		free(lines);
		free(line_v);
		b->oom = true;
		return 0;
	}
	perftools__profiles__location__init(loc);
	loc->id = b->nlocations + 1;
	loc->address = addr;
	if (kernel)
		loc->mapping_id = pprof_mapping_id(b, fr[0].module, false);
	else if (fr[0].module && fr[0].module[0] == '/')
		loc->mapping_id = pprof_mapping_id(b, fr[0].module, true);
	for (int k = 0; k < n; k++) {
		char unknown[64];
		const char *name = fr[k].sym;

		if (!name) {
			snprintf(unknown, sizeof(unknown), "0x%llx", (unsigned long long)addr);
			name = unknown;
		}
		perftools__profiles__line__init(&line_v[k]);
		line_v[k].function_id = pprof_function_id(b, name, fr[k].file);
		line_v[k].line = fr[k].line;
		lines[k] = &line_v[k];
	}
	loc->n_line = (size_t)n;
	loc->line = lines;
	b->locations[b->nlocations++] = loc;
	return loc->id;
}

/*
 * The location already made for addr in the address space being read (a process's, or the
 * kernel's), 0 if none: locations are made once per address, their frames resolved once.
 */
static uint64_t pprof_known_location(struct pprof *b, uint64_t addr)
{
	long slot = idmap_find(&b->location_ids, addr + 1);

	return slot >= 0 ? b->location_ids.vals[slot] : 0;
}

/* A new location for addr, remembered for pprof_known_location(). */
static uint64_t pprof_remember_location(struct pprof *b, uint64_t addr, const struct sym_frame *fr,
					int n, bool kernel)
{
	uint64_t id = pprof_new_location(b, addr, fr, n, kernel);

	if (id && idmap_put(&b->location_ids, addr + 1, (uint32_t)id))
		b->oom = true;
	return id;
}

/* Process p's location for a return address. */
static uint64_t pprof_location_id(struct pprof *b, struct symbolizer *sym,
				  const struct model_proc *p, uint64_t addr)
{
	struct sym_frame fr[SYMBOLIZE_MAX_INLINED];
	uint64_t id = pprof_known_location(b, addr);

	if (id)
		return id;
	return pprof_remember_location(
		b, addr, fr,
		symbolize_resolve(sym, p->pid, p->start_ns, addr, fr, SYMBOLIZE_MAX_INLINED),
		false);
}

/* Address 0, a frame no stack has, stands for the stacks not captured. */
static uint64_t pprof_no_stack_location(struct pprof *b)
{
	static const struct sym_frame none = { .sym = "[stack not captured]" };
	uint64_t id = pprof_known_location(b, 0);

	return id ? id : pprof_remember_location(b, 0, &none, 1, false);
}

/* A stack's location ids, leaf first: its true frames (those the process really had). */
static void pprof_add(struct pprof *b, const struct pprof_out *o, const struct model_proc *p,
		      uint32_t stack, const int64_t values[PPROF_VALUES])
{
	const struct model_stack *st =
		stack == MODEL_NO_STACK ? NULL : model_stack(o->model, stack);
	uint32_t n = 1;
	struct pprof_entry *e;

	if (st && st->frames)
		n = symbolize_true_frames(o->sym, p->pid, p->start_ns, st->frames, st->nframes);
	if (!pprof_room(b, (void **)&b->entries, b->nentries, &b->entries_cap, sizeof(*b->entries)))
		return;
	e = &b->entries[b->nentries];
	*e = (struct pprof_entry){ .proc = p->index, .nlocs = n };
	memcpy(e->values, values, sizeof(e->values));
	e->locs = calloc(n ? n : 1, sizeof(*e->locs));
	if (!e->locs) {
		b->oom = true;
		return;
	}
	if (!st || !st->frames) {
		e->locs[0] = pprof_no_stack_location(b);
	} else {
		for (uint32_t i = 0; i < n; i++)
			e->locs[i] = pprof_location_id(b, o->sym, p, st->frames[i]);
	}
	b->nentries++;
}

static int pprof_by_stack(const void *x, const void *y)
{
	const struct pprof_entry *a = x, *b = y;

	if (a->proc != b->proc)
		return a->proc < b->proc ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->cache != b->cache)
		return a->cache < b->cache ? -1 : 1;
	if (a->nlocs != b->nlocs)
		return a->nlocs < b->nlocs ? -1 : 1;
	return memcmp(a->locs, b->locs, a->nlocs * sizeof(*a->locs));
}

/*
 * Every process's stacks: inuse from the leaks report, alloc from the size distributions, one
 * process at a time (a location is an address of that process).
 */
static void pprof_collect(struct pprof *b, const struct pprof_out *o, uint64_t now)
{
	for (size_t i = 0; i < model_nprocs(o->model) && !b->oom; i++) {
		const struct model_proc *p = model_proc_at(o->model, i);
		const struct dists_proc *dp;
		size_t n = 0;
		struct leaks_stack *sums;

		if (o->pid && p->pid != o->pid)
			continue;
		dp = o->dists ? dists_proc_find(o->dists, p) : NULL;
		sums = leaks_stacks(o->leaks, p, now, &n);

		idmap_free(&b->location_ids);
		for (size_t k = 0; k < n; k++) {
			int64_t v[PPROF_VALUES] = { [PPROF_INUSE_OBJECTS] = (int64_t)sums[k].allocs,
						    [PPROF_INUSE_SPACE] = (int64_t)sums[k].bytes };

			pprof_add(b, o, p, sums[k].stack, v);
		}
		free(sums);
		for (size_t k = 0; dp && k < dp->nstacks; k++) {
			int64_t v[PPROF_VALUES] = {
				[PPROF_ALLOC_OBJECTS] =
					(int64_t)dists_stack_allocs(dp, &dp->by_stack[k]),
				[PPROF_ALLOC_SPACE] =
					(int64_t)dists_stack_bytes(dp, &dp->by_stack[k])
			};

			pprof_add(b, o, p, dp->by_stack[k].stack, v);
		}
	}
	idmap_free(&b->location_ids);
}

/* A kernel stack's frames as locations, while kreport_frames walks it. */
struct pprof_kstack {
	struct pprof *b;
	uint64_t *locs;
	uint32_t n, cap;
};

static void pprof_kernel_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off,
			       const char *module)
{
	struct pprof_kstack *k = ctx;
	uint64_t id = pprof_known_location(k->b, addr);

	(void)off;
	if (k->n == k->cap)
		return;
	if (!id) {
		char mod[80];
		struct sym_frame fr = { .sym = sym, .module = mod };

		snprintf(mod, sizeof(mod), "[%s]", module ? module : "kernel.kallsyms");
		id = pprof_remember_location(k->b, addr, &fr, 1, true);
	}
	if (id)
		k->locs[k->n++] = id;
}

/* -k: the kernel's outstanding allocations, grouped as the text report groups them. */
static void pprof_collect_kernel(struct pprof *b, const struct pprof_out *o, uint64_t now)
{
	uint64_t bytes, allocs;
	size_t n = 0;
	struct kreport_group *g = kreport_groups(o->kr, now, &n, &bytes, &allocs);

	idmap_free(&b->location_ids); /* the kernel's addresses, one address space */
	for (size_t i = 0; i < n && !b->oom; i++) {
		struct pprof_kstack k = { .b = b, .cap = HT_MAX_STACK_DEPTH + 1 };
		struct pprof_entry *e;

		k.locs = calloc(k.cap, sizeof(*k.locs));
		if (!k.locs || !pprof_room(b, (void **)&b->entries, b->nentries, &b->entries_cap,
					   sizeof(*b->entries))) {
			free(k.locs);
			b->oom = true;
			break;
		}
		if (g[i].stack_id)
			kreport_frames(o->kr, g[i].stack_id, pprof_kernel_frame, &k);
		else
			kreport_frame(o->kr, g[i].call_site, pprof_kernel_frame, &k);
		if (!k.n) /* a stack with only the tracing machinery's frames */
			k.locs[k.n++] = pprof_no_stack_location(b);
		e = &b->entries[b->nentries++];
		*e = (struct pprof_entry){ .proc = PPROF_KERNEL,
					   .kind = g[i].kind,
					   .cache = g[i].cache,
					   .nlocs = k.n,
					   .locs = k.locs };
		e->values[PPROF_INUSE_OBJECTS] = (int64_t)g[i].allocs;
		e->values[PPROF_INUSE_SPACE] = (int64_t)g[i].bytes;
	}
	free(g);
	idmap_free(&b->location_ids);
}

/*
 * A sample's labels: a process's pid and comm, or a kernel allocation's allocator and slab
 * cache (when it has one).
 */
static int pprof_labels(struct pprof *b, const struct pprof_out *o, const struct pprof_entry *e,
			pprof_label *l)
{
	const char *cache;

	for (int k = 0; k < 2; k++)
		perftools__profiles__label__init(&l[k]);
	if (e->proc == PPROF_KERNEL) {
		l[0].key = pprof_string(b, "allocator");
		l[0].str = pprof_string(b, ht_kalloc_name(e->kind));
		cache = kreport_cache_name(o->kr, e->cache);
		if (!cache)
			return 1;
		l[1].key = pprof_string(b, "cache");
		l[1].str = pprof_string(b, cache);
		return 2;
	}
	l[0].key = pprof_string(b, "pid");
	l[0].num = model_proc_at(o->model, e->proc)->pid;
	l[1].key = pprof_string(b, "comm");
	l[1].str = pprof_string(b, model_proc_at(o->model, e->proc)->comm);
	return 2;
}

/* Equal stacks of a process (or of a kernel allocator and cache) merged into one sample. */
static pprof_sample **pprof_samples(struct pprof *b, const struct pprof_out *o, size_t *n)
{
	pprof_sample **v = calloc(b->nentries + 1, sizeof(*v));

	*n = 0;
	if (!v) {
		b->oom = true;
		return NULL;
	}
	if (b->nentries)
		qsort(b->entries, b->nentries, sizeof(*b->entries), pprof_by_stack);
	for (size_t i = 0; i < b->nentries; i++) {
		struct pprof_entry *e = &b->entries[i];
		pprof_sample *s = calloc(1, sizeof(*s) + PPROF_VALUES * sizeof(int64_t));
		pprof_label *l = calloc(2, sizeof(*l));
		pprof_label **lp = calloc(2, sizeof(*lp));

		if (!s || !l || !lp) {
			free(s);
			free(l);
			free(lp);
			b->oom = true;
			break;
		}
		perftools__profiles__sample__init(s);
		s->value = (int64_t *)(s + 1);
		s->n_value = PPROF_VALUES;
		memcpy(s->value, e->values, sizeof(e->values));
		while (i + 1 < b->nentries && !pprof_by_stack(e, &b->entries[i + 1])) {
			i++;
			for (int k = 0; k < PPROF_VALUES; k++)
				s->value[k] += b->entries[i].values[k];
		}
		s->n_location_id = e->nlocs;
		s->location_id = e->locs;
		e->locs = NULL; /* the sample's now */
		s->n_label = (size_t)pprof_labels(b, o, e, l);
		for (size_t k = 0; k < s->n_label; k++)
			lp[k] = &l[k];
		s->label = lp;
		v[(*n)++] = s;
	}
	return v;
}

/* The packed profile, gzipped as pprof reads it, into f. */
static int pprof_gzip_write(FILE *f, const uint8_t *buf, size_t len)
{
	z_stream z = { 0 };
	uint8_t out[1 << 16];
	int ret;

	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY))
		return -1;
	z.next_in = (uint8_t *)buf;
	z.avail_in = (uInt)len;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		ret = deflate(&z, Z_FINISH);
		if (ret == Z_STREAM_ERROR ||
		    fwrite(out, 1, sizeof(out) - z.avail_out, f) != sizeof(out) - z.avail_out)
			break;
	} while (ret != Z_STREAM_END);
	deflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -1;
}

static void pprof_free(struct pprof *b, pprof_sample **samples, size_t nsamples)
{
	for (size_t i = 0; i < nsamples; i++) {
		free(samples[i]->location_id);
		free(samples[i]->label[0]);
		free(samples[i]->label);
		free(samples[i]);
	}
	free(samples);
	for (size_t i = 0; i < b->nentries; i++)
		free(b->entries[i].locs);
	free(b->entries);
	for (size_t i = 0; i < b->nlocations; i++) {
		free(b->locations[i]->line[0]);
		free(b->locations[i]->line);
		free(b->locations[i]);
	}
	free(b->locations);
	for (size_t i = 0; i < b->nfunctions; i++)
		free(b->functions[i]);
	free(b->functions);
	for (size_t i = 0; i < b->nmappings; i++)
		free(b->mappings[i]);
	free(b->mappings);
	for (size_t i = 1; i < b->nstrings; i++)
		free(b->strings[i]);
	free(b->strings);
	free(b->string_slots);
	idmap_free(&b->function_ids);
	idmap_free(&b->mapping_ids);
	idmap_free(&b->location_ids);
}

int pprof_out_write(FILE *f, const char *path, const struct pprof_out *o, uint64_t now)
{
	static const char *const types[PPROF_VALUES][2] = {
		[PPROF_ALLOC_OBJECTS] = { "alloc_objects", "count" },
		[PPROF_ALLOC_SPACE] = { "alloc_space", "bytes" },
		[PPROF_INUSE_OBJECTS] = { "inuse_objects", "count" },
		[PPROF_INUSE_SPACE] = { "inuse_space", "bytes" },
	};
	static char empty[] = "";
	pprof_profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	pprof_value_type vt[PPROF_VALUES], *vtp[PPROF_VALUES], period_type;
	struct pprof b = { 0 };
	pprof_sample **samples = NULL;
	size_t nsamples = 0, len;
	uint8_t *buf = NULL;
	struct timespec ts;
	int err = -1;

	/* the string table starts with "" */
	if (!pprof_room(&b, (void **)&b.strings, 0, &b.strings_cap, sizeof(*b.strings)))
		goto out;
	b.strings[b.nstrings++] = empty;
	for (int k = 0; k < PPROF_VALUES; k++) {
		perftools__profiles__value_type__init(&vt[k]);
		vt[k].type = pprof_string(&b, types[k][0]);
		vt[k].unit = pprof_string(&b, types[k][1]);
		vtp[k] = &vt[k];
	}
	perftools__profiles__value_type__init(&period_type);
	period_type.type = pprof_string(&b, "space");
	period_type.unit = pprof_string(&b, "bytes");
	pprof_collect(&b, o, now);
	if (o->kr && !b.oom)
		pprof_collect_kernel(&b, o, now);
	samples = pprof_samples(&b, o, &nsamples);
	if (b.oom)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	prof.n_sample_type = PPROF_VALUES;
	prof.sample_type = vtp;
	prof.n_sample = nsamples;
	prof.sample = samples;
	prof.n_mapping = b.nmappings;
	prof.mapping = b.mappings;
	prof.n_location = b.nlocations;
	prof.location = b.locations;
	prof.n_function = b.nfunctions;
	prof.function = b.functions;
	prof.n_string_table = b.nstrings;
	prof.string_table = b.strings;
	prof.time_nanos = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	prof.duration_nanos = (int64_t)o->duration_ns;
	prof.period_type = &period_type;
	/* every allocation (1), or one per N bytes: the values are then estimates, as Go's */
	prof.period = model_sample_bytes(o->model) ? (int64_t)model_sample_bytes(o->model) : 1;
	prof.default_sample_type = vt[PPROF_INUSE_SPACE].type;
	len = perftools__profiles__profile__get_packed_size(&prof);
	buf = malloc(len ? len : 1);
	if (!buf)
		goto out;
	perftools__profiles__profile__pack(&prof, buf);
	err = pprof_gzip_write(f, buf, len);
out:
	if (err)
		say("writing %s: %s", path,
		    b.oom || !buf ? "out of memory" : strerror(errno ? errno : EIO));
	free(buf);
	pprof_free(&b, samples, nsamples);
	return err;
}
