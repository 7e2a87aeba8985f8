/* SPDX-License-Identifier: GPL-2.0-only */
/* heaptrail's commands: each returns the process exit status. */
#ifndef HT_COMMANDS_H
#define HT_COMMANDS_H

#include "cmd/cli.h"
#include "source/live/tracer.h"

/* The tracer options every command takes from the command line: target, libs, buffer. */
static inline struct tracer_opts tracer_opts_of(const struct cli *cli)
{
	return (struct tracer_opts){
		.all = cli->all,
		.pids = cli->pids,
		.npids = cli->npids,
		.argv = cli->argv,
		.libs = cli->libs,
		.nlibs = cli->nlibs,
		.ringbuf_size = cli->ringbuf_size,
		.probe_at_entry = cli->probe_at_entry,
		.stack_depth = cli->stack_depth, /* when a command captures stacks */
		.stack_table_size = cli->stack_table_size,
		.unwind = (enum unwind_mode)cli->unwind,
		.unwind_table_rows = cli->unwind_table_rows,
		.capture_free_stacks = cli->free_stacks,
		.verbose = cli->verbose,
		.watch_stdout = true, /* but record, which writes a file */
		.want_kmem = cli->kernel && !cli->input,
		.kmem_table_size = cli->kmem_table_size,
		.sample_bytes = cli->sample_bytes,
		.sample_table_size = cli->sample_table_size,
	};
}

int cmd_trace(struct cli *cli);
int cmd_leaks(struct cli *cli);
int cmd_hist(struct cli *cli);
int cmd_record(struct cli *cli);
int cmd_timeline(struct cli *cli);
int cmd_report(struct cli *cli);
int cmd_serve(struct cli *cli);
/* `leaks --html PATH` without the leaks report itself: what `report` runs (leaks.c). */
int leaks_page(struct cli *cli, const char *path);

/* Each command's name, options and handler, in its own file. */
extern const struct cli_command cmd_trace_command, cmd_leaks_command, cmd_hist_command,
	cmd_timeline_command, cmd_record_command, cmd_report_command, cmd_serve_command;

#endif
