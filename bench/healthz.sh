#!/usr/bin/env bash
# /healthz throughput of clean-service next to a raw Beast server
# (bench/baselines/raw_beast.cpp), measured in interleaved rounds in one run
# so machine noise hits both alike. Prints per-round req/s and the ratio of
# medians. Results and commands are recorded in docs/BENCHMARKS.md.
#
#   bench/healthz.sh [rounds=3] [seconds=10] [connections=64]
#
# Needs: a build (scripts/build), wrk (installed here if missing), and a
# database for the service's readiness actor (the private one in var/bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-3}
seconds=${2:-10}
conns=${3:-64}

command -v wrk >/dev/null || { [[ $(id -u) -eq 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
DATABASE_URL=${DATABASE_URL:-$(scripts/pg-cluster start "$root/var/bench-postgres")}
export DATABASE_URL
build/clean-service migrate >/dev/null 2>&1

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

raw_port=$(free_port)
build/bench/raw_beast "$raw_port" >/dev/null &
pids+=($!)
svc_port=$(free_port)
PORT=$svc_port ACCESS_LOG=false LOG_LEVEL=warn build/clean-service serve 2>/dev/null &
pids+=($!)
svc_log_port=$(free_port)
PORT=$svc_log_port ACCESS_LOG=true LOG_FORMAT=json build/clean-service serve 2>/dev/null >/dev/null &
pids+=($!)
sleep 1

run() { wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$1/healthz" | awk '/Requests\/sec/ {print int($2)}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

raw=(); svc=(); svc_log=()
for ((i = 1; i <= rounds; i++)); do
  r=$(run "$raw_port"); s=$(run "$svc_port"); l=$(run "$svc_log_port")
  raw+=("$r"); svc+=("$s"); svc_log+=("$l")
  echo "round $i: raw_beast=$r clean-service=$s clean-service+access_log=$l"
done
mr=$(median "${raw[@]}"); ms=$(median "${svc[@]}"); ml=$(median "${svc_log[@]}")
echo "median req/s: raw_beast=$mr clean-service=$ms clean-service+access_log=$ml"
awk -v s="$ms" -v r="$mr" -v l="$ml" 'BEGIN {printf "ratio vs raw Beast: clean-service %.2f, with access log %.2f\n", s/r, l/r}'
