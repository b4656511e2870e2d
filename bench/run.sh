#!/usr/bin/env bash
# Side-by-side benchmark: the reference redis-server and cinnabar-server on the same machine, in
# the same run, reported as ratios (cinnabar / redis).
#
#   bench/run.sh [path/to/cinnabar-server]      default: target/release/cinnabar-server
#
# Throughput: for each test (SET GET INCR MSET and the data-type tests: LPUSH LPOP SADD SPOP
# HSET ZADD ZPOPMIN LRANGE_100 LRANGE_600) and pipeline depth (1 16 64), one
# `redis-benchmark -c 50 -n N -P P -t TEST -q --csv` run per server, alternating servers,
# TRIALS times; the median requests/s and the server's own CPU time per request (utime+stime
# from /proc/PID/stat before and after the run) are reported with their ratios.
# Pop tests (LPOP SPOP ZPOPMIN) first fill their key with the matching push test (unmeasured).
# Memory: on a fresh pair of servers, used_memory (INFO) and RSS (/proc/PID/status) before and
# after `DEBUG POPULATE KEYS`, as bytes per key and ratio; then the same for one hash, one set
# and one sorted set of ELEMENTS elements each (bytes per element).
#
# Environment:
#   N1=200000        requests per run at -P 1
#   NP=2000000       requests per run at -P 16 and 64
#   TRIALS=3         runs per (test, P, server); the median is reported
#   TESTS="set get incr mset lpush lpop sadd spop hset zadd zpopmin lrange_100 lrange_600"
#   PIPELINES="1 16 64"   CLIENTS=50
#   CMD_TESTS="evalsha publish"   the command tests (issue 7): EVALSHA of a 3-command script
#                    (INCR, SET, GET on random keys) and PUBLISH to a channel with SUBSCRIBERS
#                    redis-cli subscribers attached; same rps / CPU-per-request report
#   SUBSCRIBERS=10
#   KEYS=1000000     keys for the memory test (0 skips it)
#   ELEMENTS=1000000 elements of the hash/set/zset memory test (0 skips it)
#   BENCH_OUT=file   also write the report there
#   REDIS_SERVER_BIN=/usr/bin/redis-server
#
# Exit status: non-zero only when something could not be run (a server did not start,
# redis-benchmark failed); poor ratios are reported, never fatal.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cin=${1:-$root/target/release/cinnabar-server}
red=${REDIS_SERVER_BIN:-/usr/bin/redis-server}
N1=${N1:-200000}
NP=${NP:-2000000}
TRIALS=${TRIALS:-3}
TESTS=${TESTS-set get incr mset lpush lpop sadd spop hset zadd zpopmin lrange_100 lrange_600}
PIPELINES=${PIPELINES:-1 16 64}
CLIENTS=${CLIENTS:-50}
CMD_TESTS=${CMD_TESTS-evalsha publish}
SUBSCRIBERS=${SUBSCRIBERS:-10}
KEYS=${KEYS:-1000000}
ELEMENTS=${ELEMENTS:-1000000}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$cin" ] || die "no cinnabar-server at $cin (cargo build --release, or pass a path)"
[ -x "$red" ] || die "no redis-server at $red (apt-get install redis-server)"
command -v redis-benchmark >/dev/null || die "no redis-benchmark (apt-get install redis-tools)"
command -v redis-cli >/dev/null || die "no redis-cli (apt-get install redis-tools)"
hz=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/cinnabar-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
report="$work/report.txt"
say() { printf '%s\n' "$*" | tee -a "$report"; }

# A port nobody listens on now. Python binds port 0 when available; otherwise probe random ports.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}

