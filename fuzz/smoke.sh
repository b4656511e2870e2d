#!/usr/bin/env bash
# Runs each fuzz target for a short time (CI's smoke step) and fails if any finds a crash,
# an over-allocation or a slow input.
#
#   fuzz/smoke.sh [target ...]            every target (or those named), SMOKE_SECONDS each
#   RUNS=10000000 fuzz/smoke.sh [target]  a fixed number of executions instead (measuring)
#
# SMOKE_SECONDS (default 20), RUNS, FUZZ_WORK (where the grown corpus and the crash inputs go;
# default a temporary directory, removed at the end unless something was found). The
# committed seeds in fuzz/corpus/<target>/ are read, never written. Needs cargo-fuzz and a
# nightly toolchain (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")"

SECS="${SMOKE_SECONDS:-20}"
RUNS="${RUNS:-}"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -O -a -s none 2>&1 | tail -n 3
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin="target/$triple/release"

work="${FUZZ_WORK:-}"
keep=1
if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/cinnabar-fuzz.XXXXXX)"
  keep=0
fi

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  if [ -n "$RUNS" ]; then
    limit=(-runs="$RUNS")
  else
    limit=(-max_total_time="$SECS")
  fi
  maxlen=4096 # the seeds are at most 1.4 KB
  echo "== $t (${limit[*]})"
  if "$bin/$t" "${limit[@]}" -max_len="$maxlen" -timeout=20 -print_final_stats=1 \
      -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" "corpus/$t" \
      >"$work/$t/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$work/$t/log" | tr '\n' ' '
    echo
  else
    failed+=("$t")
    keep=1
    tail -n 40 "$work/$t/log"
    echo "!! $t failed; inputs in $work/$t/artifacts/"
  fi
done

if [ "$keep" = 0 ]; then
  rm -rf "$work"
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz smoke ok: ${targets[*]}"
