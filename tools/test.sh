#!/usr/bin/env bash
# Builds vipgate and runs its tests, as CI does (.ci/run calls exactly this):
#   1. tools/setup.sh (packages, hugepages)             skip with VIPGATE_SKIP_SETUP=1
#   2. release build in build/, every test suite        meson test --num-processes 2
#   3. ASan+UBSan build in build-asan/, the unit suite  (failures and leaks are fatal)
#   4. tools/fuzz.sh: clang build in build-fuzz/, each  VIPGATE_FUZZ_SECONDS per target (20);
#      libFuzzer target briefly (one test per target)  a crash, leak or UBSan report fails it
# Ends with one line "N passed, N failed, N skipped" summed over all three test runs, and exits
# non-zero if any test failed or any phase (configure, build, test harness) broke.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Use Debian's toolchain and python3 (the one with scapy) ahead of anything user-installed
# such as a pyenv shim, so a developer's shell resolves the same programs CI does.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

RELEASE_DIR=build
ASAN_DIR=build-asan
NUM_PROCESSES=2

phase_failures=0    # configure/build/harness breakages, counted as failures in the summary
timings=()
phase_start=0

header() {
  phase_start=$(date +%s)
  printf '\n==> %s\n' "$*"
}
phase_done() {   # phase_done NAME STATUS
  local secs=$(($(date +%s) - phase_start))
  timings+=("$(printf '%-22s %5ss  %s' "$1" "$secs" "$2")")
  printf -- '--- %s: %s (%ss)\n' "$1" "$2" "$secs"
}

