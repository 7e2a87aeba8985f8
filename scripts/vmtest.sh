#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make vmtest KERNEL=6.1|6.12|<package version>: boots a Debian cloud kernel under qemu with an
# initramfs holding heaptrail, its fixtures, python3 with pytest and the tools the tests call,
# runs the integration tests inside and exits with their status. The kernel package is fetched
# with apt-get download and unpacked under build/vmtest, never installed on the host.
set -euo pipefail
# One compound command: bash reads it whole before running, so editing this file while a run
# is under way cannot change what that run does.
{

KERNEL=${KERNEL:-6.1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build
VM=$BUILD/vmtest
PYTEST_ARGS=${PYTEST_ARGS:-tests/integration} # what pytest runs in the guest
VMTEST_CMD=${VMTEST_CMD:-} # a shell command the guest runs instead of pytest (to look around)
TIMEOUT=${VMTEST_TIMEOUT:-3000} # seconds for the whole guest run
MEM=${VMTEST_MEM:-3G}

say() { echo "vmtest: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in qemu-system-x86_64 busybox cpio apt-get dpkg-deb; do
	command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
[ -x "$BUILD/heaptrail" ] || die "build/heaptrail is missing: run make first"

# ------------------------------------------------------------------ the kernel package
# KERNEL is a major.minor (the newest cloud image of that series the archive has, through the
# linux-image-cloud-amd64 metapackage's versions) or an exact metapackage version. The host's
# apt lists give bookworm's 6.1 and bookworm-backports' 6.12; an older series comes from a
# suite the host does not use (bullseye: 5.10), read through apt lists of our own under
# build/vmtest/apt: the host's apt configuration is left as it is.
APTDIR=$VM/apt
OWN_APT=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
	-o Dir::State::Status=/dev/null)
APT=() # the options that select whose lists name the image: none (the host's) or OWN_APT

own_apt_update() {
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
	printf 'deb [signed-by=%s] http://deb.debian.org/debian%s %s main\n' \
		"$keyring" "" bullseye "$keyring" -security bullseye-security >"$APTDIR/sources.list"
	apt-get -qq "${OWN_APT[@]}" update >/dev/null 2>&1
}

meta_versions() {
	apt-cache ${APT[@]+"${APT[@]}"} madison linux-image-cloud-amd64 2>/dev/null |
		awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -E "^${KERNEL//./\\.}([.-]|$)" |
		sort -V | tail -1 || true # none: an empty answer
}

meta=$(meta_versions)
if [ -z "$meta" ]; then
	apt-get update -qq >/dev/null 2>&1 || true # package lists may be missing or old
	meta=$(meta_versions)
fi
if [ -z "$meta" ]; then
	APT=("${OWN_APT[@]}")
	meta=$(meta_versions)
	[ -n "$meta" ] || { own_apt_update || true; meta=$(meta_versions); }
fi
[ -n "$meta" ] || die "no linux-image-cloud-amd64 version matches KERNEL=$KERNEL (bookworm" \
	"has 6.1, bookworm-backports 6.12, bullseye 5.10)"
IMAGE=$(apt-cache ${APT[@]+"${APT[@]}"} depends "linux-image-cloud-amd64=$meta" |
	awk '/Depends: linux-image-/ {print $2}' | head -1)
[ -n "$IMAGE" ] || die "cannot tell which kernel image KERNEL=$KERNEL stands for"
KDIR=$VM/$IMAGE
if [ ! -d "$KDIR/boot" ]; then
	say "fetching $IMAGE"
	mkdir -p "$KDIR.tmp"
	(cd "$KDIR.tmp" && apt-get ${APT[@]+"${APT[@]}"} download "$IMAGE" >/dev/null 2>&1) ||
		die "apt-get download $IMAGE failed (run apt-get update?)"
	dpkg-deb -x "$KDIR.tmp"/*.deb "$KDIR.tmp/x"
	mkdir -p "$KDIR"
	mv "$KDIR.tmp/x/boot" "$KDIR/boot"
	rm -rf "$KDIR.tmp"
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-*)
RELEASE=${VMLINUZ##*/vmlinuz-}

# ------------------------------------------------------------------ the initramfs
STAGE=$VM/stage-$KERNEL # one per kernel: runs for several kernels may go side by side
ROOT=$STAGE/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,usr/bin,usr/lib}
# merged /usr, as on the host: /lib64/ld-linux-x86-64.so.2 must resolve
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib "$ROOT/lib64"

