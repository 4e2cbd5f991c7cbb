#!/usr/bin/env bash
# Starts three agents on loopback that find each other through the first
# one's gossip address, prints the members and the Raft configuration once
# the cluster has formed, and stops them cleanly on Ctrl-C.
set -euo pipefail
BIN=${BIN:-bin/agent}
BASE=${BASE_PORT:-17000}
dir=$(mktemp -d -t agent-run.XXXXXX)
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping agents..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
  echo "stopped; removed $dir"
}
trap cleanup EXIT INT TERM

seed="127.0.0.1:$((BASE + 946))"
for i in 1 2 3; do
  off=$((i - 1))
  "$BIN" run -node-id "node$i" -data-dir "$dir/node$i" -bind 127.0.0.1 \
    -gossip-port $((BASE + 946 + off)) -raft-port $((BASE + off)) \
    -http-addr "127.0.0.1:$((BASE + 70 + off))" \
    -join "$seed" -bootstrap-expect 3 >"$dir/node$i.log" 2>&1 &
  pids+=($!)
  echo "node$i: http 127.0.0.1:$((BASE + 70 + off)), log $dir/node$i.log"
done

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
echo "cluster formed. Try: $BIN autopilot state -http-addr $http"
echo "Ctrl-C stops all three."
wait
