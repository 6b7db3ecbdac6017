#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# PID 1 of a scripts/kernels.sh guest, once its initramfs has mounted the
# host's root (read-only 9p under a tmpfs overlay) and the usual file systems
# and switched to it. Runs the job's command, sends its output and then its
# exit status to ttyS1, and powers off. $1: the job file kernels.sh wrote.
# shellcheck disable=SC1090,SC2154 # the job file sets kernels_*
source "$1" || exec /bin/busybox poweroff -f

out=/dev/ttyS1
read -r uptime _ </proc/uptime
echo "KERNELS_START_$kernels_nonce=$uptime" >"$out"
(
	# Only the job's environment, as on the host.
	for v in $(compgen -e); do unset "$v" 2>/dev/null; done
	export "${kernels_env[@]}"
	cd "$kernels_cwd" || exit 125
	exec bash -c "$kernels_cmd"
) </dev/null >"$out" 2>&1
echo "KERNELS_EXIT_$kernels_nonce=$?" >"$out"
# stty's tcsetattr(TCSADRAIN) returns once the status line has left the UART.
/bin/busybox stty -F "$out" raw
/bin/busybox poweroff -f
