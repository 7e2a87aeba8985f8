// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command line: the option groups commands share, one parse loop over the chosen command's
 * options, and --help. Every command's and group's option is known to the parser, so that one
 * meant for another command is refused by name rather than reported as unknown.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wordexp.h>
#include <unistd.h>
#include "cmd/cli.h"
#include "source/live/unwind.h"
#include "heaptrail.h"
#include "util/outpipe.h"
#include "util/say.h"

#define CLI_VERSION "heaptrail 0.1"

enum {
	OPT_PID = 'p',
	OPT_COMMAND = 'c',
	OPT_ALL = 'a',
	OPT_INPUT = 'i',
	OPT_KERNEL = 'k',
	OPT_DURATION = 'd',
	OPT_VERBOSE = 'v',
	OPT_JSON = 'j',
	OPT_LIB = 1000,
	OPT_RINGBUF,
	OPT_PROBE_AT_ENTRY,
	OPT_KMEM_TABLE,
	OPT_STACK_DEPTH,
	OPT_STACK_TABLE,
	OPT_UNWIND,
	OPT_UNWIND_TABLE,
	OPT_FREE_STACKS,
	OPT_FAULT_STREAM,
	OPT_SAMPLE_BYTES,
	OPT_SAMPLE_TABLE,
};

static const struct cli_option target_options[] = {
	{ "pid", 'p', "PID[,PID...]", "Attach to running processes", OPT_PID, false },
	{ "command", 'c', "'CMD ARGS'", "Start CMD and trace it from its first instruction",
	  OPT_COMMAND, false },
	{ "all", 'a', NULL, "Trace every process", OPT_ALL, false },
	{ "duration", 'd', "SECONDS", "Stop after this long", OPT_DURATION, true },
	{ "verbose", 'v', NULL, "Say which attach points were used and why others were not",
	  OPT_VERBOSE, false },
	{ "lib", 0, "PATH",
	  "Also probe the allocator symbols of this library or static binary (repeatable)", OPT_LIB,
	  false },
	{ "ringbuf-size", 0, "BYTES",
	  "Ring buffer size, a power of two >= 4096, K/M suffixes allowed (default 16M)",
	  OPT_RINGBUF, true },
	{ "probe-at-entry", 0, NULL,
	  "Put every allocator probe on its function's first instruction (no placement)",
	  OPT_PROBE_AT_ENTRY, true },
	{ NULL },
};

static const struct cli_option input_options[] = {
	{ "input", 'i', "FILE", "Report from a recording instead of a live target", OPT_INPUT,
	  false },
	{ NULL },
};

static const struct cli_option kernel_options[] = {
	{ "kernel", 'k', NULL,
	  "Kernel allocators too (kmalloc, slab caches, pages, vmalloc, percpu); alone: "
	  "system-wide, kernel only; with -p/-c: only allocations made in their context",
	  OPT_KERNEL, false },
	{ "kmem-table-size", 0, "N",
	  "Live kernel allocations followed in BPF (default 262144; more are counted lost)",
	  OPT_KMEM_TABLE, true },
	{ NULL },
};

static const struct cli_option json_options[] = {
	{ "json", 'j', NULL, "JSON output", OPT_JSON, false },
	{ NULL },
};

static const struct cli_option stack_options[] = {
	{ "stack-depth", 0, "N", "Frames captured per stack, 1-127 (default 127)", OPT_STACK_DEPTH,
	  false },
	{ "stack-table-size", 0, "N",
	  "Stack ids remembered in the kernel as already sent (default 16384)", OPT_STACK_TABLE,
	  true },
	{ "unwind", 0, "fp|dwarf|auto",
	  "How user stacks are walked: frame pointers, the modules' call-frame information, or "
	  "that only for processes with a module built without frame pointers (default auto)",
	  OPT_UNWIND, false },
	{ "unwind-table-size", 0, "ROWS",
	  "Unwind rows the kernel holds for every module seen, 8 bytes each (default 1048576)",
	  OPT_UNWIND_TABLE, true },
	{ NULL },
};

static const struct cli_option free_stack_options[] = {
	{ "free-stacks", 0, NULL,
	  "Capture the stacks of frees too, so that double frees show theirs (costs a stack walk "
	  "per free)",
	  OPT_FREE_STACKS, true },
	{ NULL },
};

