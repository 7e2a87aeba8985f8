#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make vmtests: the integration tests inside several kernels (KERNELS), VMTEST_JOBS guests at a
# time (each a single-threaded qemu: one per CPU), the slowest first. Each guest's output goes
# to build/vmtest/run-KERNEL.log; here, one line per kernel as it ends and the summary of its
# tests. Exits 1 if any kernel's tests failed.
set -uo pipefail
KERNELS=${KERNELS:-6.1 5.10 6.12}
JOBS=${VMTEST_JOBS:-2}
REPO=$(cd "$(dirname "$0")/.." && pwd)
LOGS=$REPO/build/vmtest
mkdir -p "$LOGS"

declare -A started=() pid_of=()
failed=0

finish() { # reports the guest run whose pid is $1, with status $2
	local k
	for k in "${!pid_of[@]}"; do
		[ "${pid_of[$k]}" = "$1" ] || continue
		unset "pid_of[$k]"
		echo "vmtests: $k: $( (($2)) && echo FAILED || echo passed) (exit $2) in" \
			"$(($(date +%s) - started[$k])) s; log build/vmtest/run-$k.log"
		sed 's/\x1b\[[0-9;]*m//g' "$LOGS/run-$k.log" | tr -d '\r' |
			grep -E '^(FAILED|ERROR) |^[0-9]+ (passed|failed)|^vmtest: [^b]' |
			grep -v -e 'staging' -e 'initramfs:' -e 'not usable' | tail -25
		(($2)) && failed=1
		return 0
	done
}

wait_one() {
	local pid status
	wait -n -p pid
	status=$?
	finish "$pid" "$status"
}

for k in $KERNELS; do
	while ((${#pid_of[@]} >= JOBS)); do wait_one; done
	started[$k]=$(date +%s)
	KERNEL=$k "$REPO/scripts/vmtest.sh" >"$LOGS/run-$k.log" 2>&1 </dev/null &
	pid_of[$k]=$!
	echo "vmtests: $k started (log build/vmtest/run-$k.log)"
done
while ((${#pid_of[@]})); do wait_one; done
exit $failed
