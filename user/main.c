// SPDX-License-Identifier: GPL-2.0-only
/* heaptrail's entry point: parse the command line and dispatch to the command's handler. */
#include <stdio.h>
#include <string.h>
#include "cmd/cli.h"
#include "cmd/commands.h"

static const struct {
	const char *name;
	int (*run)(struct cli *cli);
} commands[] = {
	{ "trace", cmd_trace },	  { "leaks", cmd_leaks },	{ "hist", cmd_hist },
	{ "record", cmd_record }, { "timeline", cmd_timeline },
};

int main(int argc, char **argv)
{
	struct cli cli;
	int status = cli_parse(argc, argv, &cli);

	if (status) {
		cli_free(&cli);
		return status;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(cli.command, commands[i].name)) {
			status = commands[i].run(&cli);
			cli_free(&cli);
			return status;
		}
	}
	fprintf(stderr, "heaptrail: unknown command '%s' (see heaptrail --help)\n", cli.command);
	cli_free(&cli);
	return EXIT_USAGE;
}
