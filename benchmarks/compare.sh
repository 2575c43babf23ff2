#!/usr/bin/env bash
# Reproduces the standard benchmark table: Warren (release build, default settings, its own data
# directory) against RabbitMQ 3.10 (../shared/bench/rabbitmq.sh), in one run, with ratios.
# usage: benchmarks/compare.sh [extra compare.py arguments, e.g. --rounds 3 --only transient-noack]
# Prints BENCHMARKS.md's table and writes the chart to benchmarks/chart.svg (the raw results to
# benchmarks/results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${WARREN_BENCH_DIR:-../shared/bench}
port=${WARREN_BENCH_PORT:-5690}

swift build -c release --product warren >/dev/null
data=$(mktemp -d /tmp/warren-bench-data.XXXXXX)
.build/release/warren --port "$port" --data-dir "$data" --log-level warning ${WARREN_ARGS:-} &
warren=$!
trap 'kill "$warren" 2>/dev/null; wait "$warren" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

if ! (exec 3<>/dev/tcp/127.0.0.1/5673) 2>/dev/null; then "$bench/rabbitmq.sh" start >/dev/null; fi
rabbit=$("$bench/rabbitmq.sh" pid 2>/dev/null || ss -ltnpH 'sport = :5673' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
"$bench/compare.py" --a-port "$port" --a-pid "$warren" --a-name warren \
    --b-port 5673 --b-pid "$rabbit" --b-name rabbitmq --json "$@" > benchmarks/results.json
benchmarks/chart.py benchmarks/results.json benchmarks/chart.svg