static const struct cli_option fault_options[] = {
	{ "fault-stream", 0, NULL,
	  "One ring-buffer record per page fault instead of batches made in BPF (for comparison)",
	  OPT_FAULT_STREAM, true },
	{ NULL },
};

static const struct cli_option sample_options[] = {
	{ "sample-bytes", 0, "BYTES",
	  "Take the stacks of a sample of allocations, one per BYTES on average (K/M/G allowed), "
	  "and send only those: process totals stay exact, stacks' numbers are estimates",
	  OPT_SAMPLE_BYTES, true },
	{ "sample-table-size", 0, "N",
	  "Live allocations followed in the kernel when sampling, ~96 bytes each, preallocated "
	  "(default 262144; more are counted lost)",
	  OPT_SAMPLE_TABLE, true },
	{ NULL },
};

/* The groups in the order --help lists them. */
static const struct {
	unsigned group;
	const char *title;
	const struct cli_option *options;
} cli_groups[] = {
	{ CLI_TARGET, "Target (exactly one of -p, -c, -a)", target_options },
	{ CLI_INPUT, "Or from a recording", input_options },
	{ CLI_KERNEL, "Kernel allocators", kernel_options },
	{ CLI_JSON, "Output", json_options },
	{ CLI_STACKS, "Stacks", stack_options },
	{ CLI_FREE_STACKS, "Stacks", free_stack_options },
	{ CLI_FAULTS, "Page faults", fault_options },
	{ CLI_SAMPLE, "Sampling", sample_options },
};

#define CLI_NGROUPS (sizeof(cli_groups) / sizeof(cli_groups[0]))

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

int cli_parse_count(const char *opt, const char *arg, unsigned long max, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || *arg == '-' || v == 0 || v > max)
		return cli_usage_error("invalid number '%s' for %s: want 1 to %lu", arg, opt, max);
	*out = (unsigned)v;
	return 0;
}

int cli_parse_seconds(const char *opt, const char *arg, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || *end || !*arg || !(*out > 0))
		return cli_usage_error("invalid %s '%s': want a positive number of seconds", opt,
				       arg);
	return 0;
}

static int cli_parse_pids(struct cli *cli, const char *arg)
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
			cli_usage_error("invalid pid '%s'", tok);
			free(copy);
			return EXIT_USAGE;
		}
		if (cli->npids == CLI_MAX_PIDS) {
			free(copy);
			return cli_usage_error("too many pids (at most %d)", CLI_MAX_PIDS);
		}
		cli->pids[cli->npids++] = (pid_t)v;
	}
	free(copy);
	if (!cli->npids)
		return cli_usage_error("invalid pid list '%s'", arg);
	return 0;
}

