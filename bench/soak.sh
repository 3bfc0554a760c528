# soak.sh: the dev broker, `ipamwatch collect` and `ipamwatch analyze` as separate processes for
# SOAK_SECONDS (default 600): an inventory of 100,000 resource CIDRs collected every 30 s from
# the AWS-shaped endpoint (tests/aws/fake_aws.py), 5,000 events/s produced to the events topic
# by bench/soak_events (some of them failed allocations delivered as alerts to a webhook).
# Usage: sh soak.sh SRCDIR IPAMWATCH SOAK_EVENTS
# Environment: SOAK_SECONDS (600), SOAK_RATE (5000 events/s), SOAK_FAIL_RATE (2 failed
# allocations/s), SOAK_CIDRS (100000), SOAK_KEEP (100: every KEEP-th VPC/subnet CIDR stays one,
# the others become EIP CIDRs; see bench/soak_dataset.py), SOAK_POLL (30s), SOAK_OUT (where the
# CSVs and logs are kept; default a fresh /tmp/ipamwatch-soak.XXXXXX, kept after the run),
# SOAK_KEEP_STATE (set: keep the daemons' state, journal and RRD files under SOAK_OUT too),
# SOAK_MODE (`separate`, the default: `collect` and `analyze` as two processes; `run`: one
# `ipamwatch run` process, whose RSS goes into the analyzer's column).
# Every 10 s the VmRSS of each process, the analyzer's consumer lag (its /metrics) and the load
# average go into samples.csv; alerts.tsv has one line per webhook notification. The summary
# (bench/soak_report.py) is printed at the end.
set -eu
src=$1
ipamwatch=$2
gen=$3
secs=${SOAK_SECONDS:-600}
rate=${SOAK_RATE:-5000}
fail_rate=${SOAK_FAIL_RATE:-2}
n=${SOAK_CIDRS:-100000}
keep=${SOAK_KEEP:-100}
poll=${SOAK_POLL:-30s}
mode=${SOAK_MODE:-separate}
case $mode in separate | run) ;; *) echo "soak.sh: SOAK_MODE is separate or run" >&2; exit 2 ;; esac
py=${PYTHON3:-/usr/bin/python3}
cache=${IPAMWATCH_BENCH_CACHE:-/tmp/ipamwatch-bench-cache}
data="$cache/soak-org-$n-$keep"
out=${SOAK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ipamwatch-soak.XXXXXX")}
mkdir -p "$out"
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  [ -n "${SOAK_KEEP_STATE:-}" ] || rm -rf "$out/a" "$out/c"
}
trap cleanup EXIT INT TERM
wait_file() { # FILE SECONDS PID: until FILE is written, for at most SECONDS, while PID lives
  i=0
  while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ] && kill -0 "$3" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
  done
  [ -s "$1" ] || { echo "soak.sh: $1 not written" >&2; tail -n 3 "$out"/*.err "$out"/*.log >&2; exit 1; }
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }
alive() { kill -0 "$1" 2>/dev/null; }

mkdir -p "$cache"
"$py" "$src/bench/soak_dataset.py" "$src" "$data" "$n" "$keep" >"$out/dataset.txt"
scope=$(sed -n 's/^scope //p' "$out/dataset.txt")
pool_args=$(sed -n 's/^pool /--pool /p' "$out/dataset.txt" | tr '\n' ' ')
key() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0][sys.argv[2]])' "$data/credentials.json" "$1"; }

echo "# soak: $(uname -srm), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# output in $out; mode $mode"
"$ipamwatch" broker --topic inv:6 --topic ev:6 --topic dlq:1 --topic alerts:1 \
  --bootstrap-file "$out/bootstrap" >/dev/null 2>"$out/broker.err" &
broker=$!; pids="$pids $broker"
"$py" "$src/tests/aws/fake_aws.py" --data "$data" --port-file "$out/aws-url" \
  --cache-dir "$cache/fake-aws-cache-soak-$n-$keep" >"$out/fake.log" 2>&1 &
fake=$!; pids="$pids $fake"
"$py" "$src/bench/soak_sink.py" "$out/sink-url" "$out/alerts.tsv" 2>"$out/sink.err" &
sink=$!; pids="$pids $sink"
wait_file "$out/bootstrap" 10 "$broker"
wait_file "$out/aws-url" 600 "$fake"
wait_file "$out/sink-url" 10 "$sink"
b=$(cat "$out/bootstrap")
cport=$(free_port)
aport=$(free_port)

. "$src/tests/integration/base_conf.sh"
B=$b
# Compressed batches: the development broker keeps at most 5 MiB per partition (toolchain
# facts G4) and one pass of the private scope (one key, one partition) is ~57 MB of JSON.
base_conf "$out/soak.conf" soak "$out/a" kafka.compression.type=zstd kafka.linger.ms=20 \
  kafka.fetch.wait.max.ms=10 topics.alerts=alerts collector.state_dir="$out/c/state" \
  collector.poll_interval="$poll" rrd.step=300s journal.fsync=yes aws.region=eu-central-1 \
  aws.endpoint_url="$(cat "$out/aws-url")" metrics.listen="127.0.0.1:$cport" \
  metrics.analyzer_listen="127.0.0.1:$aport"
cat >>"$out/soak.conf" <<EOF
[rule "failed"]
type = allocation_failed
severity = critical
window = 1m
[rule "utilization"]
type = utilization
[rule "cannot_fit"]
type = cannot_fit
[sink "hook"]
type = webhook
url = $(cat "$out/sink-url")
rules = failed
EOF
"$ipamwatch" check -c "$out/soak.conf" --quiet

aws_env() { # run in the background: exec, so that $! is the daemon's pid
  exec env -u AWS_PROFILE AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID="$(key access_key_id)" \
    AWS_SECRET_ACCESS_KEY="$(key secret_access_key)" "$@"
}
if [ "$mode" = run ]; then
  # One process, one metrics endpoint for both jobs; one log for both.
  aws_env "$ipamwatch" run -c "$out/soak.conf" --collector-id soak 2>"$out/analyze.err" &
  analyzer=$!; pids="$pids $analyzer"
  collector=$analyzer
  aport=$cport
  ln -sf analyze.err "$out/collect.err"
else
  aws_env "$ipamwatch" collect -c "$out/soak.conf" --collector-id soak 2>"$out/collect.err" &
  collector=$!; pids="$pids $collector"
  "$ipamwatch" analyze -c "$out/soak.conf" 2>"$out/analyze.err" &
  analyzer=$!; pids="$pids $analyzer"
fi
i=0
until curl -fs "http://127.0.0.1:$aport/readyz" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "soak.sh: analyzer not ready" >&2; exit 1; }
  alive "$analyzer" || { echo "soak.sh: analyzer exited" >&2; tail "$out/analyze.err" >&2; exit 1; }
  sleep 0.1
done

# shellcheck disable=SC2086
"$gen" -b "$b" -t ev --scope "$scope" $pool_args --rate "$rate" --seconds "$secs" \
  --fail-rate "$fail_rate" --fail-log "$out/failed.tsv" --id "soak$$" -X compression.type=zstd -X linger.ms=20 \
  >"$out/events.out" 2>"$out/events.err" &
generator=$!; pids="$pids $generator"

metric() { # sum of the samples of metric $2 (label filter $3) in the scrape $1
  awk -v m="$2" -v f="${3:-}" '($1 == m || index($1, m "{") == 1) && index($1, f) { s += $NF }
    END { printf "%.0f", s }' "$1"
}
echo "t_s,load1,rss_broker_kb,rss_collector_kb,rss_analyzer_kb,rss_fake_aws_kb,rss_generator_kb,lag_inventory,lag_events,messages,applied,checkpoints,passes_completed,records_delivered" >"$out/samples.csv"
t0=$(date +%s)
end=$((t0 + secs))
while :; do
  now=$(date +%s)
  curl -fs "http://127.0.0.1:$aport/metrics" >"$out/a.prom" 2>/dev/null || : >"$out/a.prom"
  curl -fs "http://127.0.0.1:$cport/metrics" >"$out/c.prom" 2>/dev/null || : >"$out/c.prom"
  echo "$((now - t0)),$(cut -d' ' -f1 /proc/loadavg),$(rss_kb $broker),$(if [ "$mode" = run ]; then echo 0; else rss_kb $collector; fi),$(rss_kb $analyzer),$(rss_kb $fake),$(rss_kb $generator),$(metric "$out/a.prom" ipamwatch_analyzer_consumer_lag 'topic="inv"'),$(metric "$out/a.prom" ipamwatch_analyzer_consumer_lag 'topic="ev"'),$(metric "$out/a.prom" ipamwatch_analyzer_messages_total),$(metric "$out/a.prom" ipamwatch_analyzer_records_applied_total),$(metric "$out/a.prom" ipamwatch_analyzer_checkpoints_total),$(metric "$out/c.prom" ipamwatch_collector_passes_completed_total),$(metric "$out/c.prom" ipamwatch_collector_records_delivered_total)" >>"$out/samples.csv"
  for p in $broker $collector $analyzer; do
    alive "$p" || { echo "soak.sh: process $p exited early" >&2; tail -5 "$out"/*.err >&2; exit 1; }
  done
  [ "$now" -lt "$end" ] || break
  alive "$generator" || break
  sleep $((10 - ($(date +%s) - t0) % 10))
done
wait "$generator" || echo "soak.sh: the event generator reported undelivered events" >&2
pids=$(echo "$pids" | sed "s/ $generator//")
# Drain: the analyzer catches up with what was produced (at most 120 s), then everything stops.
i=0
while [ $i -lt 120 ]; do
  curl -fs "http://127.0.0.1:$aport/metrics" >"$out/a.prom" 2>/dev/null || break
  [ "$(metric "$out/a.prom" ipamwatch_analyzer_consumer_lag)" -gt 0 ] || break
  sleep 1; i=$((i + 1))
done
echo "# drained in ${i} s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 3 # the last alerts' deliveries
kill -TERM "$collector" "$analyzer" 2>/dev/null || true
wait "$collector" || true
[ "$mode" = run ] || wait "$analyzer" || true
pids="$broker $fake $sink"
du -sh "$out/a/journal" "$out/a/rrd" "$out/a/state" 2>/dev/null | sed 's/^/# disk: /'
"$py" "$src/bench/soak_report.py" "$out" "$secs" "$rate" "$mode"
