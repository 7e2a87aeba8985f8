/* SPDX-License-Identifier: GPL-2.0-only */
/* The command line shared by every heaptrail command: target, duration, verbosity, output. */
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

struct cli {
	const char *command; /* trace, ... */
	const char *input;   /* -i: a recording instead of a live target */
	const char *output;  /* record -o */
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
	uint64_t kinds; /* -e */
	/* leaks */
	unsigned top; /* stacks per process */
	uint64_t min_age_ns;
	double interval;
	unsigned stack_depth;
	unsigned stack_table_size;
	bool free_stacks;
	bool probe_at_entry;
	bool fault_stream; /* one record per fault (no batching in BPF), for comparison */
	bool floor;
	/* hist */
	bool by_stack;
	uint64_t linear; /* bucket width; 0: log2 buckets */
	/* timeline */
	const char *perfetto, *csv, *svg;
};

/* Parses argv (command name first). Returns 0, or an exit status after printing why. */
int cli_parse(int argc, char **argv, struct cli *cli);
void cli_free(struct cli *cli);

#endif
