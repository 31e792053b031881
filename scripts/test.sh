#!/usr/bin/env bash
# Runs the whole test suite: sets up (scripts/setup.sh), runs every Meson test in build/,
# then again in an AddressSanitizer + UndefinedBehaviorSanitizer build (build-sanitize/),
# then the libFuzzer targets for 30 s each in a clang build (build-fuzz/, docs/testing-fuzz.md).
# Prints the logs of failed tests and exits non-zero on any failure.
#
#   scripts/test.sh                  # everything (what CI runs)
#   scripts/test.sh --no-sanitize    # skip the sanitizer build
#   scripts/test.sh --no-fuzz        # skip the fuzz build
#   scripts/test.sh -- config lifecycle   # only these tests (names as in `meson test --list`)
set -uo pipefail

cd "$(dirname "$0")/.."
sanitize=1
fuzz=1
tests=()
while (($#)); do
  case "$1" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    --) shift; tests=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh || exit 1

# Test names starting with fuzz_ live in build-fuzz/ only.
named=${#tests[@]} fuzz_tests=() other_tests=()
for t in "${tests[@]}"; do
  if [[ $t == fuzz_* ]]; then fuzz_tests+=("$t"); else other_tests+=("$t"); fi
done
tests=("${other_tests[@]}")
only_fuzz=$((named && ${#other_tests[@]} == 0))

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
((only_fuzz)) || run_suite build "default" || status=1

if ((sanitize && !only_fuzz)); then
  # -O1 with line tables only (-g1): all that ASan's and UBSan's reports need (file:line of
  # every frame), and a third of the compile time of the default -O2 -g: about 9 min of CI
  # on 2 cores instead of 10-19. An existing build-sanitize/ is brought to the same options.
  sanitize_options=(-Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 -Ddebug=false
                    -Dcpp_args=-g1 -Dc_args=-g1)
  if [[ ! -f build-sanitize/build.ninja ]]; then
    meson setup build-sanitize "${sanitize_options[@]}" >/dev/null || exit 1
  else
    meson configure build-sanitize "${sanitize_options[@]}" >/dev/null || exit 1
  fi
  if ! ninja -C build-sanitize >/tmp/machnet-sanitize.$$.log 2>&1; then
    cat /tmp/machnet-sanitize.$$.log >&2
    echo "test.sh: sanitizer build failed" >&2
    status=1
  else
    export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
    run_suite build-sanitize "sanitizer (ASan+UBSan)" --no-suite packaging || status=1
  fi
  rm -f /tmp/machnet-sanitize.$$.log
fi

# The fuzz targets: only when no test names were given, or some name a fuzz target. This
# build configures everything but compiles only what the fuzz tests need (meson test builds
# the targets of the tests it runs): about 10 s of compiling, 30 s of fuzzing a target.
run_fuzz=$((fuzz && (!named || ${#fuzz_tests[@]})))
if ((run_fuzz)); then
  if [[ ! -f build-fuzz/build.ninja ]]; then
    if ! CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false >/tmp/machnet-fuzz.$$.log 2>&1; then
      cat /tmp/machnet-fuzz.$$.log >&2
      echo "test.sh: configuring the fuzz build failed" >&2
      status=1 run_fuzz=0
    fi
    rm -f /tmp/machnet-fuzz.$$.log
  fi
  if ((run_fuzz)); then
    # Build only the programs the fuzz suite runs (10 build steps), not every target of the
    # tree again with clang and ASan (108): minutes of CI on 2 cores.
    mapfile -t fuzz_targets < <(meson introspect --tests build-fuzz | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if "machnet:fuzz" in t["suite"]:
        print(os.path.relpath(t["cmd"][0], os.path.abspath("build-fuzz")))')
    if ((${#fuzz_targets[@]} == 0)) || ! ninja -C build-fuzz "${fuzz_targets[@]}" >/tmp/machnet-fuzz.$$.log 2>&1; then
      cat /tmp/machnet-fuzz.$$.log >&2 2>/dev/null
      echo "test.sh: building the fuzz targets failed" >&2
      status=1 run_fuzz=0
    fi
    rm -f /tmp/machnet-fuzz.$$.log
  fi
  if ((run_fuzz)); then
    tests=("${fuzz_tests[@]}")
    ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
      run_suite build-fuzz "fuzz (libFuzzer, ASan+UBSan)" --suite fuzz --no-rebuild || status=1
  fi
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
