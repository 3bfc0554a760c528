# alertmanager.sh: a private Prometheus Alertmanager for integration scripts (source it after
# lib.sh, whose poll and free_port it uses). Toolchain fact G11: our own port, gossip off.
#   am_start URL          starts Alertmanager routing every alert (one group per alert) to the
#                         webhook URL with send_resolved; sets AMURL; returns 1 if not ready
#   am_alerts FILE        writes GET /api/v2/alerts to FILE
AM_BIN=${AM_BIN:-/usr/bin/prometheus-alertmanager}
am_start() {
  AMPORT=$(free_port)
  cat >"$TMP/am.yml" <<AMEOF
route:
  receiver: hook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: $1
        send_resolved: true
AMEOF
  bg "$AM_BIN" --config.file="$TMP/am.yml" --storage.path="$TMP/am-data" \
    --web.listen-address="127.0.0.1:$AMPORT" --cluster.listen-address= --log.level=warn \
    >"$TMP/am.out" 2>&1
  AMURL="http://127.0.0.1:$AMPORT"
  poll 30 curl -sf "$AMURL/-/ready" >/dev/null || { cat "$TMP/am.out"; return 1; }
}
am_alerts() { curl -sf "$AMURL/api/v2/alerts" >"$1"; }
