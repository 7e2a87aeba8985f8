#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Installs heaptrail's build and test dependencies from Debian's archive: the bookworm-backports
# suite for libbpf/bpftool/elfutils, the main suite for the rest. Quiet and quick when all is there.
set -eu
list=$1 backports=$2 main=$3

missing() {
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || echo "$p"
	done
}

libbpf_ok() {
	v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 1:1.4
}

need_bp=$(missing $backports)
libbpf_ok || need_bp="$backports"
need_main=$(missing $main)
if [ -z "$need_bp" ] && [ -z "$need_main" ]; then
	echo "deps: everything is installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages ($need_bp $need_main); run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$need_bp" ] && [ ! -e "$list" ]; then
	cat > "$list" <<EOT
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
fi
apt-get update -qq
[ -z "$need_bp" ] || apt-get install -y -qq -t bookworm-backports $backports
[ -z "$need_main" ] || apt-get install -y -qq $need_main
echo "deps: installed$need_bp $need_main"
