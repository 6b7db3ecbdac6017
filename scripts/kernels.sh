#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs a command as root under another Linux kernel: Debian's packaged 6.1
# and 6.12 kernels, booted in QEMU (TCG, no KVM needed) with this host's root
# file system shared read-only (virtio-9p) under a tmpfs overlay, so the guest
# sees the same tools and checkout, can write anywhere, and changes nothing on
# the host. Base of the kernel test matrix (make test-kernels).
#
#   scripts/kernels.sh fetch NAME        NAME: 6.1 or 6.12; prints the release
#   scripts/kernels.sh run NAME [--mem MiB] [--cpus N] [--timeout SECS] -- CMD...
#   KERNELS_BZIMAGE=PATH scripts/kernels.sh run custom [...] -- CMD...
#
# run: CMD (joined with spaces, run with bash -c) runs as root in the directory
# this script was called from (the guest has its own /tmp, /run and /dev), with
# PATH, HOME, LANG, LC_*, TERM, SHUNT_* and the variables named in KERNELS_ENV
# passed through. Its stdout and stderr go to our stdout as it runs; we exit
# with its status. 124: timeout (default 600s, boot included), 125: anything
# else went wrong (no kernel, boot failure, ...). Defaults: 4096 MiB, 2 CPUs.
# KERNELS_APPEND adds kernel parameters. The guest's console (kernel log) of
# the last run is kept in .output/kernels/NAME/console.log; everything we make
# lives in .output/kernels, or in KERNELS_OUT.
#
# NAME custom boots a kernel built elsewhere (docs/kernel-patches/README.md):
# KERNELS_BZIMAGE is its bzImage, with the guest's needs built in (virtio-pci,
# 9p over virtio, overlayfs; PVH for the fast boot) and KERNELS_CONFIG its
# .config (default: the one of the tree the bzImage was built in).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${KERNELS_OUT:-"$(dirname "$here")/.output/kernels"}
tmp=
qemu_pidfile=

die() {
	echo "kernels.sh: $*" >&2
	exit 125
}

cleanup() {
	# Only the QEMU we started (its pid file), then our temp files.
	if [[ -n $qemu_pidfile && -s $qemu_pidfile ]]; then
		kill "$(<"$qemu_pidfile")" 2>/dev/null || true
	fi
	if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 125' INT TERM HUP

usage() {
	sed -n "s/^#   scripts/usage: scripts/p" "${BASH_SOURCE[0]}" >&2
	exit 125
}

# Package names of each kernel series. 6.12 comes from bookworm-backports (and,
# for the newest point releases, bookworm-security).
pattern() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64(-unsigned)?$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12(\.[0-9]+)?-amd64(-unsigned)?$' ;;
	custom) ;; # not fetched: import_custom
	*) die "unknown kernel '$1' (6.1, 6.12 or custom)" ;;
	esac
}

