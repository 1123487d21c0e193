#!/usr/bin/env bash
# Runs Kinto's conformance suites (kinto-http.py's functional tests and
# Kinto's own functional tests, unmodified, over HTTP) against the recipe,
# on memory and on PostgreSQL, and compares the results with the tests that
# pass against the Python Kinto 26.5.
#
# Usage: recipes/kinto/scripts/conformance.sh [memory|postgresql ...]
#   (default: both backends)
#
# Environment:
#   CONFORMANCE_DIR   the suites' runner scripts and baselines (default:
#                     ../shared/conformance next to the repository)
#   KINTO_BIN         the `kinto` binary to test (default: built here with
#                     `cargo build -p kinto`)
#   CONFORMANCE_PORT  port to serve on (default 8888: the suites' default)
#   CONFORMANCE_POSTGRES_URL  database for the PostgreSQL run (default
#                     postgresql://postgres@127.0.0.1:5432/kinto_conformance,
#                     created when missing)
#
# Needs python3 >= 3.10 and PyPI (the suites are downloaded on first use).
# Exits 1 when a test that passes against the Python Kinto fails here
# (the four attachment tests excepted: they need the kinto-attachment
# plugin), 2 when the suites cannot run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
conformance="${CONFORMANCE_DIR:-$root/../shared/conformance}"
port="${CONFORMANCE_PORT:-8888}"
pg_url="${CONFORMANCE_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/kinto_conformance}"
config="$root/recipes/kinto/config/conformance.ini"
out="${CONFORMANCE_OUT:-${TMPDIR:-/tmp}/kinto-conformance-results}"
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(memory postgresql)

if [ ! -x "$conformance/client-suite.sh" ]; then
  echo "conformance suites not found in $conformance (set CONFORMANCE_DIR)" >&2
  exit 2
fi
if [ -z "${KINTO_BIN:-}" ]; then
  (cd "$root" && cargo build -q -p kinto)
  KINTO_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kinto"
fi
mkdir -p "$out"

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

start_server() {
  local backend="$1"
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
    echo "port $port is already in use (set CONFORMANCE_PORT)" >&2
    exit 2
  fi
  local -a env=()
  if [ "$backend" = postgresql ]; then
    local db="${pg_url##*/}" admin="${pg_url%/*}/postgres"
    psql -q "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
      || psql -q "$admin" -c "CREATE DATABASE \"$db\""
    env=(KINTO_STORAGE_BACKEND=postgresql KINTO_STORAGE_URL="$pg_url"
         KINTO_PERMISSION_BACKEND=postgresql KINTO_PERMISSION_URL="$pg_url"
         KINTO_CACHE_BACKEND=postgresql KINTO_CACHE_URL="$pg_url"
         KINTO_MIGRATE_ON_START=true)
  fi
  env "${env[@]}" RUST_LOG="${RUST_LOG:-warn}" "$KINTO_BIN" serve --config "$config" \
    --bind "127.0.0.1:$port" >"$out/server-$backend.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/v1/" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server did not start; its log:" >&2
  cat "$out/server-$backend.log" >&2
  exit 2
}

# compare SUITE RESULTS BASELINE: prints the counts, returns 1 on a regression
compare() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
suite, results_path, baseline_path = sys.argv[1:]
results = json.load(open(results_path))["results"]
expected = [line.strip() for line in open(baseline_path)
            if line.strip() and not line.startswith("#")]
excused = [t for t in expected if "attachment" in t]
required = [t for t in expected if t not in excused]
passed = [t for t in required if results.get(t) == "passed"]
missing = [t for t in required if results.get(t) != "passed"]
total_passed = sum(1 for v in results.values() if v == "passed")
print(f"{suite}: {total_passed} passed of {len(results)}; "
      f"{len(passed)} of the {len(required)} required "
      f"({len(excused)} attachment tests excused)")
for t in missing:
    print(f"  REGRESSION {t}: {results.get(t, 'not run')}")
sys.exit(1 if missing else 0)
PY
}

status=0
for backend in "${backends[@]}"; do
  start_server "$backend"
  url="http://127.0.0.1:$port/v1"
  for suite in client functional; do
    results="$out/$suite-$backend.json"
    "$conformance/$suite-suite.sh" "$url" --results "$results" >"$out/$suite-$backend.log" 2>&1 \
      || { echo "$suite suite could not run on $backend, see $out/$suite-$backend.log" >&2; exit 2; }
    printf '[%s] ' "$backend"
    compare "$suite" "$results" "$conformance/baseline/$suite-suite-passing.txt" || status=1
  done
  stop_server
done
exit $status
