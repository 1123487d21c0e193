#!/usr/bin/env bash
# PostgreSQL stopped for real under load, for manual runs.
#
# The CI test `recipes/kinto/tests/pg_outage.rs` cuts a TCP proxy in front
# of PostgreSQL, so that other tests can keep using the server. This script
# does the same with the real thing: it serves the Kinto recipe on a
# database of its own, puts it under load, stops the PostgreSQL cluster
# with `pg_ctlcluster` for OUTAGE seconds, starts it again, and checks:
#
#   - every answer during the outage is a success or a 503 errno 201 with a
#     `Retry-After` header (never a 500, never a timeout);
#   - a write succeeds again within one second of the cluster accepting
#     connections.
#
# It stops the whole cluster: do not run it while anything else uses that
# PostgreSQL. Run it as a user allowed to run `pg_ctlcluster` (root or
# postgres) from the workspace root:
#
#   tests/scripts/pg-outage.sh
#
# Environment (defaults in brackets):
#   PG_VERSION [15]  PG_CLUSTER [main]   the cluster `pg_ctlcluster` stops
#   PG_URL [postgresql://postgres@127.0.0.1:5432/cliquet_outage]
#                                      the database served (created if absent)
#   BIND [127.0.0.1:8899]              where the recipe listens
#   OUTAGE [10]                        seconds the cluster stays stopped
#   CLIENTS [8]                        concurrent clients of the load
#
# Exit status 0 when every check holds; the answers seen are counted at the
# end, and the failing ones written to the work directory it prints.
set -euo pipefail

PG_VERSION=${PG_VERSION:-15}
PG_CLUSTER=${PG_CLUSTER:-main}
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432/cliquet_outage}
BIND=${BIND:-127.0.0.1:8899}
OUTAGE=${OUTAGE:-10}
CLIENTS=${CLIENTS:-8}
BASE="http://$BIND/v1"
AUTH="Authorization: Basic $(printf 'outage:pw' | base64)"
WORK=$(mktemp -d)
echo "work directory: $WORK"

server_pid=""
loaders=()
cleanup() {
    for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    # Never leave the cluster stopped.
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 2>/dev/null || true
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

db=${PG_URL##*/}
createdb -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true

cargo build -q -p kinto
KINTO_STORAGE_BACKEND=postgresql \
KINTO_PERMISSION_BACKEND=postgresql \
KINTO_CACHE_BACKEND=postgresql \
KINTO_STORAGE_URL="$PG_URL" \
KINTO_MIGRATE_ON_START=true \
    "${CARGO_TARGET_DIR:-target}/debug/kinto" serve --bind "$BIND" >"$WORK/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 100); do
    curl -fs "$BASE/" >/dev/null && break
    sleep 0.1
done
curl -fs -X PUT -H "$AUTH" "$BASE/buckets/outage" >/dev/null
curl -fs -X PUT -H "$AUTH" "$BASE/buckets/outage/collections/c" >/dev/null

# One client: writes and reads in a loop, one line per answer:
# "<status> <errno or -> <retry-after or -> <seconds>".
load() {
    local client=$1 n=0
    while :; do
        n=$((n + 1))
        for method in PUT GET; do
            curl -s -m 10 -X "$method" -H "$AUTH" -H 'Content-Type: application/json' \
                -d "{\"data\": {\"n\": $n}}" -D "$WORK/h.$client" -o "$WORK/b.$client" \
                -w '%{http_code} %{time_total}\n' \
                "$BASE/buckets/outage/collections/c/records/r$client" >"$WORK/w.$client" || true
            read -r status took <"$WORK/w.$client" || true
            errno=$(sed -n 's/.*"errno": *\([0-9]*\).*/\1/p' "$WORK/b.$client")
            retry=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$WORK/h.$client")
            echo "$status ${errno:--} ${retry:--} $took" >>"$WORK/answers.$client"
        done
        sleep 0.02
    done
}
for client in $(seq "$CLIENTS"); do
    load "$client" &
    loaders+=($!)
done

sleep 2
echo "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER for ${OUTAGE}s"
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop -m fast
sleep "$OUTAGE"
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
until pg_isready -q -h 127.0.0.1; do sleep 0.01; done
back=$(now_ms)
while :; do
    status=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" \
        "$BASE/buckets/outage/collections/c/records/after")
    case $status in 2??) break ;; esac
    sleep 0.02
done
recovered=$(($(now_ms) - back))
sleep 1
for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null || true; done
wait "${loaders[@]}" 2>/dev/null || true
loaders=()

cat "$WORK"/answers.* >"$WORK/answers"
total=$(wc -l <"$WORK/answers")
ok=$(awk '$1 ~ /^2/' "$WORK/answers" | wc -l)
unavailable=$(awk '$1 == 503 && $2 == 201 && $3 != "-"' "$WORK/answers" | wc -l)
awk '!($1 ~ /^2/) && !($1 == 503 && $2 == 201 && $3 != "-")' "$WORK/answers" >"$WORK/wrong"
wrong=$(wc -l <"$WORK/wrong")
echo "$total answers: $ok successes, $unavailable 503 errno 201, $wrong wrong"
echo "writes back ${recovered} ms after PostgreSQL accepted connections"

status=0
if [ "$wrong" -gt 0 ]; then
    echo "FAIL: answers other than success or 503 errno 201 with Retry-After (in $WORK/wrong):"
    sort "$WORK/wrong" | cut -d' ' -f1-3 | uniq -c | head
    status=1
fi
if [ "$unavailable" -eq 0 ]; then
    echo "FAIL: no 503 seen: was the cluster stopped?"
    status=1
fi
if [ "$recovered" -gt 1000 ]; then
    echo "FAIL: writes came back after ${recovered} ms (more than 1000)"
    status=1
fi
exit $status
