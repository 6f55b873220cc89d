#!/usr/bin/env bash
# The whole test suite, as README.md states it and .ci/run runs it:
#   1. go mod verify and go vet;
#   2. every test, race-enabled (PostgreSQL conformance included: see README);
#   3. every benchmark once with a short -benchtime, so they cannot rot;
#   4. every fuzz target for a short time (FUZZTIME, default 10s), on top of
#      its seed corpus, which step 2 already runs as regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# quiet runs a command, showing its output only when it fails.
quiet() { "$@" >"$log" 2>&1 || { cat "$log"; return 1; }; }

echo "== go mod verify, go vet"
go mod verify
go vet ./...

echo "== tests (race)"
go test -race -count=1 ./...

echo "== benchmarks (short)"
quiet go test -run '^$' -bench . -benchtime 20x -benchmem ./...

echo "== fuzz targets (${fuzztime} each)"
# Each fuzz target runs on its own: go test -fuzz takes one package and one
# target at a time.
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "   $pkg $target"
    quiet go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
echo "== all passed"
