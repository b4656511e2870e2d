#!/usr/bin/env bash
# Partition safety (issue 6, case 5), driven by tests/ha.rs. Needs root and iproute2; exits 77
# (skip) when network namespaces cannot be made.
#
# Five namespaces joined by a bridge that lives in a sixth one (nothing touches the host's
# network): m 10.215.0.1 (the master, min-replicas-to-write 1, min-replicas-max-lag 3),
# r1 .2 and r2 .3 (its replicas), s .4 (three Sentinels, quorum 2).
#
#  1. r2 is cut off from the master alone (a blackhole route): its offset lags while r1 keeps up
#     and the master still accepts writes (r1 acknowledges them).
#  2. The master is cut off from everyone (its link down): it answers NOREPLICAS once no replica
#     acknowledged within the lag; the Sentinels elect r1 (up to date), never r2 (lagging).
#  3. r2 follows r1 and gets every acknowledged write.
#  4. The partition heals: the old master rejoins as a replica of r1 and gets the new writes.
#
#   CINNABAR_BIN=/path/to/server tests/ha/partition.sh   (redis-server works the same way)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CINNABAR_BIN:-$ROOT/target/release/cinnabar-server}
WORK=$(mktemp -d /tmp/cnb-ha-partition.XXXXXX)
TAG=$$
NET=10.215.0
PIDS=()
NSS=()

