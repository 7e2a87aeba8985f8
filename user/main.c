// SPDX-License-Identifier: GPL-2.0-only
/* heaptrail's entry point: the command table, the parse, and the chosen command's run. */
#include "cmd/cli.h"
#include "cmd/commands.h"

/* In the order heaptrail --help lists them. */
static const struct cli_command *const main_commands[] = {
	&cmd_trace_command,  &cmd_leaks_command,  &cmd_hist_command,  &cmd_timeline_command,
	&cmd_record_command, &cmd_report_command, &cmd_serve_command, NULL,
};

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	struct cli cli;
	int status = cli_parse(argc, argv, main_commands, &cli, &cmd);

	if (!status)
		status = cmd->run(&cli);
	cli_free(&cli);
	return status < 0 ? EXIT_OK : status; /* < 0: --help or --version was printed */
}
