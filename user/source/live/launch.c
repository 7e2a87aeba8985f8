// SPDX-License-Identifier: GPL-2.0-only
/*
 * -c: the command forked, held before its exec until heaptrail is attached, then released.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "source/live/tracer_int.h"
#include "util/say.h"

/*
 * -c: fork a child that waits on a pipe before it execs, so that its pid is known (and in the
 * target map, marked pending-exec) and its uprobes are in place before the command's first
 * instruction. A second, close-on-exec pipe brings back execvp's errno if it fails.
 */
int launch_start(struct tracer *t)
{
	int go[2], err[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		say("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		say("cannot start '%s': fork: %s", t->opts.argv[0], strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(err[0]);
		/* EOF without the byte: heaptrail gave up attaching. */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(t->opts.argv[0], t->opts.argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	t->child = pid;
	t->child_go_fd = go[1];
	t->child_err_fd = err[0];
	if (targets_set(t, pid, HT_TGT_PENDING_EXEC | (t->opts.want_alloc ? HT_TGT_PRIVATE : 0)))
		return -1;
	if (!targets_add(t, pid))
		return -1;
	return t->opts.want_alloc ? uprobes_attach(t, pid) : 0;
}

/* Let the child exec and learn whether it could. */
int launch_release(struct tracer *t)
{
	int e = 0;
	ssize_t n;

	if (write(t->child_go_fd, "g", 1) != 1) {
		say("cannot start '%s': %s", t->opts.argv[0], strerror(errno));
		return -1;
	}
	close(t->child_go_fd);
	t->child_go_fd = -1;
	do
		n = read(t->child_err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(t->child_err_fd);
	t->child_err_fd = -1;
	if (n == sizeof(e)) {
		say("cannot start '%s': %s", t->opts.argv[0], strerror(e));
		waitpid(t->child, &t->child_status, 0);
		t->child_reaped = true;
		return -1;
	}
	return 0;
}