fetch() {
	local name=$1 dir="$out/$1" re pkg deb release
	[[ $name != custom ]] || die "custom is not fetched: run it with KERNELS_BZIMAGE"
	re=$(pattern "$name")
	if [[ -s $dir/release ]]; then
		cat "$dir/release"
		return
	fi
	mkdir -p "$out"
	tmp=$(mktemp -d "$out/fetch.XXXXXX")
	# A private apt: our own sources and lists, so the system's apt
	# configuration and package lists stay exactly as they are.
	mkdir -p "$tmp"/{etc/sources.list.d,etc/preferences.d,lists/partial,cache/archives/partial,deb}
	local opts='[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]'
	cat >"$tmp/etc/sources.list" <<-EOF
		deb $opts http://deb.debian.org/debian bookworm main
		deb $opts http://deb.debian.org/debian bookworm-backports main
		deb $opts http://deb.debian.org/debian-security bookworm-security main
	EOF
	local apt=(-o "Dir::Etc::sourcelist=$tmp/etc/sources.list"
		-o "Dir::Etc::sourceparts=$tmp/etc/sources.list.d"
		-o "Dir::Etc::preferencesparts=$tmp/etc/preferences.d"
		-o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
		-o APT::Sandbox::User=root)
	apt-get "${apt[@]}" -qq update >&2 || die "apt-get update failed"
	# Newest ABI first; of that one, the unsigned image if there is one (the
	# same kernel without the Secure Boot signature).
	pkg=$(apt-cache "${apt[@]}" pkgnames "linux-image-$name" | grep -E "$re" |
		sort -V | awk '{b=$0; sub(/-unsigned$/, "", b)} b!=last {last=b; best=$0} b==last && /-unsigned$/ {best=$0} END {print best}')
	[[ -n $pkg ]] || die "no package matches $re"
	echo "kernels.sh: downloading $pkg" >&2
	(cd "$tmp/deb" && apt-get "${apt[@]}" -qq download "$pkg" >&2) || die "apt-get download $pkg failed"
	deb=$(echo "$tmp"/deb/*.deb)
	rm -rf "$dir.new"
	dpkg-deb -x "$deb" "$dir.new"
	release=$(ls "$dir.new/lib/modules")
	[[ -f $dir.new/boot/vmlinuz-$release ]] || die "$pkg has no vmlinuz-$release"
	# The package leaves modules.dep to its postinst; modprobe needs it.
	if command -v depmod >/dev/null; then
		depmod -b "$dir.new" "$release"
	else
		busybox depmod -b "$dir.new" "$release"
	fi
	ln -s "boot/vmlinuz-$release" "$dir.new/vmlinuz"
	basename "$deb" >"$dir.new/package"
	echo "$release" >"$dir.new/release"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	echo "$release"
}

# The kernel directory of NAME custom, from KERNELS_BZIMAGE, laid out as a
# fetched one: its modules are all built in, so modules.builtin names the
# ones the initramfs would load.
import_custom() {
	local dir=$1 z=${KERNELS_BZIMAGE:-} config release off m opt
	[[ -f $z ]] || die "custom: KERNELS_BZIMAGE must name a bzImage"
	config=${KERNELS_CONFIG:-$(dirname "$z")/../../../.config}
	[[ -f $config ]] || die "custom: no .config for $z (set KERNELS_CONFIG)"
	if [[ -s $dir/release && ! $z -nt $dir/vmlinuz && ! $config -nt $dir/vmlinuz ]]; then
		return
	fi
	# The release: the setup header points at the version string (boot protocol).
	off=$(od -An -tu2 -j $((0x20e)) -N2 "$z" | tr -d ' ')
	release=$(dd if="$z" bs=1 skip=$((off + 0x200)) count=128 2>/dev/null | tr '\0' ' ' | cut -d' ' -f1)
	[[ -n $release ]] || die "custom: no kernel version in $z"
	rm -rf "$dir.new"
	mkdir -p "$dir.new/boot" "$dir.new/lib/modules/$release"
	cp "$z" "$dir.new/boot/vmlinuz-$release"
	cp "$config" "$dir.new/boot/config-$release"
	for m in virtio_pci:VIRTIO_PCI 9pnet_virtio:NET_9P_VIRTIO 9p:9P_FS overlay:OVERLAY_FS; do
		opt=${m#*:}
		grep -q "^CONFIG_$opt=y" "$config" || die "custom: $config needs CONFIG_$opt=y"
		echo "kernel/${m%%:*}.ko" >>"$dir.new/lib/modules/$release/modules.builtin"
	done
	: >"$dir.new/lib/modules/$release/modules.dep"
	ln -s "boot/vmlinuz-$release" "$dir.new/vmlinuz"
	echo "custom: $z" >"$dir.new/package"
	echo "$release" >"$dir.new/release"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
}

# PVH boot straight into the uncompressed vmlinux skips SeaBIOS and the
# kernel's own decompression: ~7s under TCG. Falls back to vmlinuz.
extract_vmlinux() {
	local z=$1 to=$2 off
	off=$(LC_ALL=C grep -obUaPm1 '\xfd7zXZ\x00' "$z" | head -1 | cut -d: -f1) || true
	if [[ -n $off ]]; then
		tail -c +$((off + 1)) "$z" | xz -dcq --single-stream >"$to" 2>/dev/null || true
	else
		off=$(LC_ALL=C grep -obUaPm1 '\x28\xb5\x2f\xfd' "$z" | head -1 | cut -d: -f1) || true
		tail -c +$((${off:-0} + 1)) "$z" | zstd -dcq >"$to" 2>/dev/null || true
	fi
	[[ $(head -c 4 "$to") == $'\x7fELF' ]] || cp "$z" "$to"
}

# The initramfs: static busybox and the modules that mounting the 9p root
# and the overlay need (loaded deps first, per modules.dep), and an /init
# that mounts them and switches to the guest's init on the host's root.
declare -A moddeps=() seen=()
modorder=()
add_module() {
	[[ -z ${seen[$1]:-} ]] || return 0
	seen[$1]=1
	local d
	for d in ${moddeps[$1]}; do add_module "$d"; done
	modorder+=("$1")
}

build_initramfs() {
	local dir=$1 release=$2 m path dep staging
	local moddir="$dir/lib/modules/$release"
	while IFS=: read -r path dep; do moddeps[$path]=$dep; done <"$moddir/modules.dep"
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		path=$(grep -oE "^([^:]*/)?$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | tr -d :) || true
		if [[ -n $path ]]; then
			add_module "$path"
		elif ! grep -qE "(^|/)$m\.ko" "$moddir/modules.builtin"; then
			die "$release has no module $m"
		fi
	done
	staging="$tmp/initramfs"
	mkdir -p "$staging"/{bin,dev,lower,rw,root,modules}
	cp /bin/busybox "$staging/bin/busybox"
	for path in "${modorder[@]}"; do
		m=$(basename "$path")
		case $m in
		*.xz) xz -dc "$moddir/$path" >"$staging/modules/${m%.xz}" ;;
		*.zst) zstd -qdc "$moddir/$path" >"$staging/modules/${m%.zst}" ;;
		*.gz) gzip -dc "$moddir/$path" >"$staging/modules/${m%.gz}" ;;
		*) cp "$moddir/$path" "$staging/modules/$m" ;;
		esac
		echo "${m%.ko*}.ko" >>"$staging/modules/order"
	done
	# Arguments (after -- on the kernel command line): the kernel's directory
	# on the host, its release, the hostname, the guest init and its job file.
	# Everything that can be done here is, with busybox from RAM: each
	# dynamically linked host tool loaded over 9p costs ~0.1s under TCG.
	cat >"$staging/init" <<-'EOF'
		#!/bin/busybox sh
		/bin/busybox --install -s /bin
		mount -t devtmpfs dev /dev
		exec </dev/console >/dev/console 2>&1
		fail() { echo "initramfs: $*"; poweroff -f; }
		for m in $(cat /modules/order); do insmod "/modules/$m" || fail "insmod $m"; done
		mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower || fail "mount 9p"
		mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work
		mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /root || fail "mount overlay"
		mount --move /dev /root/dev
		cd /root
		mnt() { mkdir -p "$2" && mount -t "$1" ${3:+-o "$3"} "$1" "$2" || fail "mount $2"; }
		mnt proc proc
		mnt sysfs sys
		mnt devpts dev/pts gid=5,mode=620,ptmxmode=666
		mnt tmpfs dev/shm mode=1777
		# What udev/systemd would add: bash's process substitution needs /dev/fd.
		ln -sf /proc/self/fd dev/fd && ln -sf /proc/self/fd/0 dev/stdin &&
			ln -sf /proc/self/fd/1 dev/stdout && ln -sf /proc/self/fd/2 dev/stderr
		mnt tmpfs run mode=0755
		mnt tmpfs tmp mode=1777
		mnt cgroup2 sys/fs/cgroup nsdelegate
		mnt bpf sys/fs/bpf mode=0700
		mnt debugfs sys/kernel/debug
		mnt tracefs sys/kernel/tracing
		# Shared, as under systemd, so bind mounts (ip netns) propagate alike.
		mount --make-rshared /root
		# This kernel's modules and config (bpftool reads it), and busybox's
		# modutils unless the host has kmod and depmod wrote kmod's indexes.
		mkdir -p "lib/modules/$2" && mount --bind "/root$1/lib/modules/$2" "lib/modules/$2"
		cp "/root$1/boot/config-$2" boot/
		[ -e usr/sbin/modprobe ] && [ -e "lib/modules/$2/modules.dep.bin" ] ||
			for t in modprobe insmod rmmod lsmod modinfo depmod; do ln -sf /bin/busybox "usr/sbin/$t"; done
		echo "$3" >proc/sys/kernel/hostname
		ip link set lo up
		stty -F dev/ttyS1 raw -echo
		shift 3
		exec switch_root /root /bin/bash "$@"
	EOF
	chmod +x "$staging/init"
	(cd "$staging" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initramfs.cpio.gz"
	mv "$tmp/initramfs.cpio.gz" "$dir/initramfs.cpio.gz"
	echo "kernels.sh: built $dir/initramfs.cpio.gz (${#modorder[@]} modules)" >&2
}