declare -A copied
copy_file() { # copies a path (symlinks followed), with its directory, once
	local f=$1
	[ -n "${copied[$f]:-}" ] && return 0
	copied[$f]=1
	[ -e "$f" ] || return 0
	mkdir -p "$ROOT$(dirname "$f")"
	cp -L "$f" "$ROOT$f" 2>/dev/null || true
}

libs_of() { # the shared libraries an ELF file loads (none for others), one a line
	file -L "$1" 2>/dev/null | grep -q 'ELF.*dynamically linked' || return 0
	ldd "$1" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'
}

copy_elf() { # a program or library with every library it needs
	local lib
	copy_file "$1"
	for lib in $(libs_of "$1"); do copy_file "$lib"; done
}

copy_tree() { # a directory, as it is (its ELF files get their libraries too)
	local d=$1 f lib
	[ -d "$d" ] || return 0
	mkdir -p "$ROOT$d"
	cp -a "$d/." "$ROOT$d/"
	find "$d" -type f \( -name '*.so*' -o -perm -u+x \) -print0 2>/dev/null |
		while IFS= read -r -d '' f; do libs_of "$f"; done | sort -u >"$STAGE/libs.txt"
	while read -r lib; do copy_file "$lib"; done <"$STAGE/libs.txt"
}

say "staging the initramfs for $RELEASE"
cp "$(command -v busybox)" "$ROOT/bin/busybox"
for applet in $(busybox --list); do
	[ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done

# heaptrail, the fixtures and the tests, at the same absolute path as here
copy_elf "$BUILD/heaptrail"
copy_elf "$BUILD/verify_progs"
for f in "$BUILD"/fixtures/*; do copy_elf "$f"; done
mkdir -p "$ROOT$REPO"
cp -a "$REPO/tests" "$ROOT$REPO/"
mkdir -p "$ROOT$REPO/scripts" && cp "$REPO/scripts/heaptrail.service" "$ROOT$REPO/scripts/"
rm -rf "$ROOT$REPO"/tests/integration/__pycache__ "$ROOT$REPO"/tests/fuzz

# python3 and pytest (Debian's, with the modules it imports)
copy_elf /usr/bin/python3.11
ln -s python3.11 "$ROOT/usr/bin/python3"
mkdir -p "$ROOT/usr/lib/python3.11"
tar -C /usr/lib/python3.11 --exclude=test --exclude=idlelib --exclude=tkinter \
	--exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 --exclude=__pycache__ \
	--exclude='config-3.11-*' -cf - . | tar -C "$ROOT/usr/lib/python3.11" -xf -
copy_tree /usr/lib/python3.11/lib-dynload
for pkg in python3-pytest python3-pluggy python3-iniconfig python3-packaging python3-attr \
	python3-py python3-more-itertools python3-pkg-resources; do
	dpkg -L "$pkg" 2>/dev/null | while read -r f; do
		[ -f "$f" ] && case $f in /usr/lib/python3/*) echo "$f" ;; esac
	done
done >"$STAGE/pyfiles.txt"
while read -r f; do copy_file "$f"; done <"$STAGE/pyfiles.txt"

# what the tests run besides heaptrail
for tool in sh true env setpriv unshare rsvg-convert valgrind valgrind.bin file stress-ng sort \
	bpftool debuginfod heaptrack heaptrack_print readelf setarch prometheus promtool \
	systemd-analyze; do
	p=$(command -v "$tool") && copy_elf "$p"
done
copy_tree /usr/lib/heaptrack # heaptrack's preloaded library and interpreter
copy_tree /usr/lib/systemd/system # the targets systemd-analyze verify resolves the unit against
for p in /usr/lib/go-*/pkg/tool/linux_amd64/pprof; do # Go's pprof reads our profiles
	[ -e "$p" ] && copy_elf "$p"
done
copy_tree /usr/lib/locale/C.utf8 # the locale sort loads in test_stacks
copy_file /etc/locale.alias
mkdir -p "$ROOT/usr/share/locale" && ln -sf /etc/locale.alias "$ROOT/usr/share/locale/locale.alias"
# libdw's debuginfod client, which it loads with dlopen (ldd does not list it)
copy_elf /usr/lib/x86_64-linux-gnu/libdebuginfod.so.1
copy_tree /usr/libexec/valgrind
copy_tree /usr/lib/debug # libc6-dbg: valgrind needs ld.so's symbols
copy_tree /usr/lib/x86_64-linux-gnu/valgrind
copy_tree /usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0
copy_tree /etc/fonts
copy_tree /usr/share/fonts/truetype/dejavu
copy_file /usr/share/misc/magic.mgc
for f in /etc/passwd /etc/group /etc/hostname /etc/nsswitch.conf /etc/ld.so.cache; do
	copy_file "$f"
done

if [ -n "$VMTEST_CMD" ]; then printf '%s\n' "$VMTEST_CMD" >"$ROOT/vmtest_cmd"; fi
cat >"$ROOT/init" <<EOF
#!/bin/sh
# The guest: mount what heaptrail and the tests need, run the tests, say how they ended.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root TMPDIR=/tmp
export HEAPTRAIL_VMTEST_KERNEL="$KERNEL"
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# /tmp stays on the initramfs's own (writable) root: the repository may live under it
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null # serve labels processes with their cgroup
ip link set lo up # TCP over loopback: tests of allocations made in softirqs
ulimit -l unlimited
ulimit -n 65536 # as on the host: tests open thousands of sockets
echo "vmtest: guest up: \$(uname -r), \$(nproc) CPUs"
cd "$REPO"
# test_html.py drives Chromium, which the guest does not carry: what it draws is the same on
# every kernel, and the data it draws are checked here by test_html_data.py
if [ -s /vmtest_cmd ]; then
	sh /vmtest_cmd
else
	python3 -m pytest -p no:cacheprovider -q -rfE --ignore=tests/integration/test_html.py \
		$PYTEST_ARGS
fi
echo "VMTEST-RESULT: \$?"
sync
poweroff -f
EOF
chmod +x "$ROOT/init"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet) >"$STAGE/initramfs.cpio"
say "initramfs: $(du -h "$STAGE/initramfs.cpio" | cut -f1)"
rm -rf "$ROOT" # the archive has it all

