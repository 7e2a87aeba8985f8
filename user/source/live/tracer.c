// SPDX-License-Identifier: GPL-2.0-only
/*
 * The live source. Load sequence: check the environment, open the skeleton, size the maps and
 * switch off programs nobody asked for, load, fill the maps, attach (kernel side from one table,
 * allocator uprobes per target process), then poll the ring buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "util/outpipe.h"
#include "util/procinfo.h"
#include "util/vec.h"
#include "source/live/tracer_int.h"
#include "util/say.h"

int tracer_links_push(struct bpf_link ***arr, int *n, size_t *cap, struct bpf_link *link)
{
	if (!vec_room((void **)arr, (size_t)*n, cap, sizeof(**arr), 64))
		return -1;
	(*arr)[(*n)++] = link;
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* libbpf's warnings under -v, each of their lines one of ours: "heaptrail: libbpf: ..." */
static int libbpf_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text, *line, *save = NULL;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return n;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		say("%s", line);
	free(text);
	return n;
}

/* ---------------------------------------------------------------- environment */

/* ---------------------------------------------------------------- kernel-side attachment */

/* ---------------------------------------------------------------- allocator uprobes */

/* ---------------------------------------------------------------- targets */

/* ---------------------------------------------------------------- the ring buffer */

int tracer_start(struct tracer *t)
{
	return t->child ? launch_release(t) : 0;
}

void tracer_set_tick(struct tracer *t, double interval_s, void (*tick)(void *ctx))
{
	t->tick_ns = (uint64_t)(interval_s * 1e9);
	t->tick = tick;
}

void tracer_set_idle(struct tracer *t, void (*idle)(void *ctx))
{
	t->idle = idle;
}

void tracer_flush(struct tracer *t)
{
	ring_buffer__consume(t->rb);
	sample_report(t);
}

/*
 * hist: each syscall histogram BPF kept, its per-CPU copies summed, handed on as a record at the
 * end. 0, or -1 after saying why the map could not be read.
 */
static int tracer_emit_sys_hists(struct tracer *t)
{
	int fd = bpf_map__fd(t->skel->maps.sys_hists), ncpu = libbpf_num_possible_cpus();
	struct ht_sys_hist_key key, next, *prev = NULL;
	struct ht_sys_hist *vals;
	struct ht_sys_hist_rec rec;

	vals = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*vals)) : NULL;
	if (!vals) {
		say("cannot read the syscall histograms kept in BPF");
		return -1;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.hdr = (struct ht_hdr){ .type = HT_REC_SYS_HIST,
					   .size = sizeof(rec),
					   .ts_ns = tracer_now_ns(),
					   .pid = key.tgid,
					   .tid = key.tgid };
		rec.key = key;
		rec.hist.min = UINT64_MAX;
		for (int c = 0; c < ncpu; c++) {
			if (!vals[c].total)
				continue;
			for (int b = 0; b < HT_HIST_BUCKETS; b++)
				rec.hist.counts[b] += vals[c].counts[b];
			rec.hist.total += vals[c].total;
			rec.hist.sum += vals[c].sum;
			if (vals[c].min < rec.hist.min)
				rec.hist.min = vals[c].min;
			if (vals[c].max > rec.hist.max)
				rec.hist.max = vals[c].max;
		}
		if (rec.hist.total && key.sys && key.sys < HT_SYS_MAX)
			t->cb(t->cb_ctx, &rec.hdr);
	}
	free(vals);
	return 0;
}

/* -v: what tracing cost heaptrail itself so far: CPU time and peak RSS (beside the target's). */
static void tracer_print_cost(const struct tracer *t)
{
	struct rusage ru;
	double wall = (double)(tracer_now_ns() - t->start_ns) / 1e9;

	if (getrusage(RUSAGE_SELF, &ru))
		return;
	say("own cost: %.2f s user and %.2f s system CPU over %.2f s traced; peak RSS %ld KiB",
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, wall, ru.ru_maxrss);
	say("ring buffer: %" PRIu64 " records, %" PRIu64 " bytes, of which %" PRIu64 " in stacks",
	    t->ring_records, t->ring_bytes, t->ring_stack_bytes);
	if (t->opts.sample_bytes)
		say("sampling: %" PRIu64 " live blocks of ended processes swept from the table",
		    t->sample_swept);
	unwind_print_usage(t->unwind);
}