static int cli_parse_size(const char *arg, unsigned long *out)
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
static int cli_split_command(struct cli *cli, const char *arg)
{
	wordexp_t we;
	int err = wordexp(arg, &we, WRDE_NOCMD | WRDE_UNDEF);

	if (err || we.we_wordc == 0) {
		if (!err)
			wordfree(&we);
		return cli_usage_error("cannot parse the command '%s'", arg);
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

/* One option of a shared group. */
static int cli_parse_group_option(struct cli *cli, int key, const char *arg, int *ntargets)
{
	switch (key) {
	case OPT_PID:
		(*ntargets)++;
		return cli_parse_pids(cli, arg);
	case OPT_COMMAND:
		(*ntargets)++;
		return cli_split_command(cli, arg);
	case OPT_ALL:
		(*ntargets)++;
		cli->all = true;
		return 0;
	case OPT_INPUT:
		(*ntargets)++;
		cli->input = arg;
		return 0;
	case OPT_KERNEL:
		cli->kernel = true;
		return 0;
	case OPT_DURATION:
		return cli_parse_seconds("duration", arg, &cli->duration);
	case OPT_VERBOSE:
		cli->verbose = true;
		return 0;
	case OPT_JSON:
		cli->json = true;
		return 0;
	case OPT_LIB:
		if (cli->nlibs == CLI_MAX_LIBS)
			return cli_usage_error("too many --lib options (at most %d)", CLI_MAX_LIBS);
		cli->libs[cli->nlibs++] = arg;
		return 0;
	case OPT_RINGBUF:
		if (cli_parse_size(arg, &cli->ringbuf_size) || cli->ringbuf_size < 4096 ||
		    (cli->ringbuf_size & (cli->ringbuf_size - 1)) ||
		    cli->ringbuf_size > (1ul << 30))
			return cli_usage_error("--ringbuf-size '%s': want a power of two between "
					       "4096 and 1G",
					       arg);
		return 0;
	case OPT_PROBE_AT_ENTRY:
		cli->probe_at_entry = true;
		return 0;
	case OPT_KMEM_TABLE:
		return cli_parse_count("--kmem-table-size", arg, 1ul << 24, &cli->kmem_table_size);
	case OPT_STACK_DEPTH:
		return cli_parse_count("--stack-depth", arg, HT_MAX_STACK_DEPTH, &cli->stack_depth);
	case OPT_STACK_TABLE:
		return cli_parse_count("--stack-table-size", arg, 1ul << 24,
				       &cli->stack_table_size);
	case OPT_UNWIND:
		if (!strcmp(arg, "auto"))
			cli->unwind = UNWIND_AUTO;
		else if (!strcmp(arg, "fp"))
			cli->unwind = UNWIND_FP;
		else if (!strcmp(arg, "dwarf"))
			cli->unwind = UNWIND_DWARF;
		else
			return cli_usage_error("--unwind '%s': want fp, dwarf or auto", arg);
		return 0;
	case OPT_UNWIND_TABLE:
		return cli_parse_count("--unwind-table-size", arg, 1ul << 26,
				       &cli->unwind_table_rows);
	case OPT_FREE_STACKS:
		cli->free_stacks = true;
		return 0;
	case OPT_FAULT_STREAM:
		cli->fault_stream = true;
		return 0;
	case OPT_SAMPLE_BYTES:
		if (cli_parse_size(arg, &cli->sample_bytes) || cli->sample_bytes == 0 ||
		    cli->sample_bytes > (1ul << 40))
			return cli_usage_error("--sample-bytes '%s': want 1 to 1T bytes, K/M/G "
					       "suffixes allowed",
					       arg);
		return 0;
	case OPT_SAMPLE_TABLE:
		return cli_parse_count("--sample-table-size", arg, 1ul << 26,
				       &cli->sample_table_size);
	}
	return cli_usage_error("internal error: option %d has no parser", key);
}

/*
 * Every option any command or group knows, so that getopt recognises them all; an entry
 * remembers where it came from (a group, or a command).
 */
struct cli_known {
	const struct cli_option *opt;
	unsigned group;		       /* 0: a command's own */
	const struct cli_command *cmd; /* its command, for its own options */
};

struct cli_table {
	struct cli_known *known;
	size_t n;
	struct option *longopts;
	char shortopts[128];
};

static int cli_table_add(struct cli_table *t, const struct cli_option *opts, unsigned group,
			 const struct cli_command *cmd)
{
	for (const struct cli_option *o = opts; o && o->name; o++) {
		struct cli_known *k = realloc(t->known, (t->n + 1) * sizeof(*k));

		if (!k)
			return -1;
		t->known = k;
		k[t->n++] = (struct cli_known){ o, group, cmd };
	}
	return 0;
}

static void cli_table_free(struct cli_table *t)
{
	free(t->known);
	free(t->longopts);
}

/*
 * getopt's tables: a long option returns 1000 + the index of its first entry, a short one its
 * letter (a letter means one option everywhere).
 */
static int cli_table_build(struct cli_table *t, const struct cli_command *const *cmds)
{
	size_t nlong = 0, ns = 0;

	memset(t, 0, sizeof(*t));
	for (size_t g = 0; g < CLI_NGROUPS; g++)
		if (cli_table_add(t, cli_groups[g].options, cli_groups[g].group, NULL))
			return -1;
	for (size_t c = 0; cmds[c]; c++)
		if (cli_table_add(t, cmds[c]->options, 0, cmds[c]))
			return -1;
	t->longopts = calloc(t->n + 3, sizeof(*t->longopts));
	if (!t->longopts)
		return -1;
	t->shortopts[ns++] = ':'; /* a missing argument returns ':', not '?' */
	for (size_t i = 0; i < t->n; i++) {
		const struct cli_option *o = t->known[i].opt;
		bool seen = false;

		for (size_t j = 0; j < nlong; j++)
			seen |= !strcmp(t->longopts[j].name, o->name);
		if (!seen)
			t->longopts[nlong++] =
				(struct option){ o->name, o->arg ? required_argument : no_argument,
						 NULL, 1000 + (int)i };
		if (o->short_name && !strchr(t->shortopts + 1, o->short_name) &&
		    ns + 3 < sizeof(t->shortopts)) {
			t->shortopts[ns++] = o->short_name;
			if (o->arg)
				t->shortopts[ns++] = ':';
		}
	}
	t->longopts[nlong++] = (struct option){ "help", no_argument, NULL, 'h' };
	t->longopts[nlong++] = (struct option){ "version", no_argument, NULL, 'V' };
	t->shortopts[ns++] = 'h';
	return 0;
}

/* Is k cmd's own entry (its option, or one of a group it takes)? */
static bool cli_owns(const struct cli_command *cmd, const struct cli_known *k)
{
	return k->group ? (cmd->groups & k->group) != 0 : k->cmd == cmd;
}

/* Does cmd take k: its own, or another command's option that cmd spells alike? */
static bool cli_takes(const struct cli_command *cmd, const struct cli_known *k)
{
	if (cli_owns(cmd, k))
		return true;
	if (k->group)
		return false;
	for (const struct cli_option *o = cmd->options; o && o->name; o++)
		if (!strcmp(o->name, k->opt->name))
			return true;
	return false;
}

/* The entry of this command for the option getopt returned (by name: --top is two commands'). */
static const struct cli_known *cli_table_find(const struct cli_table *t,
					      const struct cli_command *cmd, int ret)
{
	const struct cli_known *first = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const struct cli_known *k = &t->known[i];
		bool same = ret >= 1000 ? !strcmp(k->opt->name, t->known[ret - 1000].opt->name)
					: k->opt->short_name == ret;

		if (!same)
			continue;
		/* the command's own entry: another's of the same name has its own key */
		if (cli_owns(cmd, k))
			return k;
		if (!first)
			first = k;
	}
	return first;
}

static void cli_option_spelling(const struct cli_option *o, char *buf, size_t len)
{
	if (o->short_name)
		snprintf(buf, len, "-%c/--%s", o->short_name, o->name);
	else
		snprintf(buf, len, "--%s", o->name);
}

/* "leaks does not take --perfetto (timeline does)". */
static int cli_refuse(const struct cli_command *cmd, const struct cli_command *const *cmds,
		      const struct cli_known *k)
{
	char spelled[64], takers[128] = "";
	size_t used = 0;
	int n = 0;

	cli_option_spelling(k->opt, spelled, sizeof(spelled));
	for (size_t c = 0; cmds[c]; c++) {
		if (cmds[c] == cmd || !cli_takes(cmds[c], k))
			continue;
		used += snprintf(takers + used, sizeof(takers) - used, "%s%s", n++ ? ", " : "",
				 cmds[c]->name);
		if (used >= sizeof(takers))
			break;
	}
	return cli_usage_error("%s does not take %s (%s %s)", cmd->name, spelled,
			       n ? takers : "no command", n == 1 ? "does" : "do");
}

/* Prints text from column indent on, wrapped at width, ending with a newline. */
static void cli_help_wrap(const char *text, int indent, int width)
{
	int col = indent;

	while (*text) {
		int word = (int)strcspn(text, " ");

		if (col > indent && col + 1 + word > width) {
			printf("\n%*s", indent - 1, "");
			col = indent;
		}
		printf(" %.*s", word, text);
		col += 1 + word;
		text += word;
		text += strspn(text, " ");
	}
	printf("\n");
}

static void cli_help_options(const struct cli_option *opts)
{
	for (const struct cli_option *o = opts; o && o->name; o++) {
		char left[64];
		int n;

		if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->name);
		if (o->arg && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - n, " %s", o->arg);
		printf("  %-30s", left);
		cli_help_wrap(o->help, 33, 100);
	}
}

