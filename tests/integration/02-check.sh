# ipamwatch check: both shipped configs pass; broken configs fail with exit 2 and FILE:LINE.
. "$top_srcdir/tests/integration/lib.sh"
plan 18

DATA="$top_srcdir/tests/data/config"
DEMO="$top_srcdir/config/demo.conf"
EXAMPLE="$top_srcdir/config/ipamwatch.conf.example"

# expect_fail DESCRIPTION WANT_PREFIX NEEDLE ARGS...: check exits 2 and stderr starts with
# "ipamwatch: WANT_PREFIX" and contains NEEDLE.
expect_fail() {
  d=$1; prefix=$2; needle=$3; shift 3
  "$IPAMWATCH" check "$@" >"$TMP/out" 2>"$TMP/err"; st=$?
  if [ "$st" -ne 2 ]; then fail "$d (exit $st, want 2)"; return; fi
  if ! head -n 1 "$TMP/err" | grep -qF "ipamwatch: $prefix"; then
    fail "$d (stderr: $(cat "$TMP/err"), want prefix 'ipamwatch: $prefix')"; return
  fi
  if ! grep -qF -- "$needle" "$TMP/err"; then fail "$d (stderr lacks '$needle')"; return; fi
  pass "$d"
}

# The example's secrets come from the environment; give them distinctive values.
export IPAMWATCH_KAFKA_PASSWORD=Zq9-kafka-pw
export IPAMWATCH_PAGERDUTY_ROUTING_KEY=Zq9-pd-key
export IPAMWATCH_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/Zq9-slack
export IPAMWATCH_WEBHOOK_HMAC_SECRET=Zq9-hmac

check_status 0 "demo.conf passes" sh -c '"$IPAMWATCH" check -c "$1" >"$2/demo.out"' _ "$DEMO" "$TMP"
check "demo dump shows the embedded broker and every section" sh -c '
  grep -qx "bootstrap.servers = embedded" "$1" && grep -qx "\[rule \"stale-data\"\]" "$1" &&
  grep -qx "step = 5m" "$1" && grep -qx "\[sink \"alerts-topic\"\]" "$1"' _ "$TMP/demo.out"
check_status 0 "ipamwatch.conf.example passes" \
  sh -c '"$IPAMWATCH" check -c "$1" >"$2/example.out"' _ "$EXAMPLE" "$TMP"
check "no secret of the example reaches the output" sh -c '! grep -q Zq9 "$1"' _ "$TMP/example.out"
check "secrets appear as <redacted>" sh -c '
  grep -qx "sasl.password = <redacted>" "$1" && grep -qx "routing_key = <redacted>" "$1" &&
  grep -qx "webhook_url = <redacted>" "$1" && grep -qx "hmac_secret = <redacted>" "$1"' \
  _ "$TMP/example.out"
check_status 0 "the dump is itself a valid configuration" \
  sh -c '"$IPAMWATCH" check -q -c "$1"' _ "$TMP/demo.out"

line=$(grep -n '^sasl.password' "$EXAMPLE" | cut -d: -f1)
unset IPAMWATCH_KAFKA_PASSWORD
expect_fail "an unset secret variable is named with its file:line" \
  "$EXAMPLE:$line: [kafka] sasl.password:" "IPAMWATCH_KAFKA_PASSWORD is not set" -c "$EXAMPLE"
export IPAMWATCH_KAFKA_PASSWORD=Zq9-kafka-pw

expect_fail "unknown key" "$DATA/unknown-key.conf:6: [collector] poll_intervall:" "unknown key" \
  -c "$DATA/unknown-key.conf"
expect_fail "bad duration" "$DATA/bad-duration.conf:7: [rrd] step:" "is not a duration" \
  -c "$DATA/bad-duration.conf"
expect_fail "unknown Kafka property" "$DATA/bad-kafka-property.conf:5: [kafka] no.such.property:" \
  "No such configuration property" -c "$DATA/bad-kafka-property.conf"
expect_fail "bad Kafka value" "$DATA/bad-kafka-value.conf:5: [kafka] queue.buffering.max.ms:" \
  "queue.buffering.max.ms" -c "$DATA/bad-kafka-value.conf"
expect_fail "empty unknown section" "$DATA/unknown-empty-section.conf:5: [sinks]:" \
  "unknown section" -c "$DATA/unknown-empty-section.conf"
expect_fail "a bad -X property names -X" "-X: [kafka] no.such.property:" \
  "No such configuration property" -c "$DEMO" -X no.such.property=1

check "-X wins over the file" sh -c '
  "$IPAMWATCH" check -c "$1" -X fetch.wait.max.ms=7 | grep -qx "fetch.wait.max.ms = 7"' _ "$DEMO"
check "--quiet prints nothing" sh -c '
  out=$("$IPAMWATCH" check --quiet -c "$1") && [ -z "$out" ]' _ "$DEMO"

# A literal secret is accepted only in a file its owner alone can read.
cat >"$TMP/literal.conf" <<'CONF'
[kafka]
bootstrap.servers = 127.0.0.1:9092
sasl.username = ipamwatch
sasl.password = Zq9-literal-pw
CONF
chmod 644 "$TMP/literal.conf"
expect_fail "literal secret in a world-readable file" "$TMP/literal.conf:4: [kafka] sasl.password:" \
  "mode 0644" -c "$TMP/literal.conf"
chmod 600 "$TMP/literal.conf"
check "literal secret in a 0600 file passes, redacted" sh -c '
  "$IPAMWATCH" check -c "$1" >"$2/lit.out" && grep -qx "sasl.password = <redacted>" "$2/lit.out" &&
  ! grep -q Zq9 "$2/lit.out"' _ "$TMP/literal.conf" "$TMP"
expect_fail "a missing file" "$TMP/nonexistent.conf: cannot open" "No such file" \
  -c "$TMP/nonexistent.conf"
