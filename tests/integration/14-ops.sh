# Operations end to end: both daemons serve /metrics, /healthz and /readyz; the series and
# the pool gauges carry the dataset's figures, the alerts by rule, the notifications, the
# file sink's deliveries and a pool's time to exhaustion match what the dataset and its
# seeded history give; promtool accepts them and a real Prometheus scrapes them; readiness
# follows the collector's passes; Type=notify gets READY=1; SIGHUP is harmless; a restarted
# analyzer labels the pool gauges from its snapshot before any pass; `make install` lays out
# binary, units, man pages and examples; the units pass systemd-analyze verify and the man
# pages groff's warnings.
. "$top_srcdir/tests/integration/lib.sh"
plan 38
DATA="$top_srcdir/tests/data/aws/org-small"
OPS="$top_srcdir/tests/integration/ops_check.py"
POOL=ipam-pool-051431193e6c3f339
POOL_NAME="AWS Private eu-central-1" # its Name tag
WARN=30 CRIT=100                     # the triggers of rule ops_util

get() { curl -s -o "$2" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$1$3"; }
# series FILE NAME LABEL=VALUE...: value of one series in a saved /metrics text
series() { "$PYTHON3" "$OPS" metrics "$@"; }

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
PC=$(free_port); PA=$(free_port); PB=$(free_port); PP=$(free_port)

# conf FILE BOOTSTRAP METRICS-PORT [KAFKA-KEY=VALUE]: everything under $TMP/state
conf() {
  base_conf "$1" ops "$TMP/state" kafka.bootstrap.servers="$2" collector.poll_interval=2s \
    analyzer.state_dir="$TMP/state/analyzer" metrics.listen="127.0.0.1:$3" ${4:+"kafka.$4"}
}

# --- 1-5: readiness before and after a pass; a pass Kafka never confirms -------------------
conf "$TMP/dead.conf" 127.0.0.1:1 "$PB" message.timeout.ms=4000
bg "$IPAMWATCH" collect -c "$TMP/dead.conf" --from-files "$DATA" 2>"$TMP/dead.err"
DEAD=$BG_PID
check "/healthz answers 200 {\"status\":\"ok\"} while the first pass runs" \
  poll 20 sh -c '[ "$(curl -s -w " %{http_code}" http://127.0.0.1:$1/healthz)" = "{\"status\":\"ok\"}
 200" ]' _ "$PB"
code=$(get "$PB" "$TMP/r1" /readyz)
check "/readyz is 503 before the first pass completes ($code: $(cat "$TMP/r1"))" \
  sh -c '[ "$1" = 503 ] && grep -q "\"reason\":\"collector: no inventory pass completed yet\"" "$2"' _ "$code" "$TMP/r1"
check "/readyz says why once the pass failed for want of Kafka" \
  poll 30 sh -c 'curl -s http://127.0.0.1:$1/readyz | grep -q "\"status\":\"not ready\",\"reason\":\"collector: last pass failed"' _ "$PB"
get "$PB" "$TMP/dead.metrics" /metrics >/dev/null
failed_counted() {
  [ "$(series "$1" ipamwatch_collector_passes_failed_total)" -ge 1 ] &&
    [ "$(series "$1" ipamwatch_collector_delivery_failures_total)" -ge 1 ] &&
    [ "$(series "$1" ipamwatch_collector_passes_completed_total)" = 0 ]
}
check "the failed pass is counted with its delivery failures" failed_counted "$TMP/dead.metrics"
kill "$DEAD"
check_status 0 "the collector stops with status 0 on SIGTERM" wait "$DEAD"

# --- 6-13: the collector in poll mode, with sd_notify ------------------------------------
conf "$TMP/c.conf" "$B" "$PC"
bg "$PYTHON3" "$OPS" notify "$TMP/notify.sock" "$TMP/notify.out"
wait_for_file "$TMP/notify.sock" 10 || sleep 1
NOTIFY_SOCKET="$TMP/notify.sock" bg "$IPAMWATCH" collect -c "$TMP/c.conf" --from-files "$DATA" 2>"$TMP/c.err"
COL=$BG_PID
check "/readyz turns 200 {\"status\":\"ok\"} after the first complete pass" \
  poll 60 sh -c '[ "$(curl -s -w " %{http_code}" http://127.0.0.1:$1/readyz)" = "{\"status\":\"ok\"}
 200" ]' _ "$PC"
check "the collector told systemd READY=1 and the pass status" \
  poll 10 sh -c 'grep -qx READY=1 "$1" && grep -q "^STATUS=last pass complete: [0-9]* records" "$1"' _ "$TMP/notify.out"
check "a second pass runs after poll_interval" \
  poll 30 sh -c 'curl -s http://127.0.0.1:$1/metrics >"$2" && [ "$("$3" "$4" metrics "$2" ipamwatch_collector_passes_completed_total)" -ge 2 ]' \
  _ "$PC" "$TMP/c.metrics" "$PYTHON3" "$OPS"
all_delivered() {
  produced=$(series "$1" ipamwatch_collector_records_produced_total)
  delivered=$(series "$1" ipamwatch_collector_records_delivered_total)
  [ "$produced" -gt 0 ] && [ "$produced" = "$delivered" ] && [ "$(series "$1" ipamwatch_collector_delivery_failures_total)" = 0 ]
}
check "every record produced was delivered, none failed" all_delivered "$TMP/c.metrics"
calls_counted() {
  [ "$(series "$1" ipamwatch_collector_list_calls_total operation=DescribeIpamPools outcome=ok)" -ge 2 ] &&
    [ "$(series "$1" ipamwatch_collector_list_calls_total operation=GetIpamPoolAllocations outcome=ok)" -ge 2 ]
}
check "listings are counted by operation and outcome" calls_counted "$TMP/c.metrics"
duration_gauge() {
  grep -q "^# TYPE ipamwatch_collector_last_pass_duration_seconds gauge$" "$1" &&
    series "$1" ipamwatch_collector_last_pass_duration_seconds >/dev/null
}
check "the last pass duration is a gauge with a value" duration_gauge "$TMP/c.metrics"
check "promtool check metrics accepts the collector's /metrics" \
  sh -c 'promtool check metrics <"$1" >"$1.promtool" 2>&1' _ "$TMP/c.metrics"
kill -HUP "$COL"; sleep 0.5
check "SIGHUP leaves the collector running and serving" \
  sh -c 'kill -0 "$1" && [ "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$2/healthz)" = 200 ]' _ "$COL" "$PC"

# --- 14-24: the analyzer --------------------------------------------------------------------
# A month of hourly history of $POOL growing 2048 addresses a day up to its figure an hour ago,
# written before the analyzer starts: its forecast (rule ops_forecast) gives a date FULL_IN
# seconds after the history's end; the other pools have minutes of history, too little for
# any forecast. Rule ops_util fires at once (for = 0s) into the file sink.
HEND=$(( $(date +%s) - 3600 ))
FULL_IN=$("$PYTHON3" "$OPS" history "$DATA" "$POOL" "$HEND" 30 2048 "$TMP/hist.in")
"$top_builddir/tests/tools/rrd_history" "$TMP/state/rrd" 60 <"$TMP/hist.in" >"$TMP/hist.out" ||
  diag "rrd_history: $(cat "$TMP/hist.out")"
FIRING=$("$PYTHON3" "$OPS" alerting "$DATA" "$WARN" "$CRIT")
diag "$FIRING utilization alerts expected (triggers $WARN % and $CRIT %); $POOL full $FULL_IN s after $HEND"
conf "$TMP/a.conf" "$B" "$PA"
cat >>"$TMP/a.conf" <<EOF
[rule "ops_util"]
type = utilization
warn_trigger = $WARN
crit_trigger = $CRIT
for = 0s
[rule "ops_forecast"]
type = forecast
days = 30
[sink "opsfile"]
type = file
path = $TMP/alerts.jsonl
EOF
bg "$IPAMWATCH" analyze -c "$TMP/a.conf" 2>"$TMP/a.err"
AN=$BG_PID
set -- $("$PYTHON3" "$OPS" expect "$DATA" "$POOL")
SIZE=$1 USED=$2 UTIL=$3 LARGEST=$4
diag "$POOL: size $SIZE used $USED utilization $UTIL largest free /$LARGEST"
check "the analyzer publishes the gauges of $POOL" \
  poll 90 sh -c 'curl -s http://127.0.0.1:$1/metrics >"$2" && "$3" "$4" metrics "$2" ipamwatch_pool_size pool_id=$5 >/dev/null' \
  _ "$PA" "$TMP/a.metrics" "$PYTHON3" "$OPS" "$POOL"
check "ipamwatch_pool_size of $POOL is $SIZE, labelled with its scope, name and locale" \
  sh -c 'grep -q "^ipamwatch_pool_size{scope_id=\"ipam-scope-[0-9a-f]*\",pool_id=\"$2\",pool_name=\"$4\",locale=\"eu-central-1\"} $3$" "$1"' _ "$TMP/a.metrics" "$POOL" "$SIZE" "$POOL_NAME"
pool_figures() {
  [ "$(series "$1" ipamwatch_pool_used pool_id=$POOL)" = "$USED" ] &&
    [ "$(series "$1" ipamwatch_pool_utilization_percent pool_id=$POOL)" = "$UTIL" ] &&
    [ "$(series "$1" ipamwatch_pool_largest_free_prefix_length pool_id=$POOL)" = "$LARGEST" ]
}
check "used, utilization and largest free block of $POOL match the dataset" pool_figures "$TMP/a.metrics"
check "the analyzer's /readyz is 200 once it consumes" \
  poll 30 sh -c '[ "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$1/readyz)" = 200 ]' _ "$PA"
check "records applied, journal appends, RRD writes and checkpoints are counted" \
  poll 30 sh -c 'curl -s http://127.0.0.1:$1/metrics >"$2" && for m in records_applied journal_appends rrd_writes checkpoints; do
                   [ "$("$3" "$4" metrics "$2" ipamwatch_analyzer_${m}_total)" -gt 0 ] || exit 1; done' \
  _ "$PA" "$TMP/a.metrics" "$PYTHON3" "$OPS"
no_errors() {
  [ "$(series "$1" ipamwatch_analyzer_dead_letters_total)" = 0 ] &&
    [ "$(series "$1" ipamwatch_analyzer_rrd_errors_total)" = 0 ] &&
    [ "$(series "$1" ipamwatch_analyzer_order_given_up_total reason=backlog_wait)" = 0 ]
}
check "no dead letters, no RRD errors, no event-time order given up" no_errors "$TMP/a.metrics"
check "consumer lag is reported per partition and drains to 0" \
  poll 30 sh -c 'curl -s http://127.0.0.1:$1/metrics >"$2" && [ "$("$3" "$4" metrics "$2" ipamwatch_analyzer_consumer_lag topic=inv partition=0)" = 0 ]' \
  _ "$PA" "$TMP/a.metrics" "$PYTHON3" "$OPS"
alerts_counted() {
  curl -s "http://127.0.0.1:$PA/metrics" >"$1" &&
    [ "$(series "$1" ipamwatch_alerts rule=ops_util state=firing)" = "$FIRING" ] &&
    [ "$(series "$1" ipamwatch_alerts rule=ops_util state=pending)" = 0 ] &&
    [ "$(series "$1" ipamwatch_alerts rule=ops_forecast state=firing)" = 0 ] &&
    [ "$(series "$1" ipamwatch_alert_notifications_total rule=ops_util state=firing)" = "$FIRING" ] &&
    [ "$(series "$1" ipamwatch_alert_notifications_total rule=ops_util state=resolved)" = 0 ]
}
check "ipamwatch_alerts: rule ops_util fires $FIRING (a pool and level over $WARN % / $CRIT %), as many notifications; ops_forecast has its 0" \
  poll 30 alerts_counted "$TMP/a.metrics"
sink_counted() {
  curl -s "http://127.0.0.1:$PA/metrics" >"$1" &&
    [ "$(series "$1" ipamwatch_sink_deliveries_total sink=opsfile outcome=delivered)" = "$FIRING" ] &&
    [ "$(wc -l <"$TMP/alerts.jsonl")" = "$FIRING" ] &&
    for m in "ipamwatch_sink_deliveries_total sink=opsfile outcome=failed" \
      "ipamwatch_sink_deliveries_total sink=opsfile outcome=dropped" \
      "ipamwatch_sink_retries_total sink=opsfile" "ipamwatch_sink_spool_depth sink=opsfile" \
      "ipamwatch_sink_held sink=opsfile"; do
      [ "$(series "$1" $m)" = 0 ] || return 1
    done
}
check "the file sink delivered $FIRING = the lines of its file; none failed, dropped, retried, spooled or held" \
  poll 30 sink_counted "$TMP/a.metrics"
exhaustion() {
  curl -s "http://127.0.0.1:$PA/metrics" >"$1" &&
    v=$(series "$1" ipamwatch_pool_exhaustion_seconds pool_id=$POOL "pool_name=$POOL_NAME" locale=eu-central-1) &&
    "$PYTHON3" "$OPS" near "$v" $((HEND + FULL_IN - $(date +%s))) 129600 &&
    [ "$(grep -c '^ipamwatch_pool_exhaustion_seconds{' "$1")" = 1 ]
}
check "ipamwatch_pool_exhaustion_seconds of $POOL is its trend's (within 1.5 days); no other pool has one" \
  poll 30 exhaustion "$TMP/a.metrics"
check "promtool check metrics accepts the analyzer's /metrics" \
  sh -c 'promtool check metrics <"$1" >"$1.promtool" 2>&1' _ "$TMP/a.metrics"

# --- 25-30: a real Prometheus scrapes both -------------------------------------------------
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ipamwatch
    static_configs:
      - targets: ['127.0.0.1:$PC', '127.0.0.1:$PA']
YML
bg prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address="127.0.0.1:$PP" --log.level=warn 2>"$TMP/prom.err"
# query PROMQL: the first result's value, "" when none
query() {
  curl -s --max-time 5 "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
    "$PYTHON3" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
}
both_up() { [ "$(query 'sum(up{job="ipamwatch"})')" = 2 ]; }
check "Prometheus scrapes both daemons (sum of up is 2)" poll 90 both_up
pool_seen() { [ -n "$(query "ipamwatch_pool_size{pool_id=\"$POOL\"}")" ]; }
poll 30 pool_seen
v=$(query "ipamwatch_pool_size{pool_id=\"$POOL\"}")
check "Prometheus has ipamwatch_pool_size{pool_id=\"$POOL\"} = $SIZE (got '$v')" [ "$v" = "$SIZE" ]
v=$(query "ipamwatch_pool_utilization_percent{pool_id=\"$POOL\"}")
check "Prometheus has its utilization $UTIL (got '$v')" [ "$v" = "$UTIL" ]
exhaustion_seen() { [ -n "$(query "ipamwatch_pool_exhaustion_seconds{pool_id=\"$POOL\"}")" ]; }
poll 30 exhaustion_seen
v=$(query 'ipamwatch_alerts{rule="ops_util",state="firing"}')
w=$(query 'ipamwatch_alert_notifications_total{rule="ops_util",state="firing"}')
check "Prometheus has $FIRING ops_util alerts firing (got '$v') and as many notifications (got '$w')" \
  sh -c '[ "$1" = "$3" ] && [ "$2" = "$3" ]' _ "$v" "$w" "$FIRING"
v=$(query 'ipamwatch_sink_deliveries_total{sink="opsfile",outcome="delivered"}')
w=$(query 'ipamwatch_sink_spool_depth{sink="opsfile"} + ipamwatch_sink_held{sink="opsfile"}')
n=$(wc -l <"$TMP/alerts.jsonl")
check "Prometheus has the file sink's $n lines delivered (got '$v'), nothing spooled or held (got '$w')" \
  sh -c '[ "$1" = "$3" ] && [ "$2" = 0 ]' _ "$v" "$w" "$n"
v=$(query "ipamwatch_pool_exhaustion_seconds{pool_id=\"$POOL\",pool_name=\"$POOL_NAME\",locale=\"eu-central-1\"}")
want=$((HEND + FULL_IN - $(date +%s)))
check "Prometheus has the time to exhaustion of $POOL by its name (got '$v', want $want +- 1.5 days)" \
  "$PYTHON3" "$OPS" near "${v:-NaN}" "$want" 129600

# --- 31-32: a restarted analyzer labels its pools from its snapshot, before any pass ---------
kill "$COL"; wait "$COL" 2>/dev/null
curl -s "http://127.0.0.1:$PA/metrics" | grep '^ipamwatch_pool_size{' | sort >"$TMP/before.pools"
kill "$AN"; wait "$AN" 2>/dev/null
bg "$IPAMWATCH" analyze -c "$TMP/a.conf" 2>"$TMP/a2.err"
AN=$BG_PID
poll 30 sh -c 'curl -s http://127.0.0.1:$1/metrics >"$2" && grep -q "^ipamwatch_pool_size{.*pool_id=\"$3\"" "$2"' \
  _ "$PA" "$TMP/a2.metrics" "$POOL"
check "restarted, its first ipamwatch_pool_size of $POOL has the name and locale of the snapshot" \
  grep -q "^ipamwatch_pool_size{scope_id=\"ipam-scope-[0-9a-f]*\",pool_id=\"$POOL\",pool_name=\"$POOL_NAME\",locale=\"eu-central-1\"} $SIZE$" "$TMP/a2.metrics"
same_pools() {
  curl -s "http://127.0.0.1:$PA/metrics" | grep '^ipamwatch_pool_size{' | sort >"$TMP/after.pools" &&
    [ -s "$TMP/before.pools" ] && cmp -s "$TMP/before.pools" "$TMP/after.pools"
}
check "... and every pool's gauge is back with the labels it had before the restart" poll 10 same_pools

# --- 33-38: install, units, man pages --------------------------------------------------------
kill "$AN"
make -C "$top_builddir" install DESTDIR="$TMP/inst" >"$TMP/install.out" 2>&1
INST_BIN=$(find "$TMP/inst" -path '*/bin/ipamwatch' | head -n 1)
check "make install DESTDIR puts the binary in bindir" test -x "$INST_BIN"
check "... the man pages in man1 and man5" \
  sh -c 'find "$1" -path "*/man1/ipamwatch.1" | grep -q . && find "$1" -path "*/man5/ipamwatch.conf.5" | grep -q .' _ "$TMP/inst"
check "... the example configurations in sysconfdir/ipamwatch" \
  sh -c 'find "$1" -path "*/etc/ipamwatch/ipamwatch.conf.example" | grep -q . && find "$1" -path "*/etc/ipamwatch/demo.conf" | grep -q .' _ "$TMP/inst"
check "... and both units in the systemd unit directory" \
  sh -c '[ "$(find "$1" -path "*/systemd/system/ipamwatch-*.service" | wc -l)" = 2 ]' _ "$TMP/inst"
mkdir -p "$TMP/units"
for u in $(find "$TMP/inst" -path '*/systemd/system/ipamwatch-*.service'); do
  sed "s|^ExecStart=[^ ]*|ExecStart=$INST_BIN|" "$u" >"$TMP/units/$(basename "$u")"
done
check "systemd-analyze verify accepts both units (Type=notify, hardening)" \
  sh -c 'grep -q "^Type=notify$" "$1"/*.service && grep -q "^DynamicUser=yes$" "$1"/*.service &&
         systemd-analyze verify --man=no "$1"/ipamwatch-collector.service "$1"/ipamwatch-analyzer.service >"$1/verify.out" 2>&1 &&
         ! grep -qi "ipamwatch-" "$1/verify.out"' _ "$TMP/units"
check "groff -man -ww reports nothing for ipamwatch(1) and ipamwatch.conf(5)" \
  sh -c '[ -z "$(groff -man -ww -z "$1/man/ipamwatch.1" "$1/man/ipamwatch.conf.5" 2>&1)" ] &&
         [ -z "$(man --warnings -l "$1/man/ipamwatch.1" 2>&1 >/dev/null)" ] &&
         [ -z "$(man --warnings -l "$1/man/ipamwatch.conf.5" 2>&1 >/dev/null)" ]' _ "$top_srcdir"
