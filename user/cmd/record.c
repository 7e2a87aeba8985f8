// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail record TARGET -o FILE`: everything the reports need, into a file they read back
 * with -i: allocator calls with their stacks, memory syscalls, faults, RSS, process lifecycle,
 * losses, and each process's mappings read while it lived (MAPS records: the source's
 * snapshots, and the ones the symbolizer reads when a stack leaves the modules it knows), with
 * the build-ids of the files in them (BUILD_ID records).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "output/json.h"
#include "symbols/ksyms.h"
#include "model/model.h"
#include "source/file/recfile.h"
#include "symbols/slabs.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "util/say.h"

/* record's own option: the file. */
static const char *record_output;

enum { RECORD_OPT_OUTPUT = 'o' };

static const struct cli_option record_options[] = {
	{ "output", 'o', "FILE", "The file to write (created with mode 0600)", RECORD_OPT_OUTPUT,
	  false },
	{ NULL },
};

static int record_parse(int key, const char *arg)
{
	if (key == RECORD_OPT_OUTPUT)
		record_output = arg;
	return 0;
}

static int record_check(const struct cli *cli)
{
	if (!record_output)
		return cli_usage_error("record needs -o FILE");
	return 0;
}

static const struct cli_example record_examples[] = {
	{ "record -o run.htr -c './myprog'", "everything, into a file" },
	{ "leaks -i run.htr", "then any report from it, here or elsewhere" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(record, "everything the reports need, into a file (-o FILE); then -i FILE",
	    "TARGET -o FILE [OPTION...]",
	    CLI_TARGET | CLI_KERNEL | CLI_STACKS | CLI_FREE_STACKS | CLI_FAULTS | CLI_SAMPLE,
	    .check = record_check);

struct record_ctx {
	struct cli *cli;
	struct recfile_writer *w;
	struct model *model;
	struct symbolizer *sym;
	uint64_t records, last_ts;
	uint64_t lost[HT_LOST_MAX];
	int error;
};

static void put(struct record_ctx *rc, const struct ht_hdr *rec)
{
	if (rc->error)
		return;
	if (recfile_write(rc->w, rec)) {
		rc->error = 1;
		source_request_stop(); /* disk full: stop, keep what was written */
		return;
	}
	rc->records++;
}

static int put_one(void *ctx, const struct ht_hdr *rec)
{
	struct record_ctx *rc = ctx;

	put(rc, rec);
	return rc->error;
}

/* Text as records of its type (MAPS, KSYMS, SLABS). */
static void put_text(struct record_ctx *rc, uint16_t type, uint32_t pid, uint64_t ts,
		     const char *text, size_t len)
{
	if (!rc->error && ht_text_records(type, pid, ts, text, len, put_one, rc))
		rc->error = 1;
}

/* A snapshot of /proc/PID/maps, for symbols from the file. */
static void on_snapshot(void *ctx, uint32_t pid, const char *text, size_t len)
{
	struct record_ctx *rc = ctx;

	put_text(rc, HT_REC_MAPS, pid, rc->last_ts, text, len);
}

/* The build-id of a file a stack was walked through: -i elsewhere finds it by that. */
static void on_build_id(void *ctx, const struct sym_build_id *b)
{
	struct record_ctx *rc = ctx;
	struct ht_build_id rec = {
		.hdr = { .type = HT_REC_BUILD_ID, .size = sizeof(rec), .ts_ns = rc->last_ts },
		.inode = b->inode,
		.dev_major = b->dev_major,
		.dev_minor = b->dev_minor,
		.len = (uint32_t)b->len
	};

	memcpy(rec.id, b->id, b->len);
	put(rc, &rec.hdr);
}

/*
 * Kernel stacks are symbolized from the recording machine's /proc/kallsyms (addresses move
 * with every boot): its text goes into the file first, as KSYMS records.
 */
static int put_ksyms(struct record_ctx *rc)
{
	struct ksyms *ks = ksyms_new();
	const char *text;
	size_t len;

	if (!ks || ksyms_load_proc(ks)) {
		say("cannot read /proc/kallsyms: the recording's kernel stacks will show addresses "
		    "only");
		ksyms_free(ks);
		return 0;
	}
	text = ksyms_text(ks, &len);
	put_text(rc, HT_REC_KSYMS, 0, 0, text, len);
	ksyms_free(ks);
	return rc->error ? -1 : 0;
}

/* Which slab caches the kernel merged, so that a file names them as live reports do. */
static int put_slabs(struct record_ctx *rc)
{
	struct slabs *sl = slabs_new();
	const char *text;
	size_t len;

	if (sl && !slabs_load_sys(sl)) {
		text = slabs_text(sl, &len);
		if (text)
			put_text(rc, HT_REC_SLABS, 0, 0, text, len);
	}
	slabs_free(sl);
	return rc->error ? -1 : 0;
}

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct record_ctx *rc = ctx;

	if (rec->ts_ns > rc->last_ts)
		rc->last_ts = rec->ts_ns;
	if (rec->type == HT_REC_LOST)
		rc->lost[((const struct ht_lost *)rec)->kind] +=
			((const struct ht_lost *)rec)->count;
	/* holds are the live source's business */
	if (rec->type != HT_REC_HELD)
		put(rc, rec);
	/* the model keys processes; mappings read now go into the file after the record */
	model_apply(rc->model, rec);
	report_follow_modules(rc->sym, rc->model, rec);
}

/* What the file says about itself: enough to know where and how it was made. */
static char *metadata(struct cli *cli)
{
	struct utsname u;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	if (!f)
		return NULL;
	uname(&u);
	json_init(&j, f);
	json_object_begin(&j);
	json_kv_string(&j, "format", "heaptrail recording");
	json_kv_u64(&j, "format_version", RECFILE_VERSION);
	json_kv_string(&j, "tool_version", "heaptrail 0.1");
	json_kv_string(&j, "kernel", u.release);
	json_kv_string(&j, "arch", u.machine);
	json_kv_string(&j, "clock", "CLOCK_MONOTONIC");
	json_kv_u64(&j, "created_unix", (uint64_t)time(NULL));
	json_key(&j, "command_line");
	json_array_begin(&j);
	json_string(&j, "heaptrail");
	json_string(&j, cli->command);
	for (int i = 2; i < cli->argc; i++)
		json_string(&j, cli->args[i]);
	json_array_end(&j);
	json_object_end(&j);
	fclose(f);
	return buf;
}

int cmd_record(struct cli *cli)
{
	struct record_ctx rc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, true, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;
	uint64_t total_lost = 0;
	char *meta = metadata(cli);

	o.want_alloc = o.want_vm = o.want_fault = o.want_rss = !cli->kernel_only;
	o.watch_stdout = false;
	o.fault_batching = !cli->fault_stream;
	o.capture_stacks = !cli->kernel_only;
	o.kmem_stacks = cli->kernel;
	/* the first mappings read of a process are then exactly its exec's: timeline -i starts there */
	o.hold_at_exec = true;
	o.sample_totals_often = true; /* the recording may become a timeline */
	rc.model = model_new();
	rc.sym = symbolize_new();
	if (!meta || !rc.model || !rc.sym)
		goto out;
	symbolize_on_snapshot(rc.sym, on_snapshot, &rc);
	symbolize_on_build_id(rc.sym, on_build_id, &rc);
	rc.w = recfile_create(record_output, meta);
	if (!rc.w || (cli->kernel && (put_ksyms(&rc) || put_slabs(&rc))))
		goto out;
	if (source_open(&so, on_event, &rc, "recording; Ctrl-C to stop", &src) || source_run(src))
		goto out;
	status = EXIT_OK;
out:
	source_close(src); /* its last records come through on_event */
	if (rc.w && recfile_close(rc.w))
		rc.error = 1;
	if (rc.error)
		status = EXIT_RUNTIME;
	if (rc.w) {
		for (int k = 0; k < HT_LOST_MAX; k++)
			total_lost += rc.lost[k];
		say("recorded %" PRIu64 " records to %s%s; lost events: %s", rc.records,
		    record_output, rc.error ? " (cut short by a write error)" : "",
		    total_lost ? "see the lost records" : "none");
	}
	symbolize_free(rc.sym);
	model_free(rc.model);
	free(meta);
	return status;
}
