/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command line: what every command shares (its target, and the option groups that feed the
 * tracer), and the table each command describes itself with, its own options among them.
 */
#ifndef HT_CLI_H
#define HT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_MAX_PIDS 64
#define CLI_MAX_LIBS 8

/* Exit statuses (DESIGN.md): */
#define EXIT_OK	     0
#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

/* What the shared option groups fill in; a command's own options live in its own file. */
struct cli {
	const char *command; /* trace, ... */
	const char *input;   /* -i: a recording instead of a live target */
	int argc;	     /* the command line, for the recording's metadata */
	char **args;
	bool all;
	bool kernel;	  /* -k: kernel allocators too */
	bool kernel_only; /* -k without a user target: kernel allocators, system-wide */
	unsigned kmem_table_size;
	pid_t pids[CLI_MAX_PIDS];
	int npids;
	char **argv; /* -c, split into words */
	const char *libs[CLI_MAX_LIBS];
	int nlibs;
	double duration;
	bool verbose;
	bool json;
	unsigned long ringbuf_size;
	unsigned stack_depth;
	unsigned stack_table_size;
	unsigned unwind;	    /* enum unwind_mode */
	unsigned unwind_table_rows; /* 0: the default */
	bool free_stacks;
	bool probe_at_entry;
	bool fault_stream;	    /* one record per fault (no batching in BPF), for comparison */
	unsigned long sample_bytes; /* --sample-bytes: 0, or the mean bytes between samples */
	unsigned sample_table_size; /* --sample-table-size; 0: the default */
};

/* The option groups a command can take besides its own. */
enum cli_group {
	CLI_TARGET = 1 << 0, /* -p -c -a -d -v --lib --ringbuf-size --probe-at-entry */
	CLI_INPUT = 1 << 1,  /* -i FILE */
	CLI_KERNEL = 1 << 2, /* -k --kmem-table-size */
	CLI_JSON = 1 << 3,   /* --json */
	CLI_STACKS = 1 << 4, /* --stack-depth --stack-table-size --unwind --unwind-table-size */
	CLI_FREE_STACKS = 1 << 5,	    /* --free-stacks */
	CLI_FAULTS = 1 << 6,		    /* --fault-stream */
	CLI_SAMPLE = 1 << 7,		    /* --sample-bytes --sample-table-size */
	CLI_TARGET_ALL_BY_DEFAULT = 1 << 8, /* no target given: -a (serve) */
};

struct cli_option {
	const char *name; /* the long form, without "--"; NULL ends a table */
	char short_name;  /* 0: long only */
	const char *arg;  /* the argument's name in --help; NULL: a flag */
	const char *help;
	int key;	/* handed to the parser */
	bool live_only; /* refused with -i: it only changes how a live target is traced */
};

/* A line of a command's Examples: in --help and the man page. */
struct cli_example {
	const char *line; /* after "heaptrail "; NULL ends a table */
	const char *what;
};

struct cli_command {
	const char *name;
	const char *summary;		  /* one line for heaptrail --help */
	const char *usage;		  /* what follows "heaptrail NAME" in its --help */
	unsigned groups;		  /* enum cli_group */
	const struct cli_option *options; /* its own */
	const struct cli_example *examples;
	/* One of its own options: 0, or an exit status after cli_usage_error(). */
	int (*parse)(int key, const char *arg);
	/* After every option, before tracing: 0, or an exit status after saying why. */
	int (*check)(const struct cli *cli);
	int (*run)(struct cli *cli);
};

/*
 * A command's entry, in its own file: CLI_COMMAND(leaks, "summary", "usage", groups) defines
 * cmd_leaks_command from leaks_options, leaks_examples, leaks_parse and cmd_leaks; more fields
 * (.check) after.
 */
#define CLI_COMMAND(id, summary_, usage_, groups_, ...)                                            \
	const struct cli_command cmd_##id##_command = { .name = #id,                               \
							.summary = summary_,                       \
							.usage = usage_,                           \
							.groups = groups_,                         \
							.options = id##_options,                   \
							.examples = id##_examples,                 \
							.parse = id##_parse,                       \
							.run = cmd_##id,                           \
							__VA_ARGS__ }

/*
 * Parses argv (command name first) against the command table. Returns 0 with *cmd set, or an
 * exit status after printing why (or the help that was asked for: then *cmd is NULL).
 */
int cli_parse(int argc, char **argv, const struct cli_command *const *cmds, struct cli *cli,
	      const struct cli_command **cmd);
void cli_free(struct cli *cli);

/* Says the message (say) and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The end of a command's output on stdout: status, or EXIT_RUNTIME after one line saying why
 * it could not be written. A reader that went away (`heaptrail trace | head -1`) is no error.
 */
int cli_output_finish(int status);
/* Parsers for options' arguments; each says what was wrong on failure (EXIT_USAGE). */
int cli_parse_count(const char *opt, const char *arg, unsigned long max, unsigned *out);
int cli_parse_seconds(const char *opt, const char *arg, double *out);

#endif
