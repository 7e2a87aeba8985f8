// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail report`: a recording as one HTML page, the page `leaks --html` writes of a live
 * target: memory over time with a time range to choose, flame graphs, call sites, histograms.
 */
#include "cmd/commands.h"

/* report's own option: where the page goes. */
static const char *report_output;

enum { REPORT_OPT_OUTPUT = 'o' };

static const struct cli_option report_options[] = {
	{ "output", 'o', "FILE", "The page to write (one self-contained HTML file)",
	  REPORT_OPT_OUTPUT, false },
	{ NULL },
};

static int report_parse(int key, const char *arg)
{
	if (key == REPORT_OPT_OUTPUT)
		report_output = arg;
	return 0;
}

static int report_check(const struct cli *cli)
{
	if (!report_output)
		return cli_usage_error("report needs -o FILE");
	return 0;
}

static const struct cli_example report_examples[] = {
	{ "report -i run.htr -o run.html", "a recording as a page to open in a browser" },
	{ "leaks -c ./myprog --html leaks.html", "the same page of a live target" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(report, "a recording as one HTML page: memory over time, flame graphs, call sites",
	    "-i FILE -o FILE", CLI_INPUT, .check = report_check);

int cmd_report(struct cli *cli)
{
	return leaks_page(cli, report_output);
}