# start NAME BIN -> sets START_PID and START_PORT; the server runs in its own temp dir.
start() {
  local name=$1 bin=$2 dir port pid
  dir=$(mktemp -d "$work/$name.XXXXXX")
  for _attempt in 1 2 3; do
    port=$(free_port)
    (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
      --appendonly no --daemonize no --enable-debug-command yes --logfile "$dir/server.log") \
      >"$dir/stdout.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
        pids+=("$pid"); START_PID=$pid; START_PORT=$port
        return 0
      fi
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ! grep -qi "address already in use" "$dir/server.log" "$dir/stdout.log" 2>/dev/null; then
      break
    fi
  done
  cat "$dir/server.log" "$dir/stdout.log" >&2 2>/dev/null || true
  die "$name ($bin) did not start"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# CPU ticks (utime+stime, all threads) of a process; fields counted after the ")" of comm.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }

# bench_cmd PORT PID P N ARGS... -> prints "rps us_per_request": one redis-benchmark run with
# ARGS (a -t test or a custom command) and the server's CPU time over it.
bench_cmd() {
  local port=$1 pid=$2 p=$3 n=$4 t0 t1 out rps
  shift 4
  t0=$(ticks "$pid")
  out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -P "$p" -q --csv "$@" 2>&1) ||
    die "redis-benchmark failed on port $port: $out"
  t1=$(ticks "$pid")
  rps=$(printf '%s\n' "$out" | tr -d '\r' | awk -F'","' 'NF > 1 && $1 != "\"test" {print $2}' | tail -1)
  [[ $rps =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "cannot read requests/s from redis-benchmark output: $out"
  kill -0 "$pid" 2>/dev/null || die "server (pid $pid) died during $* -P $p"
  awk -v r="$rps" -v d=$((t1 - t0)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.0f %.3f\n", r, d * 1e6 / hz / n}'
}

# bench PORT PID TEST P N -> prints "rps us_per_request" for a built-in test (FLUSHALL first;
# pop tests get their key filled by the matching push test, unmeasured).
bench() {
  local port=$1 pid=$2 test=$3 p=$4 n=$5
  redis-cli -p "$port" flushall >/dev/null || die "FLUSHALL failed on port $port"
  local fill=""
  case $test in lpop) fill=lpush ;; rpop) fill=rpush ;; spop) fill=sadd ;; zpopmin) fill=zadd ;; esac
  if [ -n "$fill" ]; then
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -P 64 -r 100000000 -t "$fill" -q \
      >/dev/null 2>&1 || die "prefill $fill failed on port $port"
  fi
  bench_cmd "$port" "$pid" "$p" "$n" -t "$test"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

say "# cinnabar vs redis-server, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores"
say "# redis:    $red ($("$red" --version | head -1))"
say "# cinnabar: $cin"
say "# redis-benchmark -c $CLIENTS -n {P=1: $N1, P>1: $NP}, median of $TRIALS; ratio = cinnabar / redis"
say ""

start redis "$red"; rpid=$START_PID; rport=$START_PORT
start cinnabar "$cin"; cpid=$START_PID; cport=$START_PORT

say "$(printf '%-5s %3s %12s %12s %6s | %10s %10s %6s' test P redis_rps cinn_rps ratio redis_us/r cinn_us/r ratio)"
for t in $TESTS; do
  for p in $PIPELINES; do
    n=$([ "$p" -le 1 ] && echo "$N1" || echo "$NP")
    r_rps=(); r_cpu=(); c_rps=(); c_cpu=()
    for _ in $(seq "$TRIALS"); do
      read -r a b < <(bench "$rport" "$rpid" "$t" "$p" "$n") || die "benchmark failed"
      r_rps+=("$a"); r_cpu+=("$b")
      read -r a b < <(bench "$cport" "$cpid" "$t" "$p" "$n") || die "benchmark failed"
      c_rps+=("$a"); c_cpu+=("$b")
    done
    R=$(printf '%s\n' "${r_rps[@]}" | median); C=$(printf '%s\n' "${c_rps[@]}" | median)
    RU=$(printf '%s\n' "${r_cpu[@]}" | median); CU=$(printf '%s\n' "${c_cpu[@]}" | median)
    say "$(printf '%-5s %3s %12.0f %12.0f %6s | %10.3f %10.3f %6s' "$t" "$p" "$R" "$C" \
      "$(ratio "$C" "$R")" "$RU" "$CU" "$(ratio "$CU" "$RU")")"
  done
