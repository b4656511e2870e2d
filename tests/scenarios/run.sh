#!/usr/bin/env bash
# Replication scenarios (issue 5), each run side by side with real Redis 7.0.15 where the issue
# asks for a comparison. Needs root (network namespaces, tc), redis-server/redis-cli, python3
# and a release build (cargo build --release).
#
#   tests/scenarios/run.sh [a] [b] [c] [d]      (no argument: all four)
#
#   a  the endless loop: ~1 GB of incompressible data, a slow link (tbf), writes at a rate
#      the link carries, replica output limit 64 MB: does the first sync finish?
#   b  WAN bandwidth: a 3scale-like mix (62% writes); replication bytes on the wire,
#      Cinnabar (zstd) against Redis's plain stream
#   c  four replicas resyncing at once under load: one snapshot, master p99 latency
#   d  the link cut mid-stream (longer than repl-timeout) and restored: partial resync,
#      no full sync, identical data
#
# Sizes and rates can be changed through the environment (see the defaults below). Prints one
# RESULT line per measure and exits non-zero when a Cinnabar expectation fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CIN=${CINNABAR_BIN:-$ROOT/target/release/cinnabar-server}
REDIS=${REDIS_BIN:-/usr/bin/redis-server}
LOAD=(python3 "$ROOT/tests/scenarios/load.py")
WORK=$(mktemp -d /tmp/cnb-scenarios.XXXXXX)
TAG=$$
PIDS=()
NSS=()
FAILED=0

A_KEYS=${A_KEYS:-1000000}          # × A_VALUE bytes ≈ 1 GB
A_VALUE=${A_VALUE:-1000}
A_RATE=${A_RATE:-80mbit}           # the slow link
A_WRITE_BPS=${A_WRITE_BPS:-1500000}
A_LIMIT=${A_LIMIT:-64mb}           # client-output-buffer-limit replica (hard and soft)
A_SECONDS=${A_SECONDS:-400}        # how long both are watched
B_OPS=${B_OPS:-1000000}
C_KEYS=${C_KEYS:-2000000}
C_REQUESTS=${C_REQUESTS:-600000}
D_CUT=${D_CUT:-10}                 # seconds the link is down (repl-timeout is 4)