/* The first max of cmd's examples, the command lines aligned. */
static void cli_help_examples(const struct cli_command *cmd, size_t max)
{
	for (size_t i = 0; i < max && cmd->examples && cmd->examples[i].line; i++)
		printf("  heaptrail %-38s %s\n", cmd->examples[i].line, cmd->examples[i].what);
}

/*
 * Whether group g, among the groups a command takes, is the first of its title (two groups
 * share "Stacks"): listed under one heading.
 */
static bool cli_group_opens_title(unsigned groups, size_t g)
{
	return g == 0 || !(groups & cli_groups[g - 1].group) ||
	       strcmp(cli_groups[g].title, cli_groups[g - 1].title);
}

static void cli_help_command(const struct cli_command *cmd)
{
	printf("Usage: heaptrail %s %s\n%s\n", cmd->name, cmd->usage, cmd->summary);
	for (size_t g = 0; g < CLI_NGROUPS; g++) {
		if (!(cmd->groups & cli_groups[g].group))
			continue;
		if (cli_group_opens_title(cmd->groups, g))
			printf("\n%s:\n", cli_groups[g].title);
		cli_help_options(cli_groups[g].options);
	}
	if (cmd->options && cmd->options->name) {
		printf("\n%s:\n", cmd->name);
		cli_help_options(cmd->options);
	}
	printf("\nExamples:\n");
	cli_help_examples(cmd, SIZE_MAX);
	printf("\nExit status: 0 on success, 1 on a runtime error, 2 on bad usage.\n");
}