# ------------------------------------------------------------------ boot
APPEND="console=ttyS0 panic=-1 quiet loglevel=4"
LOG=$VM/console-$KERNEL.log

# KVM when it really runs a guest: /dev/kvm can exist and still hang (nested virtualisation).
# Otherwise TCG, single-threaded: multi-threaded TCG with two vCPUs crashed 6.12 at boot in
# slub's cmpxchg16b fast path, two runs out of two here (with -cpu max).
accel=tcg,thread=single
if [ -w /dev/kvm ] && [ -z "${VMTEST_NO_KVM:-}" ]; then
	probe=$STAGE/probe
	rm -rf "$probe" && mkdir -p "$probe/bin"
	cp "$(command -v busybox)" "$probe/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox echo KVM-PROBE-OK\n/bin/busybox poweroff -f\n' \
		>"$probe/init"
	chmod +x "$probe/init"
	(cd "$probe" && find . | cpio -o -H newc --quiet) >"$STAGE/probe.cpio"
	if timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256M -nographic -no-reboot \
		-kernel "$VMLINUZ" -initrd "$STAGE/probe.cpio" -append "$APPEND" 2>/dev/null |
		grep -q KVM-PROBE-OK; then
		accel=kvm
	fi
fi
# Under TCG: qemu64 without CMPXCHG16B. This qemu (Debian 12's 7.2) corrupted the stack in
# 6.12's slub fast path (%gs-relative cmpxchg16b): double faults with garbage EFLAGS, at boot
# with "max" and mid-suite with qemu64; without cx16 the kernel takes its locked path and
# the suite passes. "max" (AVX-512, LA57) also ran the tests several times slower.
cpu="-cpu ${VMTEST_CPU:-qemu64,-cx16}"
[ "$accel" = kvm ] && cpu="-cpu host"
[ "$accel" = kvm ] || say "/dev/kvm not usable: software emulation (TCG), several times slower"

say "booting $RELEASE ($accel), tests inside; console in $LOG"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -accel "$accel" $cpu -smp 2 -m "$MEM" -nographic \
	-no-reboot -kernel "$VMLINUZ" -initrd "$STAGE/initramfs.cpio" -append "$APPEND" \
	</dev/null 2>&1 | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e
result=$(tr -d '\r' <"$LOG" | sed -n 's/^VMTEST-RESULT: \([0-9]*\)$/\1/p' | tail -1)
if [ -z "$result" ]; then
	[ "$qrc" = 124 ] && die "the guest did not finish within ${TIMEOUT}s"
	die "the guest ended without a test result (qemu exit $qrc)"
fi
say "$RELEASE: tests exited with $result"
exit "$result"
}