int tracer_run(struct tracer *t, double duration_s, volatile sig_atomic_t *stop)
{
	uint64_t deadline = duration_s > 0 ? tracer_now_ns() + (uint64_t)(duration_s * 1e9) : 0;
	uint64_t next_check = 0, next_tick = t->tick ? tracer_now_ns() + t->tick_ns : 0;
	bool targets_gone = false;

	t->stop = stop;
	while (!*stop && !t->error) {
		uint64_t now;

		if (ring_poll(t))
			return -1;
		ring_report_losses(t, false);
		sample_sweep(t);
		sample_report_often(t);
		if (t->idle)
			t->idle(t->cb_ctx);
		now = tracer_now_ns();
		if (deadline && now >= deadline)
			break;
		if (t->opts.watch_stdout && outpipe_reader_gone(STDOUT_FILENO)) {
			if (t->opts.verbose)
				say("the output's reader is gone: ending");
			t->cut_short = true;
			break;
		}
		if (t->tick && now >= next_tick) {
			/*
			 * Records wait unwoken in the buffer (ring_poll only sees wakeups): take
			 * them first, so that a report holds all that happened before it. The next
			 * comes an interval after this one ends: a report that took longer than
			 * the interval (symbols read for the first time under emulation) is not
			 * followed at once by one that saw nothing new.
			 */
			tracer_flush(t);
			t->tick(t->cb_ctx);
			next_tick = tracer_now_ns() + t->tick_ns;
		}
		if (!t->opts.all && now >= next_check) {
			/* An exit record may still be in the buffer: drain before deciding. */
			ring_buffer__consume(t->rb);
			targets_check(t);
			if (t->nalive == 0) {
				targets_gone = true;
				break;
			}
			next_check = now + 200 * 1000000ull;
		}
	}
	t->cut_short |= *stop;
	if (t->opts.want_kmem && !t->error && settle_kmem(t, targets_gone, stop))
		return -1;
	ring_buffer__consume(t->rb);
	ring_drain_fault_batches(t);
	sample_report(t);
	if (t->opts.want_vm && t->opts.sys_hists && tracer_emit_sys_hists(t))
		return -1;
	ring_report_losses(t, true);
	if (t->opts.verbose)
		tracer_print_cost(t);
	if (t->opts.verbose && !t->opts.all)
		say("targets were stopped %" PRIu64
		    " times (to have their mappings read, or a child until the probes were "
		    "shared), %.0f us on average, %.0f us at most",
		    t->holds, t->holds ? (double)t->hold_ns / (double)t->holds / 1e3 : 0.0,
		    (double)t->hold_max_ns / 1e3);
	return t->error ? -1 : 0;
}

/* ---------------------------------------------------------------- open / close */

/*
 * What this kernel offers, probed once: a kernel without what heaptrail needs is refused in
 * one line; -v lists the fallbacks taken for what it lacks. 0 or -1.
 */
static int tracer_check_kernel(struct tracer *t)
{
	char why[160];

	features_probe_caps(&t->caps);
	if (caps_refusal(&t->caps, why, sizeof(why))) {
		say("%s", why);
		return -1;
	}
	if (t->opts.verbose)
		caps_say_fallbacks(&t->caps);
	return 0;
}

