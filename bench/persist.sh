#!/usr/bin/env bash
# Persistence benchmark: the reference redis-server and cinnabar-server side by side, in the same
# run, reported as ratios (cinnabar / redis).
#
#   bench/persist.sh [path/to/cinnabar-server]      default: target/release/cinnabar-server
#
# (a) Extra memory while BGSAVE runs under writes. Each server gets KEYS keys of VALUE bytes
#     named as redis-benchmark names them (key:000000000042, fed through redis-cli --pipe), then
#     BGSAVE starts while `redis-benchmark -t set -r KEYS -d VALUE` overwrites random keys at
#     full speed. Every 50 ms the script samples the server's RSS and, for Redis, the fork
#     child's Private_Dirty (its copy-on-write pages) from /proc. Reported: the dataset
#     (used_memory before), the peak extra memory (max of RSS + child private dirty, minus RSS
#     before) as a fraction of the dataset, and the server's own figure (Redis's
#     rdb_last_cow_size; Cinnabar's rdb_last_cow_size = old versions kept by the snapshot).
# (b) SAVE time and startup load time for BIGKEYS keys (DEBUG POPULATE, small values): the wall
#     time of SAVE, and the time from process start until the server answers PING with PONG
#     (no -LOADING) on the saved file.
#
# Environment:
#   KEYS=1000000 VALUE=1000    dataset of (a) (0 skips it)
#   BIGKEYS=10000000           keys of (b) (0 skips it)
#   BENCH_OUT=file             also write the report there
#   REDIS_SERVER_BIN=/usr/bin/redis-server
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cin=${1:-$root/target/release/cinnabar-server}
red=${REDIS_SERVER_BIN:-/usr/bin/redis-server}
KEYS=${KEYS:-1000000}
VALUE=${VALUE:-1000}
BIGKEYS=${BIGKEYS:-10000000}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$cin" ] || die "no cinnabar-server at $cin (cargo build --release, or pass a path)"
[ -x "$red" ] || die "no redis-server at $red (apt-get install redis-server)"
command -v redis-benchmark >/dev/null || die "no redis-benchmark (apt-get install redis-tools)"
command -v redis-cli >/dev/null || die "no redis-cli (apt-get install redis-tools)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cinnabar-bench-persist.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
report="$work/report.txt"
say() { echo "$*" | tee -a "$report"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME BIN DIR -> sets PORT and PID
start() {
  local name=$1 bin=$2 dir=$3
  mkdir -p "$dir"
  PORT=$(free_port)
  "$bin" --port "$PORT" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --enable-debug-command yes --logfile "$dir/log" >/dev/null 2>&1 &
  PID=$!
  pids+=("$PID")
  local i
  for i in $(seq 1 600); do
    if [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]; then return 0; fi
    sleep 0.1
  done
  die "$name did not start (log: $(tail -5 "$dir/log" 2>/dev/null))"
}

stop() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; wait "$2" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
info() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
child_dirty_kb() {
  local c sum=0 v
  for c in $(children "$1"); do
    v=$(awk '/^Private_Dirty/ {s += $2} END {print s + 0}' "/proc/$c/smaps_rollup" 2>/dev/null || echo 0)
    sum=$((sum + v))
  done
  echo "$sum"
}

# (a) ------------------------------------------------------------------------------------------
cow_run() {
  local name=$1 bin=$2 dir="$work/$1-cow"
  start "$name" "$bin" "$dir"
  local port=$PORT pid=$PID
  awk -v n="$KEYS" -v sz="$VALUE" 'BEGIN {
      v = sprintf("%" sz "s", ""); gsub(/ /, "x", v)
      for (i = 0; i < n; i++) {
        k = sprintf("key:%012d", i)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, sz, v
      }
    }' | redis-cli -p "$port" --pipe >/dev/null
  local used rss0
  used=$(info "$port" memory used_memory)
  rss0=$(rss_kb "$pid")
  redis-benchmark -p "$port" -t set -r "$KEYS" -d "$VALUE" -n 100000000 -c 50 -P 16 -q >/dev/null 2>&1 &
  local bench=$!
  sleep 1
  rss0=$(rss_kb "$pid")
  local t0 peak=0 now cd
  t0=$(date +%s.%N)
  redis-cli -p "$port" bgsave >/dev/null
  while :; do
    now=$(rss_kb "$pid")
    cd=$(child_dirty_kb "$pid")
    [ $((now + cd)) -gt "$peak" ] && peak=$((now + cd))
    [ "$(info "$port" persistence rdb_bgsave_in_progress)" = 0 ] && break
    sleep 0.05
  done
  local secs
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  kill "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  local own status
  own=$(info "$port" persistence rdb_last_cow_size)
  status=$(info "$port" persistence rdb_last_bgsave_status)
  stop "$port" "$pid"
  local extra=$(( (peak - rss0) * 1024 ))
  [ "$extra" -lt 0 ] && extra=0
  say "$(printf '%-9s dataset %6.0f MB  bgsave %5.1f s (%s)  peak extra %6.0f MB = %+.2fx dataset  own cow figure %6.0f MB' \
    "$name" "$(echo "$used / 1048576" | bc -l)" "$secs" "$status" "$(echo "$extra / 1048576" | bc -l)" \
    "$(echo "$extra / $used" | bc -l)" "$(echo "${own:-0} / 1048576" | bc -l)")"
  eval "${name}_extra=$(echo "$extra / $used" | bc -l)"
}