static void cli_help(const struct cli_command *const *cmds)
{
	printf("Usage: heaptrail COMMAND TARGET [OPTION...]\n"
	       "Trace memory allocation: allocator calls, brk/mmap and friends, page faults, RSS,\n"
	       "the kernel's allocators.\n\nCommands:\n");
	for (size_t c = 0; cmds[c]; c++)
		printf("  %-10s %s\n", cmds[c]->name, cmds[c]->summary);
	printf("\n'heaptrail COMMAND --help' lists a command's options and more examples;\n"
	       "'heaptrail --man' prints the manual page (man -l <(heaptrail --man)).\n\n"
	       "Examples:\n");
	for (size_t c = 0; cmds[c]; c++)
		cli_help_examples(cmds[c], 2);
}

/* ---------------------------------------------------------------- the man page */

/*
 * Text for roff: a hyphen is "\-" (a minus, what a shell takes), a backslash "\e", and "\&"
 * first so that a leading "." or "'" is not read as a request.
 */
static void cli_man_text(const char *text)
{
	fputs("\\&", stdout);
	for (const char *c = text; *c; c++) {
		if (*c == '-')
			fputs("\\-", stdout);
		else if (*c == '\\')
			fputs("\\e", stdout);
		else
			putchar(*c);
	}
}

static void cli_man_options(const struct cli_option *opts)
{
	for (const struct cli_option *o = opts; o && o->name; o++) {
		printf(".TP\n");
		if (o->short_name)
			printf("\\fB\\-%c\\fR, ", o->short_name);
		printf("\\fB");
		cli_man_text("--");
		cli_man_text(o->name);
		printf("\\fR");
		if (o->arg) {
			printf(" \\fI");
			cli_man_text(o->arg);
			printf("\\fR");
		}
		printf("\n");
		cli_man_text(o->help);
		printf(o->live_only ? " (not with \\fB\\-i\\fR)\n" : "\n");
	}
}

static void cli_man_examples(const struct cli_command *cmd)
{
	for (size_t i = 0; cmd->examples && cmd->examples[i].line; i++) {
		printf(".TP\n\\fBheaptrail ");
		cli_man_text(cmd->examples[i].line);
		printf("\\fR\n");
		cli_man_text(cmd->examples[i].what);
		printf("\n");
	}
}

