#!/usr/bin/env bash
# The house format (.clang-format) over every tracked C++ file.
#   tools/format.sh           reformat the files in place
#   tools/format.sh --check   change nothing; list each file that differs, exit 1 if any does
# The check is the `format` test (suite `style`), so CI fails on an unformatted file. Tables
# aligned by hand (the drop-reason X-macros) sit between `// clang-format off` and `on`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$CLANG_FORMAT" >/dev/null; then
    echo "format: $CLANG_FORMAT not found (tools/setup.sh installs Debian's clang-format-14)" >&2
    exit 2
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- '*.cpp' '*.h')
else  # a source tree without git (an unpacked archive)
    mapfile -t files < <(find config control dataplane pktgen tests tools -name '*.cpp' -o -name '*.h' | sort)
fi
if [[ ${1:-} != --check ]]; then
    "$CLANG_FORMAT" -i "${files[@]}"
    exit 0
fi

# One clang-format process for the whole tree; each file that differs is named in its
# "file:line:col: error: code should be clang-formatted" diagnostics.
report=$("$CLANG_FORMAT" --dry-run --Werror "${files[@]}" 2>&1) && status=0 || status=$?
mapfile -t unformatted < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$report" | sort -u)
for file in "${unformatted[@]}"; do
    echo "format: $file differs from .clang-format (fix: tools/format.sh, or $CLANG_FORMAT -i $file)"
done
if ((status != 0 && ${#unformatted[@]} == 0)); then  # clang-format itself failed (a bad .clang-format)
    echo "$report" >&2
    exit 2
fi
echo "format: ${#files[@]} files checked, ${#unformatted[@]} not formatted"
((${#unformatted[@]} == 0))
