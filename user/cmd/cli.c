// SPDX-License-Identifier: GPL-2.0-only
/* argp parsing of heaptrail's options, and their checks. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wordexp.h>
#include "cmd/cli.h"
#include "record/event.h"

const char *argp_program_version = "heaptrail 0.1";
const char *argp_program_bug_address = NULL;

enum {
	OPT_RINGBUF = 1000,
	OPT_LIB,
	OPT_TOP,
	OPT_MIN_AGE,
	OPT_INTERVAL,
	OPT_STACK_DEPTH,
	OPT_STACK_TABLE,
	OPT_FREE_STACKS,
	OPT_PROBE_AT_ENTRY,
	OPT_FLOOR,
	OPT_BY_STACK,
	OPT_LINEAR,
	OPT_PERFETTO,
	OPT_CSV,
	OPT_SVG,
	OPT_KMEM_TABLE,
	OPT_FAULT_STREAM,
};

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "Target (exactly one):", 1 },
	{ "pid", 'p', "PID[,PID...]", 0, "Attach to running processes", 1 },
	{ "command", 'c', "'CMD ARGS'", 0, "Start CMD and trace it from its first instruction", 1 },
	{ "all", 'a', NULL, 0, "Trace every process", 1 },
	{ "input", 'i', "FILE", 0, "Report from a recording instead of a live target", 1 },
	{ "kernel", 'k', NULL, 0,
	  "Kernel allocators too (kmalloc, slab caches, pages, vmalloc, percpu); alone: "
	  "system-wide, kernel only; with -p/-c: only allocations made in their context",
	  1 },
	{ NULL, 0, NULL, 0, "Options:", 2 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long", 2 },
	{ "verbose", 'v', NULL, 0, "Say which attach points were used and why others were not", 2 },
	{ "json", 'j', NULL, 0, "JSON output (JSON Lines for trace)", 2 },
	{ "output", 'o', "FILE", 0, "record: the file to write (created with mode 0600)", 2 },
	{ "events", 'e', "LIST", 0,
	  "Event kinds to show (trace): names (malloc,free,mmap,fault,...) or groups "
	  "(alloc,vm,process,all); default all but fault and rss",
	  2 },
	{ "lib", OPT_LIB, "PATH", 0,
	  "Also probe the allocator symbols of this library or static binary (repeatable)", 2 },
	{ "floor", OPT_FLOOR, NULL, 0,
	  "Benchmarks: the same allocator probes, counting hits only (no events, no report)", 2 },
	{ "probe-at-entry", OPT_PROBE_AT_ENTRY, NULL, 0,
	  "Put every allocator probe on its function's first instruction (no placement)", 2 },
	{ "fault-stream", OPT_FAULT_STREAM, NULL, 0,
	  "One ring-buffer record per page fault instead of batches made in BPF (timeline, hist, "
	  "record; for comparison)",
	  2 },
	{ "kmem-table-size", OPT_KMEM_TABLE, "N", 0,
	  "Live kernel allocations followed in BPF (default 262144; more are counted lost)", 2 },
	{ "ringbuf-size", OPT_RINGBUF, "BYTES", 0,
	  "Ring buffer size, a power of two >= 4096, K/M suffixes allowed (default 16M)", 2 },
	{ NULL, 0, NULL, 0, "leaks:", 3 },
	{ "top", OPT_TOP, "N", 0, "Stacks shown per process, largest first (default 10)", 3 },
	{ "min-age", OPT_MIN_AGE, "MS", 0,
	  "Only allocations at least this old at the end of tracing (default 0)", 3 },
	{ "interval", OPT_INTERVAL, "SECONDS", 0,
	  "Also report every SECONDS, with each stack's growth since the previous report", 3 },
	{ "stack-depth", OPT_STACK_DEPTH, "N", 0, "Frames captured per stack, 1-127 (default 127)",
	  3 },
	{ "stack-table-size", OPT_STACK_TABLE, "N", 0,
	  "Stack ids remembered in the kernel as already sent (default 16384)", 3 },
	{ "free-stacks", OPT_FREE_STACKS, NULL, 0,
	  "Capture the stacks of frees too, so that double frees show theirs (costs a stack walk "
	  "per free)",
	  3 },
	{ NULL, 0, NULL, 0, "hist:", 4 },
	{ "by-stack", OPT_BY_STACK, NULL, 0, "Also allocation sizes per call site (--top of them)",
	  4 },
	{ "linear", OPT_LINEAR, "STEP", 0, "Linear buckets STEP wide instead of powers of two", 4 },
	{ NULL, 0, NULL, 0, "timeline:", 5 },
	{ "perfetto", OPT_PERFETTO, "FILE", 0,
	  "Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing", 5 },
	{ "csv", OPT_CSV, "FILE", 0, "Every series point as CSV rows", 5 },
	{ "svg", OPT_SVG, "FILE", 0, "A chart per process", 5 },
	{ 0 },
};

static const char doc[] =
	"heaptrail -- trace memory allocation: allocator calls, brk/mmap and friends, page faults, "
	"RSS\v"
	"COMMANDS:\n"
	"  trace      live event stream, one line (or one JSON object) per event\n"
	"  leaks      live allocations at the end, grouped by stack, largest first\n"
	"  hist       sizes, lifetimes, syscall latencies, mmap sizes, faults\n"
	"  timeline   address space, heap, live bytes, RSS and faults over time\n"
	"  record     everything the reports need, into a file (-o FILE); then -i FILE\n"
	"\n"
	"EXAMPLES:\n"
	"  heaptrail trace -c './myprog arg'        trace a command from its first instruction\n"
	"  heaptrail trace -p 1234 -e alloc --json  allocator calls of pid 1234 as JSON Lines\n"
	"  heaptrail trace -a -e mmap,munmap -d 5   every process's mmap/munmap for 5 seconds\n"
	"  heaptrail leaks -c ./myprog --top 5      the 5 largest leaking stacks at exit\n"
	"  heaptrail leaks -p 1234 --interval 10    a report every 10 s with growth per stack\n"
	"  heaptrail leaks -k -d 30 --min-age 5000  kernel allocations outstanding for 5 s+\n"
	"  heaptrail hist -k -c './myprog'          kernel allocations made by a command\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "heaptrail: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see heaptrail --help)\n");
	return EXIT_USAGE;
}

static int parse_pids(struct cli *cli, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;

	if (!copy)
		return EXIT_RUNTIME;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v;

		errno = 0;
		v = strtol(tok, &end, 10);
		if (errno || *end || v <= 0 || v > INT_MAX) {
			usage_error("invalid pid '%s'", tok);
			free(copy);
			return EXIT_USAGE;
		}
		if (cli->npids == CLI_MAX_PIDS) {
			free(copy);
			return usage_error("too many pids%s", "");
		}
		cli->pids[cli->npids++] = (pid_t)v;
	}
	free(copy);
	if (!cli->npids)
		return usage_error("invalid pid list '%s'", arg);
	return 0;
}

static int parse_size(const char *arg, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* The command string is split like a shell would, without running anything. */
static int split_command(struct cli *cli, const char *arg)
{
	wordexp_t we;
	int err = wordexp(arg, &we, WRDE_NOCMD | WRDE_UNDEF);

	if (err || we.we_wordc == 0) {
		if (!err)
			wordfree(&we);
		return usage_error("cannot parse the command '%s'", arg);
	}
	cli->argv = calloc(we.we_wordc + 1, sizeof(char *));
	if (!cli->argv) {
		wordfree(&we);
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < we.we_wordc; i++)
		cli->argv[i] = strdup(we.we_wordv[i]);
	wordfree(&we);
	return 0;
}

