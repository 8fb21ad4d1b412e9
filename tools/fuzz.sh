#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 in their own build dir and runs each
# for a while; any crash, leak, UBSan report or timeout fails it. tools/test.sh runs it as its
# fuzz phase; run it alone for longer sessions:
#   tools/fuzz.sh                   every target for $VIPGATE_FUZZ_SECONDS (default 20) seconds
#   tools/fuzz.sh 600 fuzz_config   one target for 10 minutes
# Each target keeps what it learnt in build-fuzz/corpus/<target> (seeded from tests/fuzz/corpus
# and, for Kubernetes YAML, tests/unit/manifests), so later runs start from there. A failure
# leaves its input as build-fuzz/artifacts/<target>-crash-*: rerun it with
#   build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<target>-crash-...
# Writes build-fuzz/fuzz-results.json (one JSON object per line: name, result OK|FAIL,
# executions, seconds), which tools/test.sh counts one test per target. Exits non-zero if any
# target failed or the build broke.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

SECONDS_PER_TARGET=${1:-${VIPGATE_FUZZ_SECONDS:-20}}
shift || true
FUZZ_DIR=build-fuzz
RESULTS=$FUZZ_DIR/fuzz-results.json

# target -> "max_len dictionary seed-dirs..." (max_len fits the largest seed of the target)
declare -A TARGETS=(
  [fuzz_pipeline]="4096 - tests/fuzz/corpus/pipeline"
  [fuzz_config]="16384 tests/fuzz/dict/toml.dict tests/fuzz/corpus/config"
  [fuzz_objects_toml]="8192 tests/fuzz/dict/toml.dict tests/fuzz/corpus/objects_toml"
  [fuzz_kubernetes_yaml]="8192 tests/fuzz/dict/yaml.dict tests/unit/manifests"
  [fuzz_api]="8192 tests/fuzz/dict/json.dict tests/fuzz/corpus/api"
  [fuzz_dns]="2048 tests/fuzz/dict/dns.dict tests/fuzz/corpus/dns"
)
ORDER=(fuzz_config fuzz_objects_toml fuzz_kubernetes_yaml fuzz_api fuzz_dns fuzz_pipeline)
if (($# > 0)); then
  for name in "$@"; do
    [[ -n ${TARGETS[$name]:-} ]] || { echo "fuzz: unknown target '$name' (known: ${ORDER[*]})" >&2; exit 2; }
  done
  ORDER=("$@")
fi

mkdir -p "$FUZZ_DIR"
rm -f "$RESULTS"

# --- configure and build (clang; only the fuzz targets and what they link) ----------------
options=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dtests=disabled -Dbuildtype=debugoptimized)
if [[ ! -f $FUZZ_DIR/meson-private/coredata.dat ]]; then
  CC=clang-14 CXX=clang++-14 meson setup "$FUZZ_DIR" "${options[@]}"
else
  meson setup --reconfigure "$FUZZ_DIR" "${options[@]}" >/dev/null
fi
ninja -C "$FUZZ_DIR" "${ORDER[@]/#/tests/fuzz/}"

# --- run -----------------------------------------------------------------------------------
# LeakSanitizer runs after every input that allocated more than it freed, and at exit.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
mkdir -p "$FUZZ_DIR/artifacts" "$FUZZ_DIR/logs"
failed=0
for name in "${ORDER[@]}"; do
  read -r max_len dict seeds <<<"${TARGETS[$name]}"
  corpus=$FUZZ_DIR/corpus/$name
  log=$FUZZ_DIR/logs/$name.log
  mkdir -p "$corpus"
  args=(-max_total_time="$SECONDS_PER_TARGET" -max_len="$max_len" -timeout=30 -rss_limit_mb=4096
        -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$name-")
  [[ $dict == - ]] || args+=(-dict="$dict")
  start=$(date +%s)
  rc=0
  "$FUZZ_DIR/tests/fuzz/$name" "${args[@]}" "$corpus" $seeds >"$log" 2>&1 || rc=$?
  secs=$(($(date +%s) - start))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  # libFuzzer's exit status covers crashes, leaks, timeouts and (non-recoverable) UBSan; the
  # scan also catches a sanitizer report that did not end the run.
  if ((rc == 0)) && ! grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log"; then
    result=OK
  else
    result=FAIL
    failed=$((failed + 1))
  fi
  printf 'fuzz: %-22s %-4s %12s executions in %ss (log %s)\n' "$name" "$result" "${executions:-?}" "$secs" "$log"
  if [[ $result == FAIL ]]; then
    grep -E -m 20 -A 12 'ERROR: |runtime error:|property violated|invariant' "$log" >&2 || tail -n 40 "$log" >&2
  fi
  /usr/bin/python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "result": sys.argv[2],
    "executions": int(sys.argv[3] or 0), "seconds": int(sys.argv[4])}))' \
    "$name" "$result" "${executions:-}" "$secs" >>"$RESULTS"
done
((failed == 0))
