/* SPDX-License-Identifier: GPL-2.0-only */
/* The handlers of heaptrail's commands; each returns the process exit status. */
#ifndef HT_COMMANDS_H
#define HT_COMMANDS_H

#include "cli.h"

int cmd_trace(struct cli *cli);
int cmd_leaks(struct cli *cli);

#endif
