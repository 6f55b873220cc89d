#!/usr/bin/env bash
# The whole test suite, as README.md states it and .ci/run runs it:
#   1. go mod verify and go vet, and Redocly CLI's lint of docs/openapi.yaml
#      (the version pinned in scripts/lint, installed there with npm ci when
#      missing);
#   2. every test, race-enabled (PostgreSQL conformance included: see README;
#      the DPoP interop test's oauth4webapi, pinned in scripts/interop, is
#      installed there with npm ci when missing);
#   3. every benchmark once with a short -benchtime, so they cannot rot;
#   4. every fuzz target for a short time (FUZZTIME, default 8s, two targets
#      at a time with one fuzzing worker each), on top of its seed corpus,
#      which step 2 already runs as regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# quiet runs a command, showing its output only when it fails.
quiet() { "$@" >"$log" 2>&1 || { cat "$log"; return 1; }; }

# stage names a stage and prints how long the previous one took, so that
# the suite's wall time is visible stage by stage (the bound is 10 minutes
# on an idle 2-core machine).
suite_start=$SECONDS
stage_start=$SECONDS
stage_name=""
stage() {
  if [ -n "$stage_name" ]; then
    echo "   ($stage_name: $((SECONDS - stage_start)) s)"
  fi
  stage_name="$1"
  stage_start=$SECONDS
  echo "== $1"
}

stage "go mod verify, go vet"
go mod verify
go vet ./...

stage "openapi lint"
# Any error fails the suite (its report is printed); warnings pass. The rules are in
# scripts/lint/redocly.yaml. Telemetry and the update check stay off: the
# lint needs no network.
redocly=scripts/lint/node_modules/.bin/redocly
if [ ! -x "$redocly" ]; then
  # A fresh clone: install the pinned version from the lock file.
  command -v npm >/dev/null 2>&1 || { echo "npm is missing: install the Debian packages nodejs and npm" >&2; exit 1; }
  (cd scripts/lint && quiet npm ci --no-audit --no-fund --loglevel=error)
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_SUPPRESS_NOTIFICATIONS=true \
  quiet "$redocly" lint --config scripts/lint/redocly.yaml docs/openapi.yaml

stage "tests (race)"
# The DPoP interop test drives oauth4webapi, pinned in scripts/interop.
if [ ! -e scripts/interop/node_modules/oauth4webapi/package.json ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm is missing: install the Debian packages nodejs and npm" >&2; exit 1; }
  (cd scripts/interop && quiet npm ci --no-audit --no-fund --loglevel=error)
fi
# -timeout: go test's default of 10 minutes per package is the whole suite's bound on an
# idle machine; a loaded one must not turn the slowest package into a panic.
go test -race -count=1 -timeout 25m ./...

stage "benchmarks (short)"
# -tags nolivecheck: these runs and the fuzzing below leave the live
# OpenAPI check of the test run out of the test binary (see
# authserver/openapi_nocheck_test.go).
quiet go test -tags nolivecheck -run '^$' -bench . -benchtime 20x -benchmem ./...

stage "fuzz targets (${fuzztime} each)"
# fuzz_one runs one target. Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" when -fuzztime ends while a worker is busy
# (go.dev/issue/75804, fixed in Go 1.27): no input failed and none is
# written. Such a run is tried again, up to three times; any other failure,
# or a failing input written to testdata/fuzz, fails at once.
fuzz_one() {
  local pkg="$1" target="$2" corpus="$1/testdata/fuzz/$2" before after log
  log="$(mktemp)"
  trap 'rm -f "$log"' RETURN
  echo "   $pkg $target"
  before="$(ls "$corpus" 2>/dev/null || true)"
  for attempt in 1 2 3; do
    if go test -tags nolivecheck -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" >"$log" 2>&1; then
      return 0
    fi
    after="$(ls "$corpus" 2>/dev/null || true)"
    if [ "$before" != "$after" ] || grep -q 'Failing input written' "$log" ||
      [ "$(grep -v '^fuzz: elapsed' "$log" | grep -c -v -e '^--- FAIL: Fuzz' -e '^    context deadline exceeded$' -e '^FAIL' -e '^exit status 1$' -e '^warning: ')" != 0 ]; then
      cat "$log"
      return 1
    fi
    echo "   $target: stopped by go.dev/issue/75804 (no failing input), run $attempt of 3"
  done
  cat "$log"
  return 1
}
# go test -fuzz takes one package and one target at a time. Two targets
# run at once, with one fuzzing worker each (-parallel 1): the machine's two
# cores stay busy while the other target builds, and each target gets the
# time of one core.
export -f fuzz_one
export fuzztime
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "$pkg $target"
  done
done | xargs -P 2 -L 1 bash -c 'fuzz_one "$0" "$1"'
echo "   ($stage_name: $((SECONDS - stage_start)) s)"
echo "== all passed in $((SECONDS - suite_start)) s"