cleanup() {
    for p in "${PIDS[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
    for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*"; }
result() { echo "RESULT $*"; }
fail() { echo "FAIL $*"; FAILED=1; }

# A pair of hosts joined by a veth pair: namespaces cnb<TAG>m<I> (10.213.I.1) and
# cnb<TAG>r<I> (10.213.I.2); with a rate, both directions go through tbf.
mkpair() {
    local i=$1 rate=${2:-}
    local m=cnb${TAG}m$i r=cnb${TAG}r$i
    ip netns add "$m"; NSS+=("$m")
    ip netns add "$r"; NSS+=("$r")
    ip link add "v${TAG}m$i" netns "$m" type veth peer name "v${TAG}r$i" netns "$r"
    ip -n "$m" addr add "10.213.$i.1/24" dev "v${TAG}m$i"
    ip -n "$r" addr add "10.213.$i.2/24" dev "v${TAG}r$i"
    for n in "$m" "$r"; do ip -n "$n" link set lo up; done
    ip -n "$m" link set "v${TAG}m$i" up
    ip -n "$r" link set "v${TAG}r$i" up
    if [ -n "$rate" ]; then
        ip netns exec "$m" tc qdisc add dev "v${TAG}m$i" root tbf rate "$rate" burst 256kb latency 400ms
        ip netns exec "$r" tc qdisc add dev "v${TAG}r$i" root tbf rate "$rate" burst 256kb latency 400ms
    fi
}
ns_m() { echo "cnb${TAG}m$1"; }
ns_r() { echo "cnb${TAG}r$1"; }
txbytes() { ip netns exec "$(ns_m "$1")" cat "/sys/class/net/v${TAG}m$1/statistics/tx_bytes"; }

# start NS BIN PORT NAME [directives...]: a server in namespace NS (or "-" for this one).
start() {
    local ns=$1 bin=$2 port=$3 name=$4
    shift 4
    local dir=$WORK/$name
    mkdir -p "$dir"
    local pre=() bind=127.0.0.1
    [ "$ns" != "-" ] && pre=(ip netns exec "$ns") && bind=0.0.0.0
    "${pre[@]}" "$bin" --port "$port" --bind "$bind" --protected-mode no --dir "$dir" \
        --save '' --appendonly no --logfile "$dir/log" --enable-debug-command yes "$@" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        if cli "$ns" "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
        sleep 0.1
    done
    echo "server $name did not start"; cat "$dir/log"; exit 1
}
cli() {
    local ns=$1 port=$2
    shift 2
    if [ "$ns" = "-" ]; then redis-cli -p "$port" "$@"; else ip netns exec "$ns" redis-cli -p "$port" "$@"; fi
}
field() { cli "$1" "$2" info "${4:-all}" | tr -d '\r' | sed -n "s/^$3://p" | head -1; }
slave0() { cli "$1" "$2" info replication | tr -d '\r' | sed -n "s/^slave0:.*$3=\([^,]*\).*/\1/p"; }
wait_online() { # ns port seconds
    local t=0
    while [ "$(field "$1" "$2" master_link_status)" != up ]; do
        sleep 1; t=$((t + 1))
        [ "$t" -ge "$3" ] && return 1
    done
    return 0
}
wait_caught_up() { # mns mport rns rport
    for _ in $(seq 1 300); do
        local mo ro
        mo=$(field "$1" "$2" master_repl_offset); ro=$(field "$3" "$4" master_repl_offset)
        [ -n "$mo" ] && [ "$mo" = "$ro" ] && return 0
        sleep 0.5
    done
    return 1
}

scenario_a() {
    log "a: the endless loop: $A_KEYS keys x $A_VALUE B over $A_RATE, writes $A_WRITE_BPS B/s, replica limit $A_LIMIT"
    mkpair 1 "$A_RATE"; mkpair 2 "$A_RATE"
    local rm rr cm cr
    rm=$(ns_m 1); rr=$(ns_r 1); cm=$(ns_m 2); cr=$(ns_r 2)
    local limits=(--client-output-buffer-limit "replica $A_LIMIT $A_LIMIT 0" --repl-diskless-sync-delay 0)
    start "$rm" "$REDIS" 7001 a-redis-master "${limits[@]}"
    ip netns exec "$rm" "${LOAD[@]}" fill 127.0.0.1 7001 "$A_KEYS" "$A_VALUE" 1 >/dev/null
    # The same data for Cinnabar: Redis's snapshot (loaded by Cinnabar at start).
    cli "$rm" 7001 save >/dev/null
    mkdir -p "$WORK/a-cin-master"
    cp "$WORK/a-redis-master/dump.rdb" "$WORK/a-cin-master/dump.rdb"
    start "$cm" "$CIN" 7001 a-cin-master "${limits[@]}"
    while [ "$(field "$cm" 7001 loading)" = 1 ]; do sleep 1; done
    log "a: datasets: redis $(cli "$rm" 7001 dbsize) keys ($(field "$rm" 7001 used_memory_human)), cinnabar $(cli "$cm" 7001 dbsize) keys ($(field "$cm" 7001 used_memory_human))"
    start "$rr" "$REDIS" 7002 a-redis-replica "${limits[@]}"
    start "$cr" "$CIN" 7002 a-cin-replica "${limits[@]}"
    ip netns exec "$rm" "${LOAD[@]}" writes 127.0.0.1 7001 "$A_KEYS" "$A_VALUE" "$A_WRITE_BPS" "$A_SECONDS" 2 >"$WORK/a-redis-writes" &
    PIDS+=($!)
    ip netns exec "$cm" "${LOAD[@]}" writes 127.0.0.1 7001 "$A_KEYS" "$A_VALUE" "$A_WRITE_BPS" "$A_SECONDS" 2 >"$WORK/a-cin-writes" &
    PIDS+=($!)
    sleep 2
    cli "$rr" 7002 replicaof 10.213.1.1 7001 >/dev/null
    cli "$cr" 7002 replicaof 10.213.2.1 7001 >/dev/null
    local t0=$SECONDS cin_online="" redis_online="" cin_max_obuf=0 redis_max_obuf=0
    while [ $((SECONDS - t0)) -lt "$A_SECONDS" ]; do
        sleep 5
        local co ro
        co=$(slave0 "$cm" 7001 output_buffer); co=${co:-0}
        [ "$co" -gt "$cin_max_obuf" ] && cin_max_obuf=$co
        ro=$(field "$rm" 7001 mem_total_replication_buffers); ro=${ro:-0}
        [ "$ro" -gt "$redis_max_obuf" ] && redis_max_obuf=$ro
        if [ -z "$cin_online" ] && [ "$(field "$cr" 7002 master_link_status)" = up ]; then
            cin_online=$((SECONDS - t0))
            log "a: cinnabar replica online after ${cin_online}s"
        fi
        if [ -z "$redis_online" ] && [ "$(field "$rr" 7002 master_link_status)" = up ]; then
            redis_online=$((SECONDS - t0))
            log "a: redis replica online after ${redis_online}s"
        fi
        log "a: t=$((SECONDS - t0))s cinnabar: sync_full=$(field "$cm" 7001 sync_full) link=$(field "$cr" 7002 master_link_status) buffered=$(field "$cr" 7002 master_sync_buffered_bytes) spilled=$(field "$cr" 7002 master_sync_buffer_spilled_bytes) master_obuf=$co | redis: sync_full=$(field "$rm" 7001 sync_full) link=$(field "$rr" 7002 master_link_status) repl_buffers=$ro"
        # Both known: stop early once Redis has restarted its sync at least twice.
        if [ -n "$cin_online" ] && { [ -n "$redis_online" ] || [ "$(field "$rm" 7001 sync_full)" -ge 3 ]; }; then break; fi
    done
    local cin_full redis_full redis_kills
    cin_full=$(field "$cm" 7001 sync_full)
    redis_full=$(field "$rm" 7001 sync_full)
    redis_kills=$(grep -c "overcoming of output buffer limits" "$WORK/a-redis-master/log" || true)
    result "a cinnabar: online_after_s=${cin_online:-never} sync_full=$cin_full master_max_replica_output_buffer=$cin_max_obuf"
    result "a redis:    online_after_s=${redis_online:-never} sync_full=$redis_full replicas_dropped_for_output_limit=$redis_kills max_repl_buffers=$redis_max_obuf"
    if [ -z "$cin_online" ] || [ "$cin_full" != 1 ]; then fail "a: the Cinnabar replica did not finish its first sync"; fi
    if [ -n "$cin_online" ]; then
        wait_caught_up "$cm" 7001 "$cr" 7002 || true
    fi
}

scenario_b() {
    log "b: WAN bandwidth, 3scale-like mix of $B_OPS commands"
    mkpair 3; mkpair 4
    local rm rr cm cr
    rm=$(ns_m 3); rr=$(ns_r 3); cm=$(ns_m 4); cr=$(ns_r 4)
    start "$rm" "$REDIS" 7001 b-redis-master --repl-diskless-sync-delay 0
    start "$cm" "$CIN" 7001 b-cin-master --repl-diskless-sync-delay 0 ${B_LEVEL:+--repl-compression-level "$B_LEVEL"}
    start "$rr" "$REDIS" 7002 b-redis-replica --replicaof 10.213.3.1 7001
    start "$cr" "$CIN" 7002 b-cin-replica --replicaof 10.213.4.1 7001
    wait_online "$rr" 7002 60 && wait_online "$cr" 7002 60
    local r_off0 r_tx0 c_wire0 c_raw0 c_tx0
    r_off0=$(field "$rm" 7001 master_repl_offset); r_tx0=$(txbytes 3)
    c_wire0=$(slave0 "$cm" 7001 wire_bytes); c_raw0=$(slave0 "$cm" 7001 raw_bytes); c_tx0=$(txbytes 4)
    ip netns exec "$rm" "${LOAD[@]}" mix 127.0.0.1 7001 "$B_OPS" 7 &
    local p1=$!
    ip netns exec "$cm" "${LOAD[@]}" mix 127.0.0.1 7001 "$B_OPS" 7
    wait "$p1"
    wait_caught_up "$rm" 7001 "$rr" 7002
    wait_caught_up "$cm" 7001 "$cr" 7002
    sleep 1
    local r_stream r_tx c_wire c_raw c_tx
    r_stream=$(( $(field "$rm" 7001 master_repl_offset) - r_off0 ))
    r_tx=$(( $(txbytes 3) - r_tx0 ))
    c_wire=$(( $(slave0 "$cm" 7001 wire_bytes) - c_wire0 ))
    c_raw=$(( $(slave0 "$cm" 7001 raw_bytes) - c_raw0 ))
    c_tx=$(( $(txbytes 4) - c_tx0 ))
    local ratio ratio_tx
    ratio=$(python3 -c "print('%.3f' % ($c_wire / $r_stream))")
    ratio_tx=$(python3 -c "print('%.3f' % ($c_tx / $r_tx))")
    result "b redis: stream_bytes=$r_stream link_tx_bytes=$r_tx"
    result "b cinnabar: raw_bytes=$c_raw wire_bytes=$c_wire link_tx_bytes=$c_tx"
    result "b ratio: wire/redis_stream=$ratio link_tx/redis_link_tx=$ratio_tx"
    [ "$(cli "$cm" 7001 debug digest)" = "$(cli "$cr" 7002 debug digest)" ] || fail "b: Cinnabar replica differs"
    python3 -c "import sys; sys.exit(0 if $ratio <= 0.12 else 1)" || fail "b: wire ratio $ratio > 0.12"
}

# c: four replicas resyncing at once while redis-benchmark runs; p99 from its CSV.
c_side() { # name bin port0
    local name=$1 bin=$2 p=$3
    start - "$bin" "$p" "c-$name-master" --repl-diskless-sync-delay 2
    cli - "$p" debug populate "$C_KEYS" key 100 >/dev/null
    for i in 1 2 3 4; do start - "$bin" $((p + i)) "c-$name-replica$i"; done
    redis-benchmark -p "$p" -c 50 -n "$C_REQUESTS" -r 1000000 -t set,get --csv >"$WORK/c-$name-base.csv" 2>/dev/null
    redis-benchmark -p "$p" -c 50 -n "$C_REQUESTS" -r 1000000 -t set,get --csv >"$WORK/c-$name-sync.csv" 2>/dev/null &
    local bp=$!
    sleep 1
    for i in 1 2 3 4; do cli - $((p + i)) replicaof 127.0.0.1 "$p" >/dev/null; done
    wait "$bp"
    for i in 1 2 3 4; do wait_online - $((p + i)) 120 || fail "c: $name replica $i not online"; done
    local snaps
    snaps=$(grep -c "Starting BGSAVE for SYNC" "$WORK/c-$name-master/log" || true)
    p99() { python3 -c "
import csv,sys
rows=list(csv.reader(open('$1')))
h=rows[0]; i=h.index('p99_latency_ms')
print(' '.join('%s=%s' % (r[0],r[i]) for r in rows[1:]))"; }
    result "c $name: full_syncs=$(field - "$p" sync_full) snapshots=$snaps p99_ms_baseline: $(p99 "$WORK/c-$name-base.csv") | p99_ms_during_resync: $(p99 "$WORK/c-$name-sync.csv")"
    for i in 0 1 2 3 4; do cli - $((p + i)) shutdown nosave >/dev/null 2>&1 || true; done
    echo "$snaps" >"$WORK/c-$name-snaps"
}
scenario_c() {
    log "c: four replicas resyncing at once under load ($C_KEYS keys)"
    local base=$((20000 + (TAG % 1000) * 10))
    c_side redis "$REDIS" "$base"
    c_side cinnabar "$CIN" $((base + 5))
    local snaps
    snaps=$(cat "$WORK/c-cinnabar-snaps")
    [ "$snaps" = 1 ] || fail "c: Cinnabar used $snaps snapshots for four replicas"
}

scenario_d() {
    log "d: the link cut for ${D_CUT}s mid-stream, then restored"
    mkpair 5
    local cm cr
    cm=$(ns_m 5); cr=$(ns_r 5)
    start "$cm" "$CIN" 7001 d-cin-master --repl-timeout 4 --repl-backlog-size 64mb --repl-diskless-sync-delay 0
    start "$cr" "$CIN" 7002 d-cin-replica --repl-timeout 4 --replicaof 10.213.5.1 7001
    wait_online "$cr" 7002 30
    ip netns exec "$cm" "${LOAD[@]}" writes 127.0.0.1 7001 20000 200 200000 $((D_CUT + 12)) 3 >/dev/null &
    local wp=$!
    sleep 3
    ip -n "$cm" link set "v${TAG}m5" down
    log "d: link down"
    sleep "$D_CUT"
    ip -n "$cm" link set "v${TAG}m5" up
    log "d: link up"
    wait "$wp"
    wait_online "$cr" 7002 30 || fail "d: the replica did not reconnect"
    wait_caught_up "$cm" 7001 "$cr" 7002 || fail "d: the replica did not catch up"
    local full partial same=no
    full=$(field "$cm" 7001 sync_full); partial=$(field "$cm" 7001 sync_partial_ok)
    [ "$(cli "$cm" 7001 debug digest)" = "$(cli "$cr" 7002 debug digest)" ] && same=yes
    result "d cinnabar: sync_full=$full sync_partial_ok=$partial identical=$same keys=$(cli "$cm" 7001 dbsize)"
    [ "$full" = 1 ] && [ "$partial" -ge 1 ] && [ "$same" = yes ] || fail "d: expected one full sync, a partial resync and identical data"
}

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)"; exit 2; }
[ -x "$CIN" ] || { echo "build first: cargo build --release"; exit 2; }
todo=("$@")
[ ${#todo[@]} -eq 0 ] && todo=(a b c d)
for s in "${todo[@]}"; do "scenario_$s"; done
exit $FAILED
