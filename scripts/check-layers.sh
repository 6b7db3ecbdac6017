#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The userspace layers (README "Design"): every #include "..." in
# userspace-agent/ and loader/ must point down, and files and functions stay
# under the size ceilings. Prints each violation; exit 1 if any.
#
#   scripts/check-layers.sh [--quiet]
set -uo pipefail
cd "$(dirname "$0")/.."

MAX_FILE_LINES=${MAX_FILE_LINES:-600}
MAX_FUNC_LINES=${MAX_FUNC_LINES:-80}

# Layer -> the layers it may include (besides itself). bpf/ holds the
# kernel ABI headers every layer shares; the skeletons are the loader's.
declare -A MAY=(
	[cli]="control proxy sources identity model loader common"
	[control]="sources identity model loader common"
	[proxy]="identity model loader common"
	[sources]="model common"
	[identity]="model common"
	[model]="common"
	[loader]="common"
	[common]=""
)

layer_of() { # PATH -> layer name
	case $1 in
	loader/*) echo loader ;;
	userspace-agent/*/*) local d=${1#userspace-agent/}; echo "${d%%/*}" ;;
	*) echo "?" ;;
	esac
}

# Where "#include NAME" from FILE lands, as a path ("" if a system/BPF header).
resolve() { # FILE NAME
	local dir=${1%/*} name=$2
	if [ -e "$dir/$name" ]; then echo "$dir/$name"
	elif [ -e "userspace-agent/$name" ]; then echo "userspace-agent/$name"
	elif [ -e "loader/$name" ]; then echo "loader/$name"
	elif [ -e "bpf/$name" ] || [[ $name == *.skel.h ]]; then echo "bpf/$name"
	else echo "missing:$name"
	fi
}

violation() { echo "check-layers: $*"; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for f in $(git ls-files --cached --others --exclude-standard 'userspace-agent/*.[ch]' 'loader/*.[ch]'); do
	[ -e "$f" ] || continue
	from=$(layer_of "$f")
	[ "$from" = "?" ] && { violation "$f: outside any layer directory"; continue; }
	while IFS=: read -r line name; do
		to_path=$(resolve "$f" "$name")
		case $to_path in
		missing:*) violation "$f:$line: includes \"$name\", which is nowhere"; continue ;;
		bpf/*) [[ $name == *.skel.h && $from != loader ]] &&
			violation "$f:$line: a skeleton outside loader/ (\"$name\")"
			continue ;;
		esac
		to=$(layer_of "$to_path")
		[ "$to" = "$from" ] && continue
		[[ " ${MAY[$from]} " == *" $to "* ]] ||
			violation "$f:$line: $from/ includes $to/ (\"$name\"): layers include only downwards"
	done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')

	lines=$(wc -l <"$f")
	[ "$lines" -gt "$MAX_FILE_LINES" ] && violation "$f: $lines lines (ceiling $MAX_FILE_LINES)"
	# Functions: clang-format puts the opening and closing braces in column 0.
	awk -v max="$MAX_FUNC_LINES" -v f="$f" '
		/^[a-z_].*\(/ { sig = $0; sigline = NR }
		/^\{/ { start = NR; name = sig }
		/^\}/ && start { if (NR - start - 1 > max) {
				sub(/\(.*/, "", name); n = split(name, w, /[ *]+/)
				printf "check-layers: %s:%d: %s() is %d lines (ceiling %d)\n",
					f, sigline, w[n], NR - start - 1, max }
			start = 0 }' "$f"
done >"$out"
cat "$out"
bad=$(grep -c '^check-layers: ' "$out")
[ "$bad" -eq 0 ] && { [ "${1:-}" = --quiet ] || echo "check-layers: ok"; exit 0; }
echo "check-layers: $bad violation(s)"
exit 1