/* Every command and option as --help has them, with the rest of a manual page around them. */
static void cli_man(const struct cli_command *const *cmds)
{
	printf(".\\\" SPDX-License-Identifier: GPL-2.0-only\n"
	       ".\\\" Written by heaptrail --man from its option tables: edit user/cmd/, not "
	       "this.\n"
	       ".TH HEAPTRAIL 8 \"\" \"%s\" \"System Administration\"\n"
	       ".SH NAME\n"
	       "heaptrail \\- trace memory allocation with eBPF: leaks, timelines, histograms\n"
	       ".SH SYNOPSIS\n",
	       CLI_VERSION);
	for (size_t c = 0; cmds[c]; c++) {
		printf(".B heaptrail %s\n", cmds[c]->name);
		cli_man_text(cmds[c]->usage);
		printf("\n.br\n");
	}
	printf(".SH DESCRIPTION\n"
	       "heaptrail follows what programs do with memory, without restarting them and "
	       "without "
	       "LD_PRELOAD: the allocator calls (malloc, free, operator new and the rest, through "
	       "uprobes on the allocator libraries), brk, mmap, munmap, mprotect and mremap, page "
	       "faults, RSS, process lifecycle and, with \\fB\\-k\\fR, the kernel's allocators. "
	       "BPF programs send exact events through a ring buffer to a model that rebuilds "
	       "each process's heap, mappings and live allocations; the commands below report "
	       "from it.\n"
	       ".PP\n"
	       "A target is one of: running processes (\\fB\\-p\\fR), a command started from its "
	       "first instruction (\\fB\\-c\\fR), every process (\\fB\\-a\\fR), or a recording "
	       "made "
	       "by \\fBrecord\\fR (\\fB\\-i\\fR). Children a target forks are traced too. Stacks "
	       "are walked with the modules' call-frame information where code has no frame "
	       "pointers, and named from the files' symbols, their debug files, or debuginfod.\n"
	       ".PP\n"
	       "Events the kernel could not deliver are counted and shown in every report, never "
	       "dropped silently. heaptrail may be killed at any moment: a guard process continues "
	       "anything it held and detaches its probes.\n"
	       ".SH COMMANDS\n");
	for (size_t c = 0; cmds[c]; c++) {
		const struct cli_command *cmd = cmds[c];
		bool first = true;

		printf(".SS %s\n", cmd->name);
		cli_man_text(cmd->summary);
		printf(".\n.PP\n\\fBheaptrail %s\\fR ", cmd->name);
		cli_man_text(cmd->usage);
		printf("\n.PP\nTakes the common options of: ");
		for (size_t g = 0; g < CLI_NGROUPS; g++) {
			if (!(cmd->groups & cli_groups[g].group) ||
			    !cli_group_opens_title(cmd->groups, g))
				continue;
			printf("%s", first ? "" : "; ");
			cli_man_text(cli_groups[g].title);
			first = false;
		}
		printf(first ? "none.\n" : ".\n");
		if (cmd->options && cmd->options->name) {
			printf(".PP\nIts own:\n");
			cli_man_options(cmd->options);
		}
		printf(".PP\nExamples:\n");
		cli_man_examples(cmd);
	}
	printf(".SH COMMON OPTIONS\n");
	for (size_t g = 0; g < CLI_NGROUPS; g++) {
		if (cli_group_opens_title(~0u, g)) {
			printf(".SS ");
			cli_man_text(cli_groups[g].title);
			printf("\n");
		}
		cli_man_options(cli_groups[g].options);
	}
	printf(".SH EXIT STATUS\n"
	       "0 on success, 1 on a runtime error, 2 on bad usage. Every error is one line on "
	       "standard error starting with \\(lqheaptrail:\\(rq.\n"
	       ".SH ENVIRONMENT\n"
	       ".TP\n.B DEBUGINFOD_URLS\n"
	       "Servers to fetch debug files and executables from, by build-id, for frames whose "
	       "file has no symbols or is not there any more (libdw's client).\n"
	       ".SH REQUIREMENTS\n"
	       "Root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN for \\fB\\-k\\fR on some kernels); "
	       "a "
	       "kernel with BTF (/sys/kernel/btf/vmlinux), the BPF ring buffer (5.8), tracepoints "
	       "and uprobes. \\fB\\-v\\fR says which attach points were used and why others were "
	       "not.\n"
	       ".SH SEE ALSO\n"
	       ".BR heaptrack (1),\n.BR valgrind (1),\n.BR bpftrace (8),\n.BR perf (1),\n"
	       ".BR debuginfod\\-find (1)\n");
}

/* What is wrong with the target as given, once every option is known. */
static int cli_check_target(const struct cli_command *cmd, struct cli *cli, int ntargets)
{
	if (ntargets == 0 && (cmd->groups & CLI_TARGET_ALL_BY_DEFAULT)) {
		ntargets = 1;
		cli->all = true;
	}
	if (cli->kernel && ntargets == 0) {
		/* -k alone: the kernel's allocations, whoever makes them */
		ntargets = 1;
		cli->all = true;
		cli->kernel_only = true;
	}
	if (ntargets != 1 && !(cmd->groups & CLI_TARGET))
		return cli_usage_error("%s reads a recording: give -i FILE", cmd->name);
	if (ntargets != 1)
		return cli_usage_error("give exactly one target: -p PID, -c 'CMD', -a%s%s",
				       cmd->groups & CLI_KERNEL ? ", -k" : "",
				       cmd->groups & CLI_INPUT ? " or -i FILE" : "");
	return 0;
}