struct parse_state {
	struct cli *cli;
	int status;
	int ntargets;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct cli *cli = ps->cli;
	const char *bad;
	char *end;

	if (ps->status)
		return 0;
	switch (key) {
	case 'p':
		ps->ntargets++;
		ps->status = parse_pids(cli, arg);
		break;
	case 'c':
		ps->ntargets++;
		ps->status = split_command(cli, arg);
		break;
	case 'a':
		ps->ntargets++;
		cli->all = true;
		break;
	case 'i':
		ps->ntargets++;
		cli->input = arg;
		break;
	case 'k':
		cli->kernel = true;
		break;
	case 'o':
		cli->output = arg;
		break;
	case 'd':
		errno = 0;
		cli->duration = strtod(arg, &end);
		if (errno || *end || cli->duration <= 0)
			ps->status = usage_error("invalid duration '%s'", arg);
		break;
	case 'v':
		cli->verbose = true;
		break;
	case 'j':
		cli->json = true;
		break;
	case 'e':
		if (ht_kinds_parse(arg, &cli->kinds, &bad))
			ps->status = usage_error(
				*bad ? "unknown event kind '%s'" : "empty event list%s", bad);
		break;
	case OPT_LIB:
		if (cli->nlibs == CLI_MAX_LIBS)
			ps->status = usage_error("too many --lib options%s", "");
		else
			cli->libs[cli->nlibs++] = arg;
		break;
	case OPT_RINGBUF:
		if (parse_size(arg, &cli->ringbuf_size) || cli->ringbuf_size < 4096 ||
		    (cli->ringbuf_size & (cli->ringbuf_size - 1)) ||
		    cli->ringbuf_size > (1ul << 30))
			ps->status = usage_error("--ringbuf-size '%s': want a power of two between "
						 "4096 and 1G",
						 arg);
		break;
	case OPT_TOP:
	case OPT_STACK_DEPTH:
	case OPT_KMEM_TABLE:
	case OPT_STACK_TABLE: {
		unsigned long v;

		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || !*arg || v == 0 || v > (1ul << 24) ||
		    (key == OPT_STACK_DEPTH && v > HT_MAX_STACK_DEPTH)) {
			ps->status = usage_error("invalid number '%s'", arg);
			break;
		}
		if (key == OPT_TOP)
			cli->top = (unsigned)v;
		else if (key == OPT_STACK_DEPTH)
			cli->stack_depth = (unsigned)v;
		else if (key == OPT_KMEM_TABLE)
			cli->kmem_table_size = (unsigned)v;
		else
			cli->stack_table_size = (unsigned)v;
		break;
	}
	case OPT_PERFETTO:
		cli->perfetto = arg;
		break;
	case OPT_CSV:
		cli->csv = arg;
		break;
	case OPT_SVG:
		cli->svg = arg;
		break;
	case OPT_BY_STACK:
		cli->by_stack = true;
		break;
	case OPT_LINEAR:
		errno = 0;
		cli->linear = strtoull(arg, &end, 0);
		if (errno || *end || !*arg || cli->linear == 0)
			ps->status = usage_error("invalid --linear '%s'", arg);
		break;
	case OPT_FLOOR:
		cli->floor = true;
		break;
	case OPT_FAULT_STREAM:
		cli->fault_stream = true;
		break;
	case OPT_PROBE_AT_ENTRY:
		cli->probe_at_entry = true;
		break;
	case OPT_FREE_STACKS:
		cli->free_stacks = true;
		break;
	case OPT_MIN_AGE: {
		double ms;

		errno = 0;
		ms = strtod(arg, &end);
		if (errno || *end || !*arg || ms < 0)
			ps->status = usage_error("invalid --min-age '%s'", arg);
		else
			cli->min_age_ns = (uint64_t)(ms * 1e6);
		break;
	}
	case OPT_INTERVAL:
		errno = 0;
		cli->interval = strtod(arg, &end);
		if (errno || *end || cli->interval <= 0)
			ps->status = usage_error("invalid --interval '%s'", arg);
		break;
	case ARGP_KEY_ARG:
		ps->status = usage_error("unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (cli->kernel && ps->ntargets == 0) {
			/* -k alone: the kernel's allocations, whoever makes them */
			ps->ntargets = 1;
			cli->all = true;
			cli->kernel_only = true;
		}
		if (cli->kernel && !strcmp(cli->command, "timeline"))
			ps->status = usage_error("timeline does not take -k%s", "");
		else if (ps->ntargets != 1)
			ps->status =
				usage_error("give exactly one target: -p PID, -c 'CMD', -a, -k or "
					    "-i FILE%s",
					    "");
		else if (!strcmp(cli->command, "record") && (cli->input || !cli->output))
			ps->status = usage_error("record needs a live target and -o FILE%s", "");
		else if (strcmp(cli->command, "record") && cli->output)
			ps->status = usage_error("-o FILE is for record%s", "");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct cli *cli)
{
	static const struct argp argp = { options, parse_opt, "COMMAND TARGET [OPTION...]",
					  doc,	   NULL,      NULL,
					  NULL };
	struct parse_state ps = { .cli = cli };
	int idx;

	memset(cli, 0, sizeof(*cli));
	cli->ringbuf_size = 16ul << 20;
	cli->top = 10;
	cli->stack_depth = HT_MAX_STACK_DEPTH;
	cli->stack_table_size = 16384;
	cli->kinds = HT_KINDS_ALL & ~(HT_KIND_BIT(HT_K_FAULT) | HT_KIND_BIT(HT_K_RSS));
	argp_err_exit_status = EXIT_USAGE;
	/* The command comes first, options after it; --help and --version need none. */
	if (argc < 2)
		return usage_error("missing command%s", "");
	if (argv[1][0] == '-') {
		static const char *const info[] = { "--help", "-?", "--usage", "--version", "-V" };

		for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++)
			if (!strcmp(argv[1], info[i]))
				argp_parse(&argp, 2, argv, 0, NULL, &ps); /* prints, exits 0 */
		return usage_error("missing command before '%s'", argv[1]);
	}
	cli->command = argv[1];
	cli->argc = argc;
	cli->args = argv;
	argv[1] = argv[0];
	if (argp_parse(&argp, argc - 1, argv + 1, 0, &idx, &ps))
		return EXIT_USAGE;
	return ps.status;
}

void cli_free(struct cli *cli)
{
	if (cli->argv) {
		for (char **a = cli->argv; *a; a++)
			free(*a);
		free(cli->argv);
	}
}