/* The settings and program choices of the BPF object, before it is loaded: 0 or -1. */
static int tracer_configure(struct tracer *t)
{
	const struct tracer_opts *opts = &t->opts;

	t->skel->rodata->filter_targets = !opts->all;
	t->skel->rodata->capture_stacks = opts->capture_stacks;
	t->skel->rodata->capture_free_stacks = opts->capture_free_stacks;
	t->skel->rodata->floor_only = opts->floor_only;
	t->skel->rodata->hold_at_exec = opts->hold_at_exec;
	t->skel->rodata->free_returns = opts->want_vm;
	/* Symbols need each process's mappings read while it lives: stop targets once for it. */
	t->skel->rodata->hold_for_maps = opts->capture_stacks && !opts->all;
	if (opts->stack_depth)
		t->skel->rodata->stack_depth = opts->stack_depth;
	if (opts->stack_table_size &&
	    bpf_map__set_max_entries(t->skel->maps.stacks_sent, opts->stack_table_size)) {
		say("--stack-table-size %u: %s", opts->stack_table_size, strerror(errno));
		return -1;
	}
	t->skel->rodata->self_pid = (uint32_t)getpid();
	if (bpf_map__set_max_entries(t->skel->maps.events, (uint32_t)opts->ringbuf_size)) {
		say("--ringbuf-size %lu: %s", opts->ringbuf_size, strerror(errno));
		return -1;
	}
	bpf_program__set_autoload(t->skel->progs.page_fault_user, opts->want_fault);
	t->skel->rodata->fault_batching = opts->want_fault && opts->fault_batching;
	t->skel->rodata->sys_hist_only = opts->want_vm && opts->sys_hists;
	bpf_program__set_autoload(t->skel->progs.fault_switch,
				  opts->want_fault && opts->fault_batching);
	bpf_program__set_autoload(t->skel->progs.rss_stat, opts->want_rss);
	bpf_program__set_autoload(t->skel->progs.sys_enter, opts->want_vm);
	/* sys_exit also holds a forked child until the uprobes are shared (syscalls.bpf.c) */
	bpf_program__set_autoload(t->skel->progs.sys_exit,
				  opts->want_vm || (opts->want_alloc && !opts->all));
	t->uprobe_multi = opts->want_alloc && t->caps.have[CAPS_UPROBE_MULTI];
	/* without them, the fallback line said how they attach (tracer_check_kernel) */
	if (opts->verbose && t->uprobe_multi)
		say("allocator probes: uprobe_multi links, one per library");
	/* bpf_loop came after the cookies and before uprobe_multi: see alloc.bpf.c */
	t->compat = opts->want_alloc && !t->caps.have[CAPS_BPF_LOOP];
	bpf_program__set_autoload(t->skel->progs.alloc_enter,
				  opts->want_alloc && !t->uprobe_multi && !t->compat);
	bpf_program__set_autoload(t->skel->progs.alloc_return,
				  opts->want_alloc && !t->uprobe_multi && !t->compat);
	bpf_program__set_autoload(t->skel->progs.alloc_enter_compat, t->compat);
	bpf_program__set_autoload(t->skel->progs.alloc_return_compat, t->compat);
	bpf_program__set_autoload(t->skel->progs.alloc_enter_multi, t->uprobe_multi);
	return 0;
}