done

SCRIPT="redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) return redis.call('get', KEYS[2])"
subs=()
for t in $CMD_TESTS; do
  case $t in
    evalsha)
      rsha=$(redis-cli -p "$rport" script load "$SCRIPT")
      csha=$(redis-cli -p "$cport" script load "$SCRIPT")
      [ "$rsha" = "$csha" ] || die "SCRIPT LOAD: $rsha vs $csha"
      rargs=(-r 100000 evalsha "$rsha" 2 "c:__rand_int__" "s:__rand_int__" value); cargs=("${rargs[@]}") ;;
    publish)
      for port in "$rport" "$cport"; do
        for _ in $(seq "$SUBSCRIBERS"); do
          redis-cli -p "$port" subscribe benchchannel >/dev/null 2>&1 &
          subs+=("$!")
        done
      done
      sleep 0.5
      [ "$(redis-cli -p "$cport" pubsub numsub benchchannel | tail -1)" = "$SUBSCRIBERS" ] ||
        die "cinnabar: $SUBSCRIBERS subscribers expected"
      rargs=(publish benchchannel hello-subscribers); cargs=("${rargs[@]}") ;;
    *) die "unknown command test $t" ;;
  esac
  for p in $PIPELINES; do
    n=$([ "$p" -le 1 ] && echo "$N1" || echo "$NP")
    r_rps=(); r_cpu=(); c_rps=(); c_cpu=()
    for _ in $(seq "$TRIALS"); do
      read -r a b < <(bench_cmd "$rport" "$rpid" "$p" "$n" "${rargs[@]}") || die "benchmark failed"
      r_rps+=("$a"); r_cpu+=("$b")
      read -r a b < <(bench_cmd "$cport" "$cpid" "$p" "$n" "${cargs[@]}") || die "benchmark failed"
      c_rps+=("$a"); c_cpu+=("$b")
    done
    R=$(printf '%s\n' "${r_rps[@]}" | median); C=$(printf '%s\n' "${c_rps[@]}" | median)
    RU=$(printf '%s\n' "${r_cpu[@]}" | median); CU=$(printf '%s\n' "${c_cpu[@]}" | median)
    say "$(printf '%-7s %3s %12.0f %12.0f %6s | %10.3f %10.3f %6s' "$t" "$p" "$R" "$C" \
      "$(ratio "$C" "$R")" "$RU" "$CU" "$(ratio "$CU" "$RU")")"
  done
  for sp in "${subs[@]}"; do kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true; done
  subs=()
done
stop "$rpid"; stop "$cpid"

if [ "$KEYS" -gt 0 ]; then
  say ""
  say "# memory after DEBUG POPULATE $KEYS (fresh servers; bytes per key over the empty-server baseline)"
  mem() { # BIN NAME -> sets MEM_USED and MEM_RSS (bytes per key); runs in this shell
    start "$2" "$1"
    local pid=$START_PID port=$START_PORT u0 r0 u1 r1 out
    redis-cli -p "$port" flushall >/dev/null
    sleep 0.2
    u0=$(used_memory "$port"); r0=$(rss "$pid")
    out=$(redis-cli -p "$port" debug populate "$KEYS" 2>&1)
    [ "$out" = OK ] || die "DEBUG POPULATE on $2: $out"
    [ "$(redis-cli -p "$port" dbsize)" = "$KEYS" ] || die "DBSIZE after DEBUG POPULATE on $2 is not $KEYS"
    sleep 0.5
    u1=$(used_memory "$port"); r1=$(rss "$pid")
    if [ -z "$u0" ] || [ -z "$u1" ]; then die "no used_memory in INFO memory from $2"; fi
    stop "$pid"
    MEM_USED=$(awk -v d=$((u1 - u0)) -v k="$KEYS" 'BEGIN {printf "%.1f", d / k}')
    MEM_RSS=$(awk -v d=$((r1 - r0)) -v k="$KEYS" 'BEGIN {printf "%.1f", d / k}')
  }
  mem "$red" redis; RUK=$MEM_USED; RRK=$MEM_RSS
  mem "$cin" cinnabar; CUK=$MEM_USED; CRK=$MEM_RSS
  say "$(printf '%-16s %10s %10s %6s' metric redis cinnabar ratio)"
  say "$(printf '%-16s %10s %10s %6s' used_memory/key "$RUK" "$CUK" "$(ratio "$CUK" "$RUK")")"
  say "$(printf '%-16s %10s %10s %6s' rss/key "$RRK" "$CRK" "$(ratio "$CRK" "$RRK")")"