# configure DIR [meson options...]: reconfigure an existing build dir, else set it up. A dir
# made by another meson version is wiped first (meson refuses to reconfigure it); otherwise a
# failing configure is reported as is, keeping the dir's objects for the next run.
configure() {
  local dir=$1; shift
  if [[ ! -f $dir/meson-private/coredata.dat ]]; then
    meson setup "$dir" "$@"
  elif [[ $(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["meson_version"]["full"])' \
            "$dir/meson-info/meson-info.json" 2>/dev/null) != "$(meson --version)" ]]; then
    meson setup --wipe "$dir" "$@"
  else
    meson setup --reconfigure "$dir" "$@"
  fi
}

# suite_targets DIR SUITE: the ninja targets that SUITE's tests need (what `meson test` rebuilds).
suite_targets() {
  meson introspect "$1" --tests --targets | /usr/bin/python3 -c '
import json, os, sys
suite, wd = sys.argv[1], os.path.realpath(sys.argv[2])
rel = lambda f: os.path.relpath(os.path.realpath(f), wd)
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
out = set()
for test in info["tests"]:
    if any(s == suite or s.endswith(":" + suite) for s in test["suite"]):
        for dep in test["depends"]:
            out.update(rel(f) for f in files.get(dep, []))
print("\n".join(sorted(out)))' "$2" "$1"
}

# build_and_test NAME DIR "CONFIGURE OPTIONS" SUITE [meson test options...]
# SUITE empty: build everything and run every suite; else build and run only that suite.
build_and_test() {
  local name=$1 dir=$2 opts=$3 suite=$4; shift 4
  local -a opt_array
  read -r -a opt_array <<<"$opts"
  rm -f "$dir/meson-logs/testlog.json"   # never count a previous run's results

  header "$name: configure $dir ($opts)"
  if ! configure "$dir" "${opt_array[@]}"; then
    phase_done "$name configure" "FAILED (see $dir/meson-logs/meson-log.txt)"
    phase_failures=$((phase_failures + 1))
    return
  fi
  phase_done "$name configure" ok

  local -a targets=()
  if [[ -n $suite ]]; then
    local target_list
    if ! target_list=$(suite_targets "$dir" "$suite"); then
      phase_done "$name build" "FAILED (meson introspect)"
      phase_failures=$((phase_failures + 1))
      return
    fi
    [[ -z $target_list ]] || mapfile -t targets <<<"$target_list"
    set -- --suite "$suite" "$@"
  fi
  header "$name: build $dir${suite:+ (targets of suite $suite: ${#targets[@]})}"
  if [[ -n $suite ]] && ((${#targets[@]} == 0)); then
    echo "no tests in suite '$suite'"
  elif ! ninja -C "$dir" "${targets[@]}"; then
    phase_done "$name build" FAILED
    phase_failures=$((phase_failures + 1))
    return
  fi
  phase_done "$name build" ok

  header "$name: test $dir${*:+ ($*)}"
  local rc=0
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$NUM_PROCESSES" "$@" || rc=$?
  if ((rc == 0)); then
    phase_done "$name test" ok
  else
    phase_done "$name test" "FAILED (meson test exit $rc)"
    # A non-zero exit with no failing test recorded (harness error, empty log) still fails.
    if ! /usr/bin/python3 - "$dir/meson-logs/testlog.json" <<'EOF'; then
import json, sys
bad = {"FAIL", "TIMEOUT", "UNEXPECTEDPASS", "ERROR"}
try:
    with open(sys.argv[1]) as f:
        sys.exit(0 if any(json.loads(l).get("result") in bad for l in f if l.strip()) else 1)
except OSError:
    sys.exit(1)
EOF
      phase_failures=$((phase_failures + 1))
    fi
  fi
}

# --- 1. setup ----------------------------------------------------------------------------
if [[ ${VIPGATE_SKIP_SETUP:-0} == 1 ]]; then
  printf '==> setup: skipped (VIPGATE_SKIP_SETUP=1)\n'
else
  header "setup: tools/setup.sh"
  if tools/setup.sh; then
    phase_done setup ok
  else
    phase_done setup FAILED
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

# --- 2. release build, every suite -------------------------------------------------------
build_and_test release "$RELEASE_DIR" "-Dbuildtype=release -Db_sanitize=none -Dtests=enabled" ""

# --- 3. ASan + UBSan build, unit suite ---------------------------------------------------
# halt_on_error: the first report fails the test. The suppression files cover only code in
# DPDK's own libraries and headers, never vipgate code: tests/ubsan.supp, tests/lsan.supp.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:print_summary=1"
export LSAN_OPTIONS="print_suppressions=0"
[[ ! -f tests/ubsan.supp ]] || UBSAN_OPTIONS+=":suppressions=$ROOT/tests/ubsan.supp"
[[ ! -f tests/lsan.supp ]] || LSAN_OPTIONS+=":suppressions=$ROOT/tests/lsan.supp"
build_and_test asan "$ASAN_DIR" \
  "-Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled" \
  unit --timeout-multiplier 3

# --- 4. fuzz targets, briefly ---------------------------------------------------------------
FUZZ_RESULTS=build-fuzz/fuzz-results.json
header "fuzz: tools/fuzz.sh (${VIPGATE_FUZZ_SECONDS:-20} s per target)"
if tools/fuzz.sh; then
  phase_done fuzz ok
else
  phase_done fuzz FAILED
  # A failing target is in the results; a broken build or harness leaves none to count.
  grep -q '"result": "FAIL"' "$FUZZ_RESULTS" 2>/dev/null || phase_failures=$((phase_failures + 1))
fi

# --- summary -----------------------------------------------------------------------------
printf '\n==> timings\n'
printf '%s\n' "${timings[@]}"
printf '\n'
/usr/bin/python3 - "$phase_failures" "$RELEASE_DIR/meson-logs/testlog.json" \
  "$ASAN_DIR/meson-logs/testlog.json" "$FUZZ_RESULTS" <<'EOF'
import json, sys

# A CI report often keeps only the tail of this output: name each failed test here, with the
# last lines it printed, so the failure is readable without the full log.
TAIL_LINES = 25
def report_failure(path, record):
    print(f"==> failed: {record.get('name', '?')} ({record.get('result')}, {path})")
    output = (record.get("stdout") or "") + (record.get("stderr") or "")
    for line in output.rstrip().splitlines()[-TAIL_LINES:]:
        print(f"    {line}")

passed, failed, skipped = 0, int(sys.argv[1]), 0
for path in sys.argv[2:]:
    try:
        f = open(path)
    except OSError:
        continue
    with f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                result = record.get("result")
            except (ValueError, AttributeError):
                record, result = {}, "ERROR"
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:  # FAIL, TIMEOUT, UNEXPECTEDPASS, ERROR and anything unknown
                failed += 1
                report_failure(path, record)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
EOF