/* The unwinder the kernel allows: --unwind dwarf needs bpf_loop. 0 or -1. */
static int tracer_prepare_unwind(struct tracer *t)
{
	const struct tracer_opts *opts = &t->opts;
	enum unwind_mode mode = opts->unwind;

	if (!t->caps.have[CAPS_BPF_LOOP]) {
		if (mode == UNWIND_DWARF) {
			say("--unwind dwarf needs bpf_loop (Linux %s), which this kernel has not: "
			    "--unwind fp walks frame pointers only",
			    caps_since(CAPS_BPF_LOOP));
			return -1;
		}
		mode = UNWIND_FP;
	}
	t->unwind = unwind_prepare(t->skel, mode, opts->unwind_table_rows, opts->verbose);
	if (!t->unwind && mode != UNWIND_FP) {
		say("cannot set up the unwind tables: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int tracer_open(const struct tracer_opts *opts, tracer_event_fn cb, void *ctx, struct tracer **out)
{
	struct tracer *t;
	int err;

	*out = NULL;
	if (env_check(opts))
		return -1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->opts = *opts;
	t->cb = cb;
	t->cb_ctx = ctx;
	t->child_go_fd = t->child_err_fd = -1;
	t->held_fd = t->gate_fd = t->guard_sock = -1;
	t->child_status = -1;
	*out = t;
	libbpf_set_print(opts->verbose ? libbpf_verbose : libbpf_quiet);
	if (tracer_check_kernel(t))
		return -1;

	for (int i = 0; i < opts->npids; i++)
		if (targets_check_pid(opts->pids[i]))
			return -1;
	if (opts->want_alloc && uprobes_collect_libs(t))
		return -1;

	t->skel = heaptrail_bpf__open();
	if (!t->skel) {
		say("cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	if (tracer_configure(t))
		return -1;
	if (sample_prepare(t))
		return -1;
	t->hooks = hooks_prepare(t->skel, opts->want_vm, opts->verbose);
	t->kmem = kmem_prepare(t->skel, opts->want_kmem, opts->kmem_stacks, opts->kmem_table_size,
			       opts->verbose);
	if (opts->capture_stacks && tracer_prepare_unwind(t))
		return -1;
	features_release(); /* the kernel's BTF: read once, for the hooks and -k */
	if (opts->want_kmem && !t->kmem)
		return -1;
	bpf_program__set_autoload(t->skel->progs.alloc_return_multi, t->uprobe_multi);
	/* Small and before the programs exist: it must not hold what they hold. */
	if (guard_start(t))
		return -1;

	err = heaptrail_bpf__load(t->skel);
	if (err) {
		say("cannot load the BPF programs: %s%s", strerror(-err),
		    err == -EPERM ? " (not enough privilege, or locked down?)" : "");
		return -1;
	}
	guard_open_gate(t);
	if (t->unwind && unwind_loaded(t->unwind, t->skel))
		return -1;
	if (attach_sys_table(t))
		return -1;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), ring_on_record, t, NULL);
	if (!t->rb) {
		say("cannot set up the ring buffer: %s", strerror(errno));
		return -1;
	}
	t->start_ns = tracer_now_ns();
	sample_announce(t);
	if (attach_kernel(t) || guard_keep_links(t, t->links, t->nlinks))
		return -1;
	/* Nothing to hold a forked child for when the probes are shared or there are none. */
	t->skel->bss->shared_probes = opts->all || !opts->want_alloc;
	/* -a: the probes come alive together, once all are in (shared.h says why) */
	t->skel->bss->probes_armed = !opts->all;
	if (opts->all) {
		if (opts->want_alloc && uprobes_attach(t, -1))
			return -1;
		__atomic_store_n(&t->skel->bss->probes_armed, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (targets_attach_pids(t))
		return -1;
	if (opts->argv && launch_start(t))
		return -1;
	/* a thread from here on: the guard and the -c child are forked already */
	if (opts->want_alloc)
		uprobes_preload_shared(t);
	return 0;
}

void tracer_lost(struct tracer *t, uint64_t lost[HT_LOST_MAX])
{
	for (int k = 0; k < HT_LOST_MAX; k++)
		lost[k] = t->skel ? __atomic_load_n(&t->skel->bss->lost[k], __ATOMIC_RELAXED) : 0;
	/* Counted by the kernel itself, per program, rather than by our programs. */
	lost[HT_LOST_KMEM_NESTED] = t->kmem_nested;
	lost[HT_LOST_KMEM_FREE] += t->kmem_undelivered + t->kmem_unseen;
}

void tracer_unsend_stacks(struct tracer *t, const uint64_t *ids, size_t n)
{
	int fd = bpf_map__fd(t->skel->maps.stacks_sent);

	/* one at a time: a batch stops at the first id the LRU has let go already */
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &ids[i]);
}

uint64_t tracer_floor_hits(struct tracer *t)
{
	return t->skel ? __atomic_load_n(&t->skel->bss->floor_hits, __ATOMIC_RELAXED) : 0;
}

int tracer_child_status(struct tracer *t)
{
	return t->child_reaped ? t->child_status : -1;
}

uint64_t tracer_start_ns(struct tracer *t)
{
	return t->start_ns;
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	/*
	 * Nothing of ours may stay stopped once we are gone: the gate closes and every held
	 * process is continued. Our copies of the kernel-side links go; the guard's, and the
	 * uprobes it alone holds, detach the programs, and we wait for that unless the run was
	 * cut short (older kernels take seconds).
	 */
	guard_stop(t);
	for (int i = 0; i < t->nlinks; i++) {
		/*
		 * Cut short, ours are only closed (at exit): libbpf's detach would disable each
		 * perf event first, which takes the time we leave to the guard.
		 */
		if (t->cut_short)
			bpf_link__disconnect(t->links[i]);
		bpf_link__destroy(t->links[i]);
	}
	t->nlinks = 0;
	guard_free(t, !t->cut_short);
	compat_free(t); /* the guard had copies of these: the probes are gone with it */
	free(t->procs);
	pidset_free(&t->named);
	if (t->child_go_fd >= 0)
		close(t->child_go_fd); /* the child sees EOF and exits 127 */
	if (t->child_err_fd >= 0)
		close(t->child_err_fd);
	if (t->child && !t->child_reaped &&
	    waitpid(t->child, &t->child_status, WNOHANG) == t->child)
		t->child_reaped = true;
	free(t->links);
	ring_buffer__free(t->rb);
	heaptrail_bpf__destroy(t->skel);
	for (int i = 0; i < t->nlibs; i++)
		probes_free(t->libs[i]);
	hooks_free(t->hooks);
	kmem_free(t->kmem);
	unwind_free(t->unwind);
	features_release();
	free(t);
}