fi

if [ "$ELEMENTS" -gt 0 ]; then
  say ""
  say "# memory of one big collection of $ELEMENTS elements (fresh servers; bytes per element)"
  # RESP for: CMD key <1000 element groups> per line, written once and piped to both servers.
  gen() { # CMD KEY KIND -> file
    local file="$work/fill-$3.resp"
    awk -v n="$ELEMENTS" -v cmd="$1" -v key="$2" -v kind="$3" 'BEGIN {
      per = 1000
      for (i = 0; i < n; i += per) {
        m = (n - i < per) ? n - i : per
        w = (kind == "set") ? 1 : 2
        printf "*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", 2 + m * w, length(cmd), cmd, length(key), key
        for (j = i; j < i + m; j++) {
          if (kind == "hash") { a = "field:" j; b = "value:" j }
          else if (kind == "zset") { a = j; b = "member:" j }
          else { a = "member:" j }
          printf "$%d\r\n%s\r\n", length(a), a
          if (w == 2) printf "$%d\r\n%s\r\n", length(b), b
        }
      }
    }' >"$file"
    echo "$file"
  }
  collmem() { # BIN NAME FILE -> sets MEM_USED MEM_RSS per element
    start "$2" "$1"
    local pid=$START_PID port=$START_PORT u0 r0 u1 r1
    sleep 0.2
    u0=$(used_memory "$port"); r0=$(rss "$pid")
    redis-cli -p "$port" --pipe <"$3" >/dev/null 2>&1 || die "filling $2 failed"
    sleep 0.5
    u1=$(used_memory "$port"); r1=$(rss "$pid")
    stop "$pid"
    MEM_USED=$(awk -v d=$((u1 - u0)) -v k="$ELEMENTS" 'BEGIN {printf "%.1f", d / k}')
    MEM_RSS=$(awk -v d=$((r1 - r0)) -v k="$ELEMENTS" 'BEGIN {printf "%.1f", d / k}')
  }
  say "$(printf '%-16s %10s %10s %6s %10s %10s %6s' type redis_used cinn_used ratio redis_rss cinn_rss ratio)"
  for spec in "HSET bighash hash" "SADD bigset set" "ZADD bigzset zset"; do
    set -- $spec
    file=$(gen "$1" "$2" "$3")
    collmem "$red" redis "$file"; RU=$MEM_USED; RR=$MEM_RSS
    collmem "$cin" cinnabar "$file"; CU=$MEM_USED; CR=$MEM_RSS
    say "$(printf '%-16s %10s %10s %6s %10s %10s %6s' "$3" "$RU" "$CU" "$(ratio "$CU" "$RU")" "$RR" "$CR" "$(ratio "$CR" "$RR")")"
  done
fi

if [ -n "${BENCH_OUT:-}" ]; then
  cp "$report" "$BENCH_OUT"
  echo "bench: report written to $BENCH_OUT"
fi
