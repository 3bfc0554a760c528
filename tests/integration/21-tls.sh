# TLS verification is on by default. AWS: the collector refuses the AWS-shaped endpoint served
# over HTTPS with a self-signed certificate (and with a certificate for another host name)
# with a clear certificate error, and works once `[aws] ca_file` names the CA. Kafka:
# security.protocol=SSL to a TLS listener fails the handshake on the certificate unless
# ssl.ca.location names the CA; then the listener sees a completed handshake (it speaks no
# Kafka, so the protocol fails after it). The sinks' TLS is covered with the sink tests.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore
plan 12
DATA="$top_srcdir/tests/data/aws/org-small"

unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE
aws_env "$DATA/credentials.json"

# cert NAME SAN: a self-signed certificate $TMP/NAME.pem with key $TMP/NAME.key
cert() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" -out "$TMP/$1.pem" -days 2 \
    -subj "/CN=ipamwatch test $1" -addext "subjectAltName=$2" >/dev/null 2>&1
}
cert good IP:127.0.0.1
cert other DNS:aws.example.invalid
cert stranger IP:127.0.0.1

bg "$PYTHON3" "$top_srcdir/tests/aws/fake_aws.py" --data "$DATA" --port-file "$TMP/port" \
  --tls-cert "$TMP/good.pem" --tls-key "$TMP/good.key" --log "$TMP/aws.log" 2>"$TMP/aws.err"
bg "$PYTHON3" "$top_srcdir/tests/aws/fake_aws.py" --data "$DATA" --port-file "$TMP/port-other" \
  --tls-cert "$TMP/other.pem" --tls-key "$TMP/other.key" 2>"$TMP/aws-other.err"
start_broker_proc --topic inv:2
for f in port port-other; do
  wait_for_file "$TMP/$f" 30 || bail "$f not written"
done
URL=$(cat "$TMP/port")

# conf NAME ENDPOINT [CA_FILE]
conf() {
  cat >"$TMP/$1.conf" <<EOF
[aws]
region = eu-central-1
endpoint_url = $2
max_attempts = 1
${3:+ca_file = $3}
[kafka]
bootstrap.servers = $B
[topics]
inventory = inv
[collector]
state_dir = $TMP/$1-state
EOF
}
collect() { "$IPAMWATCH" collect -c "$TMP/$1.conf" --once >"$TMP/$1.out" 2>"$TMP/$1.err"; }

# --- 1-6: AWS over HTTPS --------------------------------------------------------------------
check "the endpoint serves HTTPS ($URL)" sh -c 'case "$1" in https://127.0.0.1:*) exit 0;; esac; exit 1' _ "$URL"
conf noca "$URL"
check_status 1 "without ca_file the collector fails the pass (exit 1)" collect noca
check "... naming the certificate problem of DescribeIpams" \
  grep -q 'ec2 DescribeIpams: SSL certificate problem: self-signed certificate' "$TMP/noca.err"
conf wrongca "$URL" "$TMP/stranger.pem"
check_status 1 "a ca_file of another CA is refused too" collect wrongca
conf host "$(cat "$TMP/port-other")" "$TMP/other.pem"
collect host
check "a certificate of the right CA for another host name is refused (host name checked)" \
  grep -q "ec2 DescribeIpams: SSL: no alternative certificate subject name matches target host name '127.0.0.1'" "$TMP/host.err"
conf ca "$URL" "$TMP/good.pem"
check_status 0 "with ca_file naming the CA the pass completes" collect ca
check "... and every record was delivered" grep -q 'complete: 2 scopes, [0-9]* records delivered' "$TMP/ca.err"

# --- 7-11: Kafka security.protocol=SSL ------------------------------------------------------
# A TLS listener that records each handshake's outcome and then closes: no Kafka behind it.
cat >"$TMP/tls_listener.py" <<'PY'
import socket, ssl, sys, threading
cert, key, port_file, log = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
lock = threading.Lock()
def note(text):
    with lock, open(log, "a") as f:
        f.write(text + "\n")
def serve(conn):
    try:
        s = ctx.wrap_socket(conn, server_side=True)
        note("handshake ok " + s.version())
        s.settimeout(2)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    except (ssl.SSLError, OSError) as e:
        note("handshake failed: %s" % e)
        conn.close()
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
import os
os.replace(port_file + ".tmp", port_file)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
bg "$PYTHON3" "$TMP/tls_listener.py" "$TMP/good.pem" "$TMP/good.key" "$TMP/kport" "$TMP/tls.log"
wait_for_file "$TMP/kport" 10 || bail "TLS listener did not start"
KP=$(cat "$TMP/kport")
# kafka_try NAME EXTRA-LINE: a collector pass over files to the TLS listener; Kafka never
# confirms, so the pass fails after message.timeout.ms
kafka_try() {
  cat >"$TMP/$1.conf" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:$KP
security.protocol = SSL
message.timeout.ms = 4000
reconnect.backoff.ms = 200
$2
[topics]
inventory = inv
[collector]
state_dir = $TMP/$1-state
[log]
level = debug
EOF
  : >"$TMP/tls.log"
  "$IPAMWATCH" collect -c "$TMP/$1.conf" --once --from-files "$DATA" >"$TMP/$1.out" 2>"$TMP/$1.err"
}
kafka_try knoca ""
rc=$?
check "without ssl.ca.location the pass fails (exit $rc)" test "$rc" -ne 0
check "... the client refused the certificate (librdkafka: certificate verify failed)" \
  grep -q 'SSL handshake failed.*certificate verify failed' "$TMP/knoca.err"
check "... and the listener saw its handshake aborted, never completed" \
  sh -c 'grep -q "handshake failed" "$1" && ! grep -q "handshake ok" "$1"' _ "$TMP/tls.log"
kafka_try kca "ssl.ca.location = $TMP/good.pem"
check "with ssl.ca.location naming the CA the TLS handshake completes" \
  grep -q '^handshake ok TLSv1' "$TMP/tls.log"
check "... and the client got past it to the Kafka protocol, with no certificate error" \
  sh -c 'grep -q "in state APIVERSION_QUERY" "$1" && ! grep -q "certificate verify failed" "$1"' _ "$TMP/kca.err"
