#!/usr/bin/env bash
# Side-by-side benchmark: real redis-server vs cinnabar-server, same machine, same run.
#
#   bench/run.sh [path/to/cinnabar-server]        (default: target/release/cinnabar-server)
#
# For each of SET, GET, INCR, MSET at pipeline depths 1, 16, 64 (-c 50) it runs
# redis-benchmark against each server in turn, TRIALS times (default 3), and reports the median
# rps and the server's own CPU time per request (utime+stime from /proc/PID/stat around each
# run), with the cinnabar/redis ratios. Then memory per key after DEBUG POPULATE 1000000
# (used_memory and RSS over an empty-server baseline). Env: TRIALS, N1 (requests at -P 1),
# NP (requests at -P 16/64), KEYS (populate count), BENCH_OUT (also write the table there).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cin=${1:-$here/target/release/cinnabar-server}
red=${REDIS_SERVER_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
TRIALS=${TRIALS:-3}; N1=${N1:-200000}; NP=${NP:-2000000}; KEYS=${KEYS:-1000000}
[ -x "$cin" ] || { echo "no cinnabar-server at $cin (cargo build --release)" >&2; exit 2; }
[ -x "$red" ] || { echo "no redis-server (apt-get install redis-server)" >&2; exit 2; }
command -v redis-benchmark >/dev/null || { echo "no redis-benchmark (apt-get install redis-tools)" >&2; exit 2; }
hz=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # bin dir port -> pid
  "$1" --port "$3" --bind 127.0.0.1 --save "" --appendonly no --dir "$2" --enable-debug-command yes \
       --logfile "$2/log" --daemonize no >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do redis-cli -p "$3" ping >/dev/null 2>&1 && break; sleep 0.05; done
  echo $pid
}
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
rss() { awk '/VmRSS/ {print $2*1024}' /proc/$1/status; }
used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }

tmp=$(mktemp -d)
rp=$(free_port); cp=$(free_port)
mkdir -p "$tmp/r" "$tmp/c"
rpid=$(start "$red" "$tmp/r" "$rp"); cpid=$(start "$cin" "$tmp/c" "$cp")
trap 'kill $rpid $cpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

run() { # port pid test P n -> "rps cpu_us_per_req"
  local b a out rps
  redis-cli -p "$1" flushall >/dev/null
  b=$(ticks "$2")
  out=$(redis-benchmark -p "$1" -c 50 -n "$5" -P "$4" -t "$3" -q --csv 2>/dev/null | tail -1)
  a=$(ticks "$2")
  rps=$(echo "$out" | awk -F'"' '{print $4}')
  awk -v r="$rps" -v d=$((a-b)) -v n="$5" -v hz="$hz" 'BEGIN {printf "%.0f %.3f\n", r, d*1e6/hz/n}'
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

out=$(mktemp)
printf '%-6s %3s %12s %12s %7s %11s %11s %7s\n' test P redis_rps cinnabar_rps ratio redis_us/r cinn_us/r ratio | tee -a "$out"
for t in set get incr mset; do
  for P in 1 16 64; do
    n=$([ "$P" = 1 ] && echo "$N1" || echo "$NP")
    rr=(); rc=(); cr=(); cc=()
    for _ in $(seq "$TRIALS"); do
      read -r a b < <(run "$rp" "$rpid" "$t" "$P" "$n"); rr+=("$a"); cr+=("$b")
      read -r a b < <(run "$cp" "$cpid" "$t" "$P" "$n"); rc+=("$a"); cc+=("$b")
    done
    R=$(printf '%s\n' "${rr[@]}" | median); C=$(printf '%s\n' "${rc[@]}" | median)
    RU=$(printf '%s\n' "${cr[@]}" | median); CU=$(printf '%s\n' "${cc[@]}" | median)
    awk -v t="$t" -v p="$P" -v R="$R" -v C="$C" -v RU="$RU" -v CU="$CU" 'BEGIN {
      printf "%-6s %3s %12d %12d %7.2f %11.3f %11.3f %7.2f\n", t, p, R, C, (R>0?C/R:0), RU, CU, (RU>0?CU/RU:0) }' | tee -a "$out"
  done
done

mem() { # port pid -> "used_per_key rss_per_key"
  redis-cli -p "$1" flushall >/dev/null; sleep 0.2
  local u0 r0 u1 r1
  u0=$(used "$1"); r0=$(rss "$2")
  redis-cli -p "$1" debug populate "$KEYS" >/dev/null
  sleep 0.2
  u1=$(used "$1"); r1=$(rss "$2")
  awk -v a=$((u1-u0)) -v b=$((r1-r0)) -v k="$KEYS" 'BEGIN {printf "%.1f %.1f\n", a/k, b/k}'
}
read -r ru rr2 < <(mem "$rp" "$rpid")
read -r cu cr2 < <(mem "$cp" "$cpid")
printf '\nmemory per key after DEBUG POPULATE %s: used_memory redis %s B, cinnabar %s B (ratio %s); RSS redis %s B, cinnabar %s B (ratio %s)\n' \
  "$KEYS" "$ru" "$cu" "$(awk -v a="$cu" -v b="$ru" 'BEGIN{printf "%.2f", a/b}')" \
  "$rr2" "$cr2" "$(awk -v a="$cr2" -v b="$rr2" 'BEGIN{printf "%.2f", a/b}')" | tee -a "$out"
[ -n "${BENCH_OUT:-}" ] && cp "$out" "$BENCH_OUT"
rm -f "$out"