cleanup() {
    for p in "${PIDS[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
    for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*"; }
die() {
    echo "FAIL: $*"
    for h in m r1 r2; do
        echo "--- INFO replication of $h"
        cli "$h" 127.0.0.1 6379 info replication 2>&1 | tr -d '\r' || true
    done
    for f in "$WORK"/*/log; do echo "--- $f"; tail -30 "$f"; done
    exit 1
}

ns() { echo "cnbha${TAG}$1"; }

# The switch, and one host per name with the given last octet.
SW=$(ns sw)
ip netns add "$SW" 2>/dev/null || { echo "cannot create network namespaces"; exit 77; }
NSS+=("$SW")
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
host() {
    local name=$1 octet=$2 n
    n=$(ns "$name")
    ip netns add "$n"; NSS+=("$n")
    ip link add "e${TAG}$name" netns "$n" type veth peer name "p${TAG}$name" netns "$SW"
    ip -n "$SW" link set "p${TAG}$name" master br0 up
    ip -n "$n" addr add "$NET.$octet/24" dev "e${TAG}$name"
    ip -n "$n" link set lo up
    ip -n "$n" link set "e${TAG}$name" up
}
host m 1; host r1 2; host r2 3; host s 4
M=$NET.1; R1=$NET.2; R2=$NET.3

# start HOST PORT NAME [args...]
start() {
    local h=$1 port=$2 name=$3
    shift 3
    local dir=$WORK/$name
    mkdir -p "$dir"
    ip netns exec "$(ns "$h")" "$BIN" "$@" --port "$port" --bind 0.0.0.0 --protected-mode no \
        --dir "$dir" --logfile "$dir/log" --daemonize no >/dev/null 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        if cli "$h" 127.0.0.1 "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
        sleep 0.1
    done
    die "$name did not start"
}
# cli FROM-HOST ADDR PORT args...
cli() {
    local h=$1 addr=$2 port=$3
    shift 3
    ip netns exec "$(ns "$h")" timeout 5 redis-cli -h "$addr" -p "$port" "$@"
}
field() { cli "$1" 127.0.0.1 "$2" info replication | tr -d '\r' | sed -n "s/^$3://p"; }
master_addr() { cli s 127.0.0.1 "$1" sentinel get-master-addr-by-name mymaster | head -1; }
# wait_for SECONDS DESCRIPTION COMMAND...
wait_for() {
    local secs=$1 what=$2
    shift 2
    local t0=$SECONDS
    until "$@"; do
        [ $((SECONDS - t0)) -ge "$secs" ] && die "timed out ($secs s) waiting for $what"
        sleep 0.2
    done
    log "$what ($((SECONDS - t0)) s)"
}

SRV=(--save '' --appendonly no --repl-diskless-sync-delay 0)
start m 6379 master "${SRV[@]}" --min-replicas-to-write 1 --min-replicas-max-lag 3
start r1 6379 r1 "${SRV[@]}" --replicaof "$M" 6379
start r2 6379 r2 "${SRV[@]}" --replicaof "$M" 6379
for i in 0 1 2; do
    mkdir -p "$WORK/sentinel$i"
    printf 'sentinel monitor mymaster %s 6379 2\nsentinel down-after-milliseconds mymaster 2000\nsentinel failover-timeout mymaster 10000\n' \
        "$M" >"$WORK/sentinel$i/sentinel.conf"
    ip netns exec "$(ns s)" "$BIN" "$WORK/sentinel$i/sentinel.conf" --sentinel --port $((26379 + i)) \
        --protected-mode no --dir "$WORK/sentinel$i" --logfile "$WORK/sentinel$i/log" \
        --daemonize no >/dev/null 2>&1 &
    PIDS+=($!)
done

synced() { [ "$(field r1 6379 master_link_status)" = up ] && [ "$(field r2 6379 master_link_status)" = up ]; }
wait_for 30 "both replicas in sync" synced
discovered() {
    for i in 0 1 2; do
        local info
        info=$(cli s 127.0.0.1 $((26379 + i)) info sentinel 2>/dev/null | tr -d '\r')
        echo "$info" | grep -q "slaves=2,sentinels=3" || return 1
    done
}
wait_for 30 "the Sentinels see 2 replicas and each other" discovered

for i in $(seq 1 50); do cli m 127.0.0.1 6379 set "before:$i" "$i" >/dev/null; done
offsets_equal() {
    local mo
    mo=$(field m 6379 master_repl_offset)
    [ "$mo" = "$(field r1 6379 slave_repl_offset)" ] && [ "$mo" = "$(field r2 6379 slave_repl_offset)" ]
}
wait_for 20 "the replicas caught up" offsets_equal

# 1. r2 lags: it can no longer reach the master (and the master no longer hears from it).
ip -n "$(ns r2)" route add blackhole "$M/32"
for i in $(seq 1 50); do
    r=$(cli m 127.0.0.1 6379 set "lag:$i" "$i")
    [ "$r" = OK ] || die "write with r1 still acknowledging: $r"
done
r1_ahead() {
    local mo
    mo=$(field m 6379 master_repl_offset)
    [ "$mo" = "$(field r1 6379 slave_repl_offset)" ] && [ "$(field r2 6379 slave_repl_offset)" -lt "$mo" ]
}
wait_for 20 "r1 up to date, r2 behind" r1_ahead
log "offsets: master $(field m 6379 master_repl_offset) r1 $(field r1 6379 slave_repl_offset) r2 $(field r2 6379 slave_repl_offset)"

# 2. The master is cut off from everyone.
ip -n "$(ns m)" link set "e${TAG}m" down
noreplicas() {
    local r
    r=$(cli m 127.0.0.1 6379 set during:cut x 2>&1)
    case $r in NOREPLICAS*) return 0 ;; OK) [ "$(date +%s)" -lt "$CUT_DEADLINE" ] || die "master still accepts writes 8 s after the cut";; esac
    return 1
}
CUT_DEADLINE=$(($(date +%s) + 8))
wait_for 15 "the isolated master refuses writes (NOREPLICAS)" noreplicas
elected() {
    for i in 0 1 2; do
        local a
        a=$(master_addr $((26379 + i)))
        [ "$a" = "$R2" ] && die "the lagging replica r2 was elected"
        [ "$a" = "$R1" ] || return 1
    done
}
wait_for 60 "the Sentinels elect r1 (the up-to-date replica)" elected
r1_master() { [ "$(field r1 6379 role)" = master ]; }
wait_for 20 "r1 is a master" r1_master
[ "$(cli r1 127.0.0.1 6379 get lag:50)" = 50 ] || die "r1 lacks an acknowledged write"
[ "$(cli r1 127.0.0.1 6379 set after:1 one)" = OK ] || die "the new master refuses writes"

# 3. r2 follows r1 and catches up.
r2_follows() {
    [ "$(field r2 6379 master_host)" = "$R1" ] && [ "$(field r2 6379 master_link_status)" = up ] &&
        [ "$(cli r2 127.0.0.1 6379 get after:1)" = one ] && [ "$(cli r2 127.0.0.1 6379 get lag:50)" = 50 ]
}
wait_for 40 "r2 replicates r1 with every write" r2_follows

# 4. The partition heals: the old master becomes a replica of r1.
ip -n "$(ns r2)" route del blackhole "$M/32"
ip -n "$(ns m)" link set "e${TAG}m" up
rejoined() {
    [ "$(field m 6379 role)" = slave ] && [ "$(field m 6379 master_host)" = "$R1" ] &&
        [ "$(field m 6379 master_link_status)" = up ] && [ "$(cli m 127.0.0.1 6379 get after:1)" = one ]
}
wait_for 60 "the old master rejoins as a replica of r1" rejoined
[ -z "$(cli m 127.0.0.1 6379 get during:cut)" ] || die "a refused write survived"
log "PASS"
