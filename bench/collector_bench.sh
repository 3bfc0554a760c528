# collector_bench.sh: `collect --once` of N resource-CIDR items from the AWS-shaped endpoint
# into the development broker, against kcat producing the same records pre-rendered.
# Usage: sh collector_bench.sh SRCDIR IPAMWATCH RENDER_RECORDS [N]
# The dataset (gen_dataset.py --resource-cidrs N --seed 1) and the endpoint's rendered pages
# are cached under ${IPAMWATCH_BENCH_CACHE:-/tmp/ipamwatch-bench-cache}; the first run makes
# them (about a minute for 1M), later runs start at once.
set -eu
src=$1
ipamwatch=$2
render=$3
n=${4:-1000000}
. "$src/bench/lib.sh"
bench_dataset
items=$("$py" -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["resource_cidrs"] + t["public_resource_cidrs"])' "$data/truth.json")

# Records are keyed by scope: nearly all of them go to the private scope's partition, which
# the development broker trims to its newest 5 MiB while the run goes on (the producer's
# confirmations are unaffected). Both topics get the same partitions and keys.
"$ipamwatch" broker --topic collector:96 --topic kcat:96 --bootstrap-file "$tmp/bootstrap" \
  >/dev/null 2>"$tmp/broker.err" &
pids="$pids $!"
"$py" "$src/tests/aws/fake_aws.py" --data "$data" --port-file "$tmp/port" \
  --cache-dir "$cache/fake-aws-cache-$n" >"$tmp/fake.log" 2>&1 &
pids="$pids $!"
wait_file "$tmp/bootstrap" 10
wait_file "$tmp/port" 600
b=$(cat "$tmp/bootstrap")
url=$(cat "$tmp/port")
key() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0][sys.argv[2]])' "$data/credentials.json" "$1"; }

cat >"$tmp/collect.conf" <<EOF
[aws]
region = eu-central-1
endpoint_url = $url
[kafka]
bootstrap.servers = $b
[topics]
inventory = collector
[collector]
state_dir = $tmp/state
EOF
echo "# collector_bench: $items resource CIDRs (+ pools, allocations, frames), $(nproc) cores"
t0=$(now_ms)
env -u AWS_PROFILE AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID="$(key access_key_id)" \
  AWS_SECRET_ACCESS_KEY="$(key secret_access_key)" \
  "$ipamwatch" collect --once -c "$tmp/collect.conf" --collector-id bench 2>"$tmp/collect.err"
t1=$(now_ms)
cat "$tmp/collect.err" | sed 's/^/#   /'
delivered=$(sed -n 's/.*complete: [0-9]* scopes, \([0-9]*\) records delivered in \([0-9]*\) ms.*/\1/p' "$tmp/collect.err")
pass_ms=$(sed -n 's/.*complete: [0-9]* scopes, \([0-9]*\) records delivered in \([0-9]*\) ms.*/\2/p' "$tmp/collect.err")
[ -n "$delivered" ] || { echo "collector_bench.sh: the pass did not complete" >&2; exit 1; }
c_ms=$((t1 - t0))

"$render" "$data" bench >"$tmp/records.tsv" 2>"$tmp/render.err"
lines=$(wc -l <"$tmp/records.tsv")
bytes=$(wc -c <"$tmp/records.tsv")
t0=$(now_ms)
"$kcat" -P -b "$b" -t kcat -K '	' -X enable.idempotence=true <"$tmp/records.tsv"
t1=$(now_ms)
k_ms=$((t1 - t0))

awk -v d="$delivered" -v cm="$c_ms" -v pm="$pass_ms" -v l="$lines" -v km="$k_ms" -v by="$bytes" 'BEGIN {
  cr = d / (cm / 1000.0); kr = l / (km / 1000.0);
  printf "collector: %d records delivered in %.2f s wall (pass %.2f s): %.0f records/s\n", d, cm / 1000.0, pm / 1000.0, cr;
  printf "kcat:      %d pre-rendered records (%.0f B average) in %.2f s wall: %.0f records/s\n", l, by / l, km / 1000.0, kr;
  printf "ratio:     %.1f %% of kcat (target >= 50 %%)\n", 100.0 * cr / kr;
}'