static void cli_defaults(struct cli *cli)
{
	memset(cli, 0, sizeof(*cli));
	cli->ringbuf_size = 16ul << 20;
	cli->stack_depth = HT_MAX_STACK_DEPTH;
	cli->stack_table_size = 16384;
	/*
	 * Call-frame information only where frame pointers are missing: a process whose every
	 * module keeps them pays nothing for the tables.
	 */
	cli->unwind = UNWIND_AUTO;
}

/* The loop over argv[2...]: options, and the first error, said once. */
static int cli_parse_options(int argc, char **argv, const struct cli_command *const *cmds,
			     const struct cli_command *cmd, struct cli *cli)
{
	const struct cli_option *live_only = NULL; /* the first such option given */
	struct cli_table t;
	int ntargets = 0, status = 0, ret;

	if (cli_table_build(&t, cmds)) {
		cli_table_free(&t);
		return cli_usage_error("out of memory");
	}
	opterr = 0;
	optind = 1;
	while (!status && (ret = getopt_long(argc, argv, t.shortopts, t.longopts, NULL)) != -1) {
		const struct cli_known *k;
		char spelled[64];

		if (ret == 'h') {
			cli_help_command(cmd);
			status = -1;
		} else if (ret == 'V') {
			printf("%s\n", CLI_VERSION);
			status = -1;
		} else if (ret == '?' || ret == ':') {
			const char *what = argv[optind - 1];

			if (optopt && !(what[0] == '-' && what[1] == '-'))
				snprintf(spelled, sizeof(spelled), "-%c", optopt);
			else
				snprintf(spelled, sizeof(spelled), "%.*s", (int)strcspn(what, "="),
					 what);
			status = ret == ':' ? cli_usage_error("%s needs a value (see heaptrail %s "
							      "--help)",
							      spelled, cmd->name)
					    : cli_usage_error("unknown option '%s' (see heaptrail "
							      "%s --help)",
							      spelled, cmd->name);
		} else if (!(k = cli_table_find(&t, cmd, ret))) {
			status = cli_usage_error("unknown option '%s'", argv[optind - 1]);
		} else if (!cli_takes(cmd, k)) {
			status = cli_refuse(cmd, cmds, k);
		} else {
			if (k->opt->live_only && !live_only)
				live_only = k->opt;
			status = k->group ? cli_parse_group_option(cli, k->opt->key, optarg,
								   &ntargets)
					  : cmd->parse(k->opt->key, optarg);
		}
	}
	if (!status && optind < argc)
		status = cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!status && cli->input && live_only) {
		char spelled[64];

		cli_option_spelling(live_only, spelled, sizeof(spelled));
		status = cli_usage_error("%s is for a live target, not -i FILE", spelled);
	}
	cli_table_free(&t);
	if (!status)
		status = cli_check_target(cmd, cli, ntargets);
	if (!status && cmd->check)
		status = cmd->check(cli);
	return status;
}

int cli_parse(int argc, char **argv, const struct cli_command *const *cmds, struct cli *cli,
	      const struct cli_command **cmd)
{
	int status;

	cli_defaults(cli);
	*cmd = NULL;
	if (argc < 2)
		return cli_usage_error("missing command (see heaptrail --help)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_help(cmds);
		return -1;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s\n", CLI_VERSION);
		return -1;
	}
	if (!strcmp(argv[1], "--man")) {
		cli_man(cmds);
		return -1;
	}
	if (argv[1][0] == '-')
		return cli_usage_error("missing command before '%s' (see heaptrail --help)",
				       argv[1]);
	for (size_t c = 0; cmds[c]; c++)
		if (!strcmp(cmds[c]->name, argv[1]))
			*cmd = cmds[c];
	if (!*cmd)
		return cli_usage_error("unknown command '%s' (see heaptrail --help)", argv[1]);
	cli->command = argv[1];
	cli->argc = argc;
	cli->args = argv;
	status = cli_parse_options(argc - 1, argv + 1, cmds, *cmd, cli);
	if (status)
		*cmd = status < 0 ? NULL : *cmd;
	return status;
}

void cli_free(struct cli *cli)
{
	if (cli->argv) {
		for (char **a = cli->argv; *a; a++)
			free(*a);
		free(cli->argv);
	}
	cli->argv = NULL;
}

int cli_output_finish(int status)
{
	int err;

	if (!outpipe_flush(stdout))
		return status;
	err = outpipe_errno();
	if (err == EPIPE || outpipe_reader_gone(STDOUT_FILENO))
		return status;
	say("writing the output: %s", err ? strerror(err) : "I/O error");
	return EXIT_RUNTIME;
}
