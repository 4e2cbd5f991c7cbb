#!/usr/bin/env bash
# Starts three agents on loopback that find each other through the first
# one's gossip address, prints the members and the Raft configuration once
# the cluster has formed, and stops them cleanly on Ctrl-C.
#
# Each agent runs in a process group of its own (started under set -m), so the terminal's
# Ctrl-C reaches only this script, whose trap sends each agent one SIGTERM:
# a second signal would make an agent exit without handing off leadership.
# RUN_DIR keeps the data and logs there instead of in a removed temp dir.
set -euo pipefail
BIN=${BIN:-bin/agent}
BASE=${BASE_PORT:-17000}
if [ -n "${RUN_DIR:-}" ]; then
  dir=$RUN_DIR keep=1
  mkdir -p "$dir"
else
  dir=$(mktemp -d -t agent-run.XXXXXX) keep=0
fi
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping agents..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then
    echo "stopped; kept $dir"
  else
    rm -rf "$dir"
    echo "stopped; removed $dir"
  fi
}
trap cleanup EXIT INT TERM

seed="127.0.0.1:$((BASE + 946))"
set -m
for i in 1 2 3; do
  off=$((i - 1))
  "$BIN" run -node-id "node$i" -data-dir "$dir/node$i" -bind 127.0.0.1 \
    -gossip-port $((BASE + 946 + off)) -raft-port $((BASE + off)) \
    -http-addr "127.0.0.1:$((BASE + 70 + off))" \
    -join "$seed" -bootstrap-expect 3 >"$dir/node$i.log" 2>&1 &
  pids+=($!)
  echo "node$i: http 127.0.0.1:$((BASE + 70 + off)), log $dir/node$i.log"
done
set +m

http="127.0.0.1:$((BASE + 70))"
deadline=$((SECONDS + 60))
formed() {
  local peers
  peers=$("$BIN" raft peers -json -http-addr "$http" 2>/dev/null) || return 1
  [ "$(grep -o '"voter"' <<<"$peers" | wc -l)" -eq 3 ] && grep -q '"leader":true' <<<"$peers"
}
until formed; do
  if [ $SECONDS -ge $deadline ]; then
    echo "cluster did not form within 60s; last log lines:" >&2
    tail -n 20 "$dir"/node*.log >&2
    exit 1
  fi
  sleep 0.5
done

echo
"$BIN" members -http-addr "$http"
echo
"$BIN" raft peers -http-addr "$http"
echo
echo "cluster formed. Point the CLI at it:"
echo "  export AGENT_HTTP_ADDR=$http"
echo "  $BIN autopilot state"
echo "Ctrl-C stops all three."
wait
