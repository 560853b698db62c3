#!/usr/bin/env bash
# `make demo`: import a dataset (MovieLens 100K unless told otherwise), train a small model,
# show offline recommendations, then serve it on 127.0.0.1:8000 with a fresh API key. Ctrl-C
# stops the server.
#
# usage: scripts/demo.sh [--data PATH] [--dry-run]      (or: make demo DATA=PATH)
#   --data PATH  a dataset folder or file that `attune data import` reads: MovieLens 100K/1M,
#                RecBole (.inter), sequences (.txt), or a CSV/TSV/Parquet/JSONL table
#                (default: ../shared/datasets/ml-100k)
#   --dry-run    check the arguments and print the commands the demo would run; run none
set -euo pipefail

usage() { sed -n '6,10s/^# \{0,1\}//p' "$0" >&2; }

DEFAULT_DATA=../shared/datasets/ml-100k
DATA=
DRY_RUN=0
while [ $# -gt 0 ]; do
  case $1 in
    --data) [ $# -ge 2 ] || { echo "demo: --data needs a PATH" >&2; usage; exit 2; }
            DATA=$2; shift 2 ;;
    --data=*) DATA=${1#--data=}; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; usage; exit 2 ;;
  esac
done
# A given path is relative to where the demo was started; the default, to the repository.
if [ -n "$DATA" ] && [ "${DATA#/}" = "$DATA" ]; then
  DATA=$PWD/$DATA
fi
cd "$(dirname "$0")/.."
DATA=${DATA:-$DEFAULT_DATA}
DATA=${DATA%/}

BIN=.venv/bin
OUT=demo-data
NAME=$(basename "$DATA")
NAME=${NAME%.*}
DB=$OUT/$NAME.db
MODEL=$OUT/model
# Which dataset $MODEL was trained on: a model is reused only for the same dataset (a model
# from before this file existed was trained on the default one).
TRAINED_ON=$OUT/model.dataset
PORT=${ATTUNE_DEMO_PORT:-8000}

if [ ! -e "$DATA" ]; then
  echo "demo: $DATA not found" >&2
  if [ "$DATA" = "$DEFAULT_DATA" ]; then
    echo "download MovieLens 100K with:" >&2
    echo "  $BIN/attune data fetch movielens-100k --dest data   (then: make demo DATA=data/ml-100k)" >&2
  fi
  exit 2
fi

# The absolute, symlink-free form of a path (its folder need not exist).
canonical() {
  local dir
  dir=$(cd "$(dirname "$1")" 2>/dev/null && pwd -P) || dir=$(dirname "$1")
  echo "$dir/$(basename "$1")"
}

# Print each command; run it unless this is a dry run.
run() {
  echo "+ $*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

[ "$DRY_RUN" = 1 ] || mkdir -p "$OUT"
echo "== the data: $DATA"
run $BIN/attune data inspect "$DATA"
run rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.state" "$DB.lock" "$DB.keys.json"
run $BIN/attune data import "$DATA" --db "$DB"

echo "== training a small model: a pair, the default (MovieLens 100K: about 2 minutes on 2 cores)"
trained_on=$(cat "$TRAINED_ON" 2>/dev/null || canonical "$DEFAULT_DATA")
if [ "$trained_on" != "$(canonical "$DATA")" ] || { [ ! -f "$MODEL/model.pt" ] && [ ! -f "$MODEL/members.json" ]; }; then
  run rm -rf "$MODEL" "$TRAINED_ON"
  run $BIN/attune train --data "$DB" --out "$MODEL" --config scripts/demo.toml
  [ "$DRY_RUN" = 1 ] || canonical "$DATA" > "$TRAINED_ON"
else
  echo "(reusing $MODEL, trained on $DATA)"
fi

# Three users and an item of the data for the examples: the smallest ids, numbers in numeric
# order (users 1, 2, 3 of MovieLens); the demo's horror classic when the dataset has it.
if [ "$DRY_RUN" = 1 ]; then
  SAMPLE="ITEM USER1 USER2 USER3"
else
  SAMPLE=$($BIN/python - "$DB" <<'PY'
import sys

from attune.stores import open_storage

def first(ids): return sorted(ids, key=lambda i: (len(i), i))
with open_storage(sys.argv[1]) as store:
    items = first(store.items.ids)
    item = "185" if "185" in store.items else items[0]
    print(item, *first(store.users.ids)[:3])
PY
)
fi
read -r ITEM USERS <<< "$SAMPLE"
read -r USER1 _ <<< "$USERS"

echo "== offline recommendations from each user's stored history"
for user in $USERS; do
  run $BIN/attune recommend --model "$MODEL" --data "$DB" --user "$user" -k 5
done

# A model registry with the trained model as version 1: the server follows it, so
# `attune learn` (below) can publish fine-tuned versions that the server swaps in live.
run rm -rf "$OUT/registry"
run $BIN/attune models init --registry "$OUT/registry" --from "$MODEL" --db "$DB"

KEY_COMMAND=($BIN/attune keys create --db "$DB" --scope ingest --scope recommend --scope admin
             --name demo)
if [ "$DRY_RUN" = 1 ]; then
  echo "+ ${KEY_COMMAND[*]}"
  KEY=KEY
else
  KEY=$("${KEY_COMMAND[@]}" | tail -n 1)
fi
URL="http://127.0.0.1:$PORT"
cat <<MSG

== serving on $URL  (Ctrl-C to stop)
Playground: $URL/ui/   (web console: sign in with the API key below)
Dashboard:  $URL/ui/dashboard
API docs:   $URL/docs
Health:     $URL/healthz
Metrics:    $URL/metrics
API key:    $KEY

Try it: user $USER1's recommendations, then a purchase of item $ITEM, then again:
  curl -s -H "X-API-Key: $KEY" "$URL/v1/users/$USER1/recommendations?k=5"
  curl -s -H "X-API-Key: $KEY" -H 'content-type: application/json' \\
       -d '{"user_id": "$USER1", "item_id": "$ITEM", "event_type": "purchase"}' $URL/v1/events
  curl -s -H "X-API-Key: $KEY" "$URL/v1/users/$USER1/recommendations?k=5"

Continuous learning, in a second terminal: fine-tunes on the events logged since the current
version, publishes the result only if it is not worse on the newest events, and the server
swaps it in (list the versions with: $BIN/attune models list --registry $OUT/registry):
  $BIN/attune learn --db $DB --registry $OUT/registry --watch --min-events 200
MSG
# The dashboard shows the newest benchmark report of bench/results.
SERVE=($BIN/attune serve --db "$DB" --model "$OUT/registry" --host 127.0.0.1 --port "$PORT")
echo "+ ATTUNE_REPORT_DIR=bench/results ${SERVE[*]}"
if [ "$DRY_RUN" = 0 ]; then
  ATTUNE_REPORT_DIR=bench/results exec "${SERVE[@]}"
fi
