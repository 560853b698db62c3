#!/usr/bin/env bash
# One host, scaled out: Redis (append-only file, fsync on every write), N `attune serve`
# processes on their own ports over it, and the continuous-learning job against the same
# store. Put any HTTP load balancer in front of the ports; docs/deploy.md does the same across
# hosts. Ctrl-C (or SIGTERM) stops the servers and the learner, then Redis.
#
#   scripts/run-scaled.sh --model CHECKPOINT_OR_REGISTRY [--import DATA] [--dir DIR]
#                         [--ports 8001,8002] [--redis-port 6379] [--no-learn]
#
#   --model       a checkpoint from `attune train` (a registry is made from it in DIR) or a
#                 model registry (`attune models init`); every server follows its current
#                 version, kept in Redis
#   --import      a dataset to import into Redis first (`attune data import`)
#   --dir         where Redis keeps its files (and the registry made from a checkpoint);
#                 default: a new temporary folder
#   --no-learn    do not start `attune learn --watch`
# Environment: ATTUNE (the attune command, default: attune on PATH, else .venv/bin/attune);
# ATTUNE_* settings reach every server (e.g. ATTUNE_MODEL_POLL_S, ATTUNE_STORE_POLL_S).
set -euo pipefail

MODEL="" DATA="" DIR="" PORTS="8001,8002" REDIS_PORT=6379 LEARN=1
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --import) DATA=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --ports) PORTS=$2; shift 2 ;;
    --redis-port) REDIS_PORT=$2; shift 2 ;;
    --no-learn) LEARN=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run-scaled: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$MODEL" ]; then
  echo "run-scaled: --model is required (see --help)" >&2
  exit 2
fi
if [ -z "${ATTUNE:-}" ]; then
  ATTUNE=$(command -v attune || echo "$(dirname "$0")/../.venv/bin/attune")
fi
DIR=${DIR:-$(mktemp -d -t attune-scaled.XXXXXX)}
mkdir -p "$DIR/redis"
STORE="redis://127.0.0.1:$REDIS_PORT/0"
PIDS=()

stop() {  # the servers and the learner first (they finish their requests), then Redis
  trap - INT TERM EXIT
  local failed=0 code
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    code=0
    wait "$pid" 2>/dev/null || code=$?
    # 143: ended by the SIGTERM sent above (uvicorn re-raises it once shut down)
    if [ "$code" != 0 ] && [ "$code" != 143 ]; then failed=1; fi
  done
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  wait "$REDIS_PID" 2>/dev/null || true
  if [ "$failed" = 1 ]; then
    echo "run-scaled: stopped; a server or the learner had failed" >&2
    exit 1
  fi
  echo "run-scaled: stopped" >&2
  exit 0
}

# "Acknowledged means stored": every write is in the append-only file, fsynced, before Redis
# answers it (appendfsync everysec is faster and may lose about a second on a host crash).
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
  --appendonly yes --appendfsync always --save "" --logfile "$DIR/redis/redis.log" &
REDIS_PID=$!
trap stop INT TERM EXIT  # stop() ends the script
for _ in $(seq 200); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$REDIS_PORT" ping >/dev/null

if [ -n "$DATA" ]; then
  $ATTUNE data import "$DATA" --store "$STORE"
fi
REGISTRY=$MODEL
if [ ! -f "$MODEL/registry.json" ]; then
  REGISTRY="$DIR/registry"
  if [ ! -f "$REGISTRY/registry.json" ]; then
    $ATTUNE models init --registry "$REGISTRY" --from "$MODEL" --store "$STORE"
  fi
fi

IFS=, read -r -a PORT_LIST <<<"$PORTS"
for port in "${PORT_LIST[@]}"; do
  $ATTUNE serve --store "$STORE" --model "$REGISTRY" --port "$port" &
  PIDS+=($!)
done
for port in "${PORT_LIST[@]}"; do
  for _ in $(seq 1200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null
  echo "run-scaled: serving http://127.0.0.1:$port" >&2
done
if [ "$LEARN" = 1 ]; then
  $ATTUNE learn --store "$STORE" --registry "$REGISTRY" --watch &
  PIDS+=($!)
fi
echo "run-scaled: ready (store $STORE, registry $REGISTRY, files in $DIR)" >&2
wait "${PIDS[@]}"