# (b) ------------------------------------------------------------------------------------------
save_load_run() {
  local name=$1 bin=$2 dir="$work/$1-big"
  start "$name" "$bin" "$dir"
  local port=$PORT pid=$PID
  redis-cli -p "$port" debug populate "$BIGKEYS" key >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  redis-cli -p "$port" save >/dev/null
  t1=$(date +%s.%N)
  local save_s
  save_s=$(echo "$t1 - $t0" | bc)
  stop "$port" "$pid"
  local size
  size=$(stat -c %s "$dir/dump.rdb")
  # Restart on the file and time until it answers PONG.
  t0=$(date +%s.%N)
  "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/log2" >/dev/null 2>&1 &
  pid=$!
  pids+=("$pid")
  while [ "$(redis-cli -p "$port" ping 2>/dev/null)" != PONG ]; do sleep 0.01; done
  t1=$(date +%s.%N)
  local load_s
  load_s=$(echo "$t1 - $t0" | bc)
  local n
  n=$(redis-cli -p "$port" dbsize)
  stop "$port" "$pid"
  say "$(printf '%-9s %d keys  SAVE %6.2f s  file %5.0f MB  load %6.2f s (%d keys back)' \
    "$name" "$BIGKEYS" "$save_s" "$(echo "$size / 1048576" | bc -l)" "$load_s" "$n")"
  eval "${name}_save=$save_s ${name}_load=$load_s"
}

say "persistence benchmark, $(date -u +%FT%TZ), $(nproc) cores"
if [ "$KEYS" -gt 0 ]; then
  say "(a) extra memory while BGSAVE runs under random overwrites ($KEYS keys x $VALUE bytes)"
  cow_run redis "$red"
  cow_run cinnabar "$cin"
  say "    Redis needs $(printf '%+.2f' "$redis_extra")x its dataset, Cinnabar $(printf '%+.2f' "$cinnabar_extra")x (target <= +0.10x)"
fi
if [ "$BIGKEYS" -gt 0 ]; then
  say "(b) SAVE and startup load of $BIGKEYS keys"
  save_load_run redis "$red"
  save_load_run cinnabar "$cin"
  say "    ratio cinnabar/redis: SAVE $(printf '%.2f' "$(echo "$cinnabar_save / $redis_save" | bc -l)")  load $(printf '%.2f' "$(echo "$cinnabar_load / $redis_load" | bc -l)") (target <= 0.70)"
fi
if [ -n "${BENCH_OUT:-}" ]; then cp "$report" "$BENCH_OUT"; fi
