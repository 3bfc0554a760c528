# base_conf.sh: the base configuration of integration scripts and benchmarks (sourced by
# lib.sh; benchmarks source it alone, setting B first).

# base_conf FILE GROUP DIR [SECTION.KEY=VALUE...]: writes FILE, the configuration most scripts
# start from: [kafka] on the broker $B with small consumer timings (toolchain facts G5/G6),
# topics inv, ev and dlq, consumer group GROUP-$$, collector and analyzer state, RRD files
# (60 s step) and journal (no fsync) under DIR/collector, DIR/state, DIR/rrd and DIR/journal.
# Each SECTION.KEY=VALUE (split at the first dot; empty arguments are ignored) replaces that
# key's base value or adds the key to its section, after the section's other keys (a new
# section goes at the end). Sections of their own ([domain], [rule], [sink]) are appended by
# the caller (cat >>FILE).
base_conf() {
  _bf=$1 _bg=$2 _bd=$3; shift 3
  BASE_CONF_SETS=$(printf '%s\n' "$@") awk '
    BEGIN {
      n = split(ENVIRON["BASE_CONF_SETS"], a, "\n")
      for (i = 1; i <= n; i++) {
        if (a[i] == "") continue
        dot = index(a[i], "."); eq = index(a[i], "=")
        if (dot < 2 || eq < dot + 2) { print "base_conf: not SECTION.KEY=VALUE: " a[i] >"/dev/stderr"; bad = 1; exit 1 }
        k = substr(a[i], 1, dot - 1) SUBSEP substr(a[i], dot + 1, eq - dot - 1)
        if (!(k in v)) order[++m] = k
        v[k] = substr(a[i], eq + 1)
      }
    }
    # rest SECTION: prints the settings of SECTION not printed yet
    function rest(s,   j, p) {
      for (j = 1; j <= m; j++) {
        split(order[j], p, SUBSEP)
        if (p[1] == s && !(order[j] in done)) { print p[2] " = " v[order[j]]; done[order[j]] = 1 }
      }
    }
    /^\[/ { rest(sec); sec = substr($0, 2, length($0) - 2); print; next }
    {
      key = substr($0, 1, index($0, " = ") - 1)
      if ((sec SUBSEP key) in v) { print key " = " v[sec SUBSEP key]; done[sec SUBSEP key] = 1 } else print
    }
    END {
      if (bad) exit 1
      rest(sec)
      for (j = 1; j <= m; j++) {
        if (order[j] in done) continue
        split(order[j], p, SUBSEP); print "[" p[1] "]"; rest(p[1])
      }
    }' >"$_bf" <<EOF
[kafka]
bootstrap.servers = $B
fetch.wait.max.ms = 5
session.timeout.ms = 6000
[topics]
inventory = inv
events = ev
deadletter = dlq
[collector]
state_dir = $_bd/collector
[analyzer]
group_id = $_bg-$$
state_dir = $_bd/state
[rrd]
dir = $_bd/rrd
step = 60s
[journal]
dir = $_bd/journal
fsync = no
EOF
}
