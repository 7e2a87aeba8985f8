// SPDX-License-Identifier: GPL-2.0-only
/*
 * fork + exec + exit: N times (default 200) a child that execs PROGRAM (default /bin/true) and
 * is waited for, one after another, as a shell loop runs short-lived commands. Usage:
 * forks [N [PROGRAM]]
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200;
	char *prog = argc > 2 ? argv[2] : "/bin/true";
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			return 1;
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
	}
	bench_report("forks", (uint64_t)n, bench_now_ns() - t0);
	return 0;
}