run() {
	local name=$1 mem=4096 cpus=2 timeout=600 dir release
	pattern "$name" >/dev/null
	shift
	while (($#)); do
		case $1 in
		--mem) mem=${2:-}; shift 2 || usage ;;
		--cpus) cpus=${2:-}; shift 2 || usage ;;
		--timeout) timeout=${2:-}; shift 2 || usage ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	if (($# == 0)) || ! [[ $mem.$cpus.$timeout =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then usage; fi
	dir="$out/$name"
	if [[ $name == custom ]]; then import_custom "$dir"; fi
	[[ -s $dir/release ]] || die "kernel $name not fetched: scripts/kernels.sh fetch $name"
	release=$(<"$dir/release")
	mkdir -p "$out"
	tmp=$(mktemp -d "$out/run-$$.XXXXXX")
	# The kernel command line carries these paths: no blanks.
	[[ $tmp$here != *[[:space:]]* ]] || die "paths with blanks are not supported: $tmp $here"
	if [[ ! -s $dir/initramfs.cpio.gz || $dir/initramfs.cpio.gz -ot ${BASH_SOURCE[0]} ]]; then
		build_initramfs "$dir" "$release"
	fi
	if [[ ! -s $dir/vmlinux ]]; then
		extract_vmlinux "$dir/vmlinuz" "$tmp/vmlinux"
		mv "$tmp/vmlinux" "$dir/vmlinux"
	fi

	# What the guest's init runs, read by it from the shared root.
	local nonce=$RANDOM$RANDOM$RANDOM var env=()
	for var in PATH HOME LANG TERM ${KERNELS_ENV:-} $(compgen -e | grep -E '^(LC_|SHUNT_)' || true); do
		if [[ -v $var ]]; then env+=("$var=${!var}"); fi
	done
	{
		printf 'kernels_nonce=%q\n' "$nonce"
		printf 'kernels_cwd=%q\n' "$PWD"
		printf 'kernels_cmd=%q\n' "$*"
		printf 'kernels_env=(%s)\n' "$(printf '%q ' "${env[@]}")"
	} >"$tmp/job"

	# ttyS0: kernel console, to a log. ttyS1: the command's output, then a
	# line with its exit status; awk passes the output on and keeps the status.
	qemu_pidfile="$tmp/qemu.pid"
	mkfifo "$tmp/out"
	awk -v start="KERNELS_START_$nonce=" -v fin="KERNELS_EXIT_$nonce=" -v dir="$tmp" '
		index($0, start) == 1 { print substr($0, length(start) + 1) >(dir "/start"); next }
		(i = index($0, fin)) > 0 {
			printf "%s", substr($0, 1, i - 1); fflush()
			print substr($0, i + length(fin)) >(dir "/rc"); next
		}
		{ print; fflush() }' <"$tmp/out" &
	local awk_pid=$! status=0 t0=$EPOCHREALTIME
	# thread=single: with multi-threaded TCG the guest oopses on int3 when it
	# patches its own code (static keys: BPF attach, tracepoints, even boot)
	# while another vCPU runs it. One host thread runs all the vCPUs instead.
	timeout -k 10 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
		-display none -accel tcg,thread=single -cpu max -smp "$cpus" -m "$mem" \
		-kernel "$dir/vmlinux" -initrd "$dir/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 ${KERNELS_APPEND:-} -- $dir $release kernels-${name//./-} $here/kernels-init.sh $tmp/job" \
		-fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-serial "file:$tmp/console.log" -serial stdio -pidfile "$qemu_pidfile" \
		</dev/null >"$tmp/out" 2>"$tmp/qemu.err" &
	wait $! || status=$?
	qemu_pidfile= # it has exited: nothing to kill, and its pid may be reused
	wait "$awk_pid" || true
	cp "$tmp/console.log" "$dir/console.log" 2>/dev/null || true

	local took
	took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	if grep -qE 'WARNING:|BUG:|Oops|Call Trace' "$tmp/console.log" 2>/dev/null; then
		echo "kernels.sh: $release: the kernel logged a warning or worse, see $dir/console.log" >&2
	fi
	if [[ -s $tmp/rc ]]; then
		echo "kernels.sh: $release: command started at guest uptime $(<"$tmp/start")s, all done in ${took}s, exit $(<"$tmp/rc")" >&2
		exit "$(<"$tmp/rc")"
	fi
	if ((status == 124)); then
		echo "kernels.sh: $release: timed out after ${timeout}s (console: $dir/console.log)" >&2
		exit 124
	fi
	echo "kernels.sh: $release: the guest stopped without an exit status (qemu: $status);" \
		"the end of $dir/console.log:" >&2
	tail -n 25 "$tmp/console.log" >&2 || true
	cat "$tmp/qemu.err" >&2
	exit 125
}

case ${1:-} in
fetch) (($# == 2)) || usage; fetch "$2" ;;
run) (($# >= 2)) || usage; run "${@:2}" ;;
*) usage ;;
esac
