#!/usr/bin/env bash
# `make run`: the example Seldon model on $MODEL_PORT, then mlgraph on SQLite, in the foreground.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MODEL_PORT=${MODEL_PORT:-9000}
export MLGRAPH_MODEL_URL=${MLGRAPH_MODEL_URL:-http://127.0.0.1:$MODEL_PORT}

"$BIN/python" scripts/modelserver.py seldon --port "$MODEL_PORT" &
model_pid=$!
trap 'kill $model_pid 2>/dev/null || true' EXIT INT TERM

echo "waiting for the model server on port $MODEL_PORT ..."
for _ in $(seq 1 180); do
  if "$BIN/python" -c "import urllib.request as u; u.urlopen('$MLGRAPH_MODEL_URL/health/ping', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$model_pid" 2>/dev/null || { echo "the model server exited" >&2; exit 1; }
  sleep 1
done

"$BIN/mlgraph" migrate
port=${MLGRAPH_PORT:-8000}
echo
echo "mlgraph: http://127.0.0.1:$port/ (GraphiQL at /graphql, dashboard at /dashboard/; model at $MLGRAPH_MODEL_URL)"
echo
"$BIN/mlgraph" serve
