#!/usr/bin/env bash
# `make demo`: import MovieLens 100K, train a small model, show offline recommendations,
# then serve it on 127.0.0.1:8000 with a fresh API key. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=../shared/datasets/ml-100k
OUT=demo-data
DB=$OUT/ml-100k.db
PORT=${ATTUNE_DEMO_PORT:-8000}

if [ ! -d "$DATA" ]; then
  echo "demo: $DATA not found; download MovieLens 100K with:" >&2
  echo "  $BIN/attune data fetch movielens-100k --dest data   (then set DATA=data/ml-100k)" >&2
  exit 2
fi
mkdir -p "$OUT"
echo "== the data"
$BIN/attune data inspect "$DATA"
rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.state" "$DB.lock" "$DB.keys.json"
$BIN/attune data import "$DATA" --db "$DB"

echo "== training a small model: a pair, the default (about 2 minutes on 2 cores)"
if [ ! -f "$OUT/model/model.pt" ] && [ ! -f "$OUT/model/members.json" ]; then
  $BIN/attune train --data "$DB" --out "$OUT/model" --config scripts/demo.toml
fi

echo "== offline recommendations from each user's stored history"
for user in 1 2 3; do
  $BIN/attune recommend --model "$OUT/model" --data "$DB" --user "$user" -k 5
done

# A model registry with the trained model as version 1: the server follows it, so
# `attune learn` (below) can publish fine-tuned versions that the server swaps in live.
rm -rf "$OUT/registry"
$BIN/attune models init --registry "$OUT/registry" --from "$OUT/model" --db "$DB"

KEY=$($BIN/attune keys create --db "$DB" --scope ingest --scope recommend --scope admin \
      --name demo | tail -n 1)
URL="http://127.0.0.1:$PORT"
cat <<MSG

== serving on $URL  (Ctrl-C to stop)
Playground: $URL/ui/   (web console: sign in with the API key below)
Dashboard:  $URL/ui/dashboard
API docs:   $URL/docs
Health:     $URL/healthz
Metrics:    $URL/metrics
API key:    $KEY

Try it: user 1's recommendations, then a purchase of a horror classic, then again:
  curl -s -H "X-API-Key: $KEY" "$URL/v1/users/1/recommendations?k=5"
  curl -s -H "X-API-Key: $KEY" -H 'content-type: application/json' \\
       -d '{"user_id": "1", "item_id": "185", "event_type": "purchase"}' $URL/v1/events
  curl -s -H "X-API-Key: $KEY" "$URL/v1/users/1/recommendations?k=5"

Continuous learning, in a second terminal: fine-tunes on the events logged since the current
version, publishes the result only if it is not worse on the newest events, and the server
swaps it in (list the versions with: $BIN/attune models list --registry $OUT/registry):
  $BIN/attune learn --db $DB --registry $OUT/registry --watch --min-events 200
MSG
# The dashboard shows the newest benchmark report of bench/results.
ATTUNE_REPORT_DIR=bench/results exec $BIN/attune serve --db "$DB" --model "$OUT/registry" --host 127.0.0.1 --port "$PORT"
