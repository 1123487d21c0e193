#!/usr/bin/env bash
# Compatibility round trip between the real Kinto 26.5 and cliquet-postgres,
# on two scratch databases:
#
#   1. a database created by Kinto (`kinto migrate`): Kinto writes a bucket, a
#      collection, records, a tombstone and permissions over HTTP; we read
#      them through our backends and compare with Kinto's answers
#      (timestamps included); we write, update, delete and grant; Kinto
#      reads our writes back over HTTP and writes after them;
#   2. a database created by our migrator: Kinto migrates nothing, serves
#      it, and the same round trip runs.
#
# Usage: scripts/kinto-roundtrip.sh   (from anywhere in the repository)
#
# Environment:
#   START_KINTO   path of start-kinto.sh (default: ../shared/bench/start-kinto.sh
#                 next to the repository)
#   PORT          Kinto's port (default 8899)
#   PGHOST PGPORT PGUSER   the PostgreSQL server (default 127.0.0.1 5432 postgres)
set -euo pipefail

REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
START_KINTO=${START_KINTO:-$REPO/../shared/bench/start-kinto.sh}
PORT=${PORT:-8899}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
KINTO=http://127.0.0.1:$PORT/v1
AUTH=alice:secret
WORK=$(mktemp -d)
trap '"$START_KINTO" "$PORT" stop >/dev/null 2>&1 || true' EXIT

[ -x "$START_KINTO" ] || { echo "start-kinto.sh not found: set START_KINTO" >&2; exit 2; }

compat() {
  (cd "$REPO" && cargo run -q -p cliquet-postgres --example kinto_compat -- "$@")
}

# curl wrapper: prints the body, fails on HTTP errors.
http() {
  local method=$1 path=$2 body=${3:-}
  if [ -n "$body" ]; then
    curl -fsS -u "$AUTH" -X "$method" -H 'Content-Type: application/json' -d "$body" "$KINTO$path"
  else
    curl -fsS -u "$AUTH" -X "$method" "$KINTO$path"
  fi
}

etag() { curl -fsS -u "$AUTH" -o /dev/null -D - "$KINTO$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{gsub(/"/,"",$2); print $2}'; }

py() { python3 -c "$@"; }

round_trip() {
  local db=$1 dir=$WORK/$1
  mkdir -p "$dir"
  local parent=/buckets/compat/collections/things

  echo "== Kinto writes ($db)"
  http GET / | py 'import json,sys; print(json.load(sys.stdin)["user"]["id"])' > "$dir/user"
  http PUT /buckets/compat '{"permissions": {"read": ["system.Everyone"]}}' > "$dir/bucket.json"
  http PUT "$parent" '{"data": {"schema_less": true}}' > /dev/null
  http POST "$parent/records" '{"data": {"id": "r1", "title": "one", "n": 1, "tags": ["a", "b"]}, "permissions": {"read": ["system.Authenticated"]}}' > /dev/null
  http POST "$parent/records" '{"data": {"id": "r2", "title": "two", "n": 2.5}}' > /dev/null
  http POST "$parent/records" '{"data": {"id": "r3", "nested": {"deep": [1, {"x": null}]}, "ünï": "cödé"}}' > /dev/null
  http POST "$parent/records" '{"data": {"id": "r4"}}' > /dev/null
  http DELETE "$parent/records/r4" > "$dir/tombstone.json"
  for r in r1 r2 r3; do http GET "$parent/records/$r" > "$dir/$r.json"; done
  http GET /buckets/compat > "$dir/bucket_get.json"
  etag "$parent/records" > "$dir/etag"

  DIR=$dir py '
import json, os
d = os.environ["DIR"]
load = lambda n: json.load(open(os.path.join(d, n)))
records = [load(r + ".json") for r in ("r1", "r2", "r3")]
out = {
    "bucket": "compat",
    "collection": "things",
    "user_id": open(os.path.join(d, "user")).read().strip(),
    "records": [r["data"] for r in records],
    "record_permissions": records[0]["permissions"],
    "tombstone": load("tombstone.json")["data"],
    "records_etag": open(os.path.join(d, "etag")).read().strip(),
    "bucket_object": load("bucket_get.json")["data"],
}
json.dump(out, open(os.path.join(d, "kinto-wrote.json"), "w"), indent=1)
'

  echo "== cliquet reads and writes ($db)"
  compat check-and-write "postgres://$PGUSER@$PGHOST:$PGPORT/$db" "$dir/kinto-wrote.json" "$dir/we-wrote.json"

  echo "== Kinto reads back ($db)"
  http GET "$parent/records/from-cliquet" > "$dir/created.json"
  http GET "$parent/records/r2" > "$dir/updated.json"
  local since
  since=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["records"][1]["last_modified"])' "$dir/kinto-wrote.json")
  http GET "$parent/records?_since=$since" > "$dir/changes.json"
  etag "$parent/records" > "$dir/etag-after"
  http POST "$parent/records" '{"data": {"id": "r5", "after": "cliquet"}}' > "$dir/r5.json"

  DIR=$dir py '
import json, os, sys
d = os.environ["DIR"]
load = lambda n: json.load(open(os.path.join(d, n)))
we = load("we-wrote.json")
failures = 0
def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += 0 if ok else 1
created = load("created.json")
check(created["data"] == we["created"], "Kinto reads our record (data and last_modified)")
perms = {k: sorted(v) for k, v in created["permissions"].items()}
check(all(sorted(v) == perms.get(k) for k, v in we["created_permissions"].items()), "Kinto reads our permissions")
check(load("updated.json")["data"] == we["updated"], "Kinto reads our update")
changes = load("changes.json")["data"]
check(we["tombstone"] in changes, "Kinto lists our tombstone with _since")
check(we["created"] in changes and we["updated"] in changes, "Kinto lists our writes with _since")
check(open(os.path.join(d, "etag-after")).read().strip() == we["records_etag"], "Kinto collection ETag equals our timestamp")
r5 = load("r5.json")["data"]
check(r5["last_modified"] > int(we["records_etag"]), "Kinto writes after ours get greater timestamps")
sys.exit(1 if failures else 0)
'
}

fresh_db() {
  psql -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 WITH ENCODING UTF8"
  psql -q -d postgres -c "ALTER DATABASE $1 SET TIMEZONE TO UTC"
}

echo "### 1. database created by Kinto"
"$START_KINTO" "$PORT" stop >/dev/null 2>&1 || true
fresh_db bench_cliquet_rt_kinto
"$START_KINTO" "$PORT" bench_cliquet_rt_kinto
round_trip bench_cliquet_rt_kinto
"$START_KINTO" "$PORT" stop

echo "### 2. database created by cliquet-postgres"
fresh_db bench_cliquet_rt_ours
compat migrate "postgres://$PGUSER@$PGHOST:$PGPORT/bench_cliquet_rt_ours"
"$START_KINTO" "$PORT" bench_cliquet_rt_ours
grep -i "up-to-date\|up to date" "/tmp/kinto-bench-$PORT/migrate.log" || { echo "kinto migrate changed our schema:"; cat "/tmp/kinto-bench-$PORT/migrate.log"; }
round_trip bench_cliquet_rt_ours
"$START_KINTO" "$PORT" stop

echo "round trip passed"
