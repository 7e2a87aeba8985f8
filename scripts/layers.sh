#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The stages of user/ in layer order: a file may include its own stage and the ones before
# it, never one after (the model does not know its reports, a report not the live tracer).
# main.c, above them all, may include anything. Prints each violation; exits 1 if any.
set -eu
cd "$(dirname "$0")/.."
ORDER="util record symbols model report output source cmd"
rank() {
	i=0
	for s in $ORDER; do
		[ "$s" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo "layers.sh: user/$1 is not in the layer order; add it to ORDER" >&2
	exit 1
}
bad=0
for f in $(find user -mindepth 2 -name '*.[ch]' | sort); do
	own=$(echo "$f" | cut -d/ -f2)
	r=$(rank "$own")
	for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' "$f" | sort -u); do
		if [ "$(rank "$inc")" -gt "$r" ]; then
			echo "layers: $f ($own) includes $inc/, a later stage"
			bad=1
		fi
	done
done
exit $bad
