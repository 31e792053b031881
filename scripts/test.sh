#!/usr/bin/env bash
# Runs the whole test suite: sets up (scripts/setup.sh), runs every Meson test in build/,
# then again in an AddressSanitizer + UndefinedBehaviorSanitizer build (build-sanitize/).
# Prints the logs of failed tests and exits non-zero on any failure.
#
#   scripts/test.sh                  # everything (what CI runs)
#   scripts/test.sh --no-sanitize    # skip the sanitizer build
#   scripts/test.sh -- config lifecycle   # only these tests (names as in `meson test --list`)
set -uo pipefail

cd "$(dirname "$0")/.."
sanitize=1
tests=()
while (($#)); do
  case "$1" in
    --no-sanitize) sanitize=0 ;;
    --) shift; tests=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh || exit 1

passed=0 failed=0 skipped=0
run_suite() {  # build dir, label, extra meson test arguments...
  local dir=$1 label=$2
  shift 2
  echo "test.sh: running the $label suite in $dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" "${tests[@]}"
  local rc=$?
  # Tally from Meson's machine-readable log.
  read -r p f s < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, os, sys
p = f = s = 0
if not os.path.exists(sys.argv[1]):
    print(0, 1, 0)  # no log: the suite did not run at all
    sys.exit()
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  return $rc
}

status=0
run_suite build "default" || status=1

if ((sanitize)); then
  if [[ ! -f build-sanitize/build.ninja ]]; then
    meson setup build-sanitize -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
  fi
  if ! ninja -C build-sanitize >/tmp/machnet-sanitize.$$.log 2>&1; then
    cat /tmp/machnet-sanitize.$$.log >&2
    echo "test.sh: sanitizer build failed" >&2
    status=1
  else
    export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    run_suite build-sanitize "sanitizer (ASan+UBSan)" --no-suite packaging || status=1
  fi
  rm -f /tmp/machnet-sanitize.$$.log
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
