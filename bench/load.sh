#!/usr/bin/env bash
# Load-engine benchmark: cutover against oha, wrk and hey on the same loopback
# nginx, in one run, alternating, medians of RUNS runs each; prints ratios.
#
#   bash bench/load.sh            # everything (about 15 minutes)
#   ONLY=closed bash bench/load.sh   # one part: closed | open | co | memory | sockets | dns | h2
#
# Installs what it needs: nginx, wrk, hey and GNU time from Debian, oha with
# `cargo install --locked oha`. All traffic goes to 127.0.0.1. Results are
# printed; copy them into bench/RESULTS.md with the machine and versions.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
CLOSED_SECS=${CLOSED_SECS:-10}
OPEN_SECS=${OPEN_SECS:-20}
ONLY=${ONLY:-all}

need=()
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v hey >/dev/null || need+=(hey)
[ -x /usr/bin/time ] || need+=(time)
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v oha >/dev/null || cargo install --locked oha >/dev/null
[ -x /usr/bin/openssl ] || { apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
cargo build --release --quiet
CUTOVER=${CARGO_TARGET_DIR:-$PWD/target}/release/cutover

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as an unprivileged user
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; [ -n "${LAB_PID:-}" ] && kill "$LAB_PID" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx: one worker, a 2 KiB static body, keep-alive, no access log; the
# same file over HTTP/2 on TLS (a self-signed certificate made here).
PORT=$(free_port)
H2PORT=$(free_port)
mkdir -p "$work/www"
head -c 2048 /dev/zero | tr '\0' 'x' > "$work/www/2k"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.local \
  -addext subjectAltName=DNS:bench.local -addext basicConstraints=critical,CA:FALSE \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  server {
    listen 127.0.0.1:$PORT default_server backlog=4096;
    root $work/www;
    location / { default_type text/plain; }
  }
  server {
    listen 127.0.0.1:$H2PORT ssl http2 backlog=4096;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    root $work/www;
    location / { default_type text/plain; }
  }
}
EOF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/2k" >/dev/null 2>&1 && break; sleep 0.05; done
URL="http://127.0.0.1:$PORT/2k"

scenario() { # name, load-yaml
  cat > "$work/$1.yaml" <<EOF
name: bench $1
host: bench.local
defaults: { timeout: 10s }
targets:
  nginx: { connect: "127.0.0.1:$PORT", role: ingress }
checks:
  - name: static
    http: { path: /2k }
$2
EOF
  echo "$work/$1.yaml"
}

# GNU time: elapsed, user, sys (s), max RSS (KiB) into $work/time.
timed() { /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@"; }
cpu_s() { awk '{print $2 + $3}' "$work/time"; }
rss_kib() { awk '{print $4}' "$work/time"; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.6g}")' "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
report_field() { # dir, python expression over r (the report)
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]+'/report.json')); t=r['load']['targets'][0]; print($2)" "$1"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(uname -r)"
echo "versions: $($CUTOVER --version); $(oha --version); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'); nginx $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2)"
echo

if [ "$ONLY" = all ] || [ "$ONLY" = closed ]; then
  echo "== closed model, concurrency 64, keep-alive, ${CLOSED_SECS}s, medians of $RUNS =="
  s=$(scenario closed "load: { stages: [{ concurrency: 64, for: ${CLOSED_SECS}s }], max_in_flight: 50000 }")
  cut_rps=(); cut_us=(); oha_rps=(); oha_us=(); wrk_rps=(); wrk_us=(); hey_rps=()
  for i in $(seq "$RUNS"); do
    timed "$CUTOVER" run "$s" --out "$work/closed-$i" > "$work/cutover.log" || { cat "$work/cutover.log"; exit 1; }
    rps=$(report_field "$work/closed-$i" "t['achieved_rate']"); n=$(report_field "$work/closed-$i" "t['totals']['requests']")
    cut_rps+=("$rps"); cut_us+=("$(python3 -c "print($(cpu_s)*1e6/$n)")")
    timed oha -z "${CLOSED_SECS}s" -c 64 --no-tui --output-format json "$URL" > "$work/oha.json"
    rps=$(python3 -c "import json; print(json.load(open('$work/oha.json'))['summary']['requestsPerSec'])")
    oha_rps+=("$rps"); oha_us+=("$(python3 -c "print($(cpu_s)*1e6/($rps*$CLOSED_SECS))")")
    timed wrk -t1 -c64 -d"${CLOSED_SECS}s" "$URL" > "$work/wrk.txt"
    rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")
    wrk_rps+=("$rps"); wrk_us+=("$(python3 -c "print($(cpu_s)*1e6/($rps*$CLOSED_SECS))")")
    hey -z "${CLOSED_SECS}s" -c 64 "$URL" > "$work/hey.txt"
    hey_rps+=("$(awk '/Requests\/sec/{print $2}' "$work/hey.txt")")
    echo "  run $i: cutover ${cut_rps[-1]}/s  oha ${oha_rps[-1]}/s  wrk ${wrk_rps[-1]}/s  hey ${hey_rps[-1]}/s"
  done
  c=$(median "${cut_rps[@]}"); o=$(median "${oha_rps[@]}"); w=$(median "${wrk_rps[@]}"); h=$(median "${hey_rps[@]}")
  echo "  median req/s: cutover $c  oha $o  wrk -t1 $w  hey $h"
  echo "  ratios: cutover/oha $(ratio "$c" "$o")  cutover/wrk $(ratio "$c" "$w")  cutover/hey $(ratio "$c" "$h")"
  echo "  client CPU per request (µs): cutover $(median "${cut_us[@]}")  oha $(median "${oha_us[@]}")  wrk $(median "${wrk_us[@]}")"
  echo
fi

if [ "$ONLY" = all ] || [ "$ONLY" = open ]; then
  echo "== arrival rate, ${OPEN_SECS}s each, medians of $RUNS =="
  for rate in ${RATES:-2000 10000 50000}; do
    s=$(scenario "open$rate" "load: { stages: [{ rate: $rate/s, for: ${OPEN_SECS}s }], max_in_flight: 4096 }")
    ach=(); drop=(); p99=(); oach=(); op99=()
    for i in $(seq "$RUNS"); do
      "$CUTOVER" run "$s" --out "$work/open$rate-$i" >/dev/null
      ach+=("$(report_field "$work/open$rate-$i" "t['achieved_rate']")")
      drop+=("$(report_field "$work/open$rate-$i" "t['totals']['dropped']")")
      p99+=("$(report_field "$work/open$rate-$i" "t['totals']['latency']['p99']")")
      oha -z "${OPEN_SECS}s" -q "$rate" -c 256 --latency-correction --no-tui --output-format json "$URL" > "$work/oha.json"
      oach+=("$(python3 -c "import json; print(json.load(open('$work/oha.json'))['summary']['requestsPerSec'])")")
      op99+=("$(python3 -c "import json; print(json.load(open('$work/oha.json'))['latencyPercentiles']['p99']*1000)")")
    done
    a=$(median "${ach[@]}")
    echo "  $rate/s: cutover achieved $a/s ($(python3 -c "print(f'{100*($a-$rate)/$rate:+.2f}')") %), dropped ${drop[*]}, p99 $(median "${p99[@]}") ms | oha -q achieved $(median "${oach[@]}")/s, p99 $(median "${op99[@]}") ms"
  done
  echo
fi

if [ "$ONLY" = all ] || [ "$ONLY" = co ]; then
  echo "== coordinated omission: 100/s for 20 s against the lab, one 1 s stall at 8 s =="
  for tool in cutover oha; do
    LPORT=$(free_port)
    "$CUTOVER" lab --ports "$LPORT,0,0,0" --stall 8s:1s > "$work/lab.log" 2>&1 &
    LAB_PID=$!
    for _ in $(seq 100); do curl -fsS -H 'Host: shop.example.test' "http://127.0.0.1:$LPORT/api/items" >/dev/null 2>&1 && break; sleep 0.05; done
    if [ "$tool" = cutover ]; then
      cat > "$work/co.yaml" <<EOF
name: bench co
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:$LPORT", role: ingress }
checks:
  - name: items
    http: { path: /api/items }
load: { stages: [{ rate: 100/s, for: 20s }] }
EOF
      "$CUTOVER" run "$work/co.yaml" --out "$work/co" >/dev/null
      echo "  cutover: latency p50 $(report_field "$work/co" "t['totals']['latency']['p50']") ms, p99 $(report_field "$work/co" "t['totals']['latency']['p99']") ms, max $(report_field "$work/co" "t['totals']['latency']['max']") ms; service-time p99 $(report_field "$work/co" "t['totals']['service']['p99']") ms"
    else
      oha -z 20s -q 100 --latency-correction -H 'Host: shop.example.test' --no-tui --output-format json "http://127.0.0.1:$LPORT/api/items" > "$work/oha.json"
      python3 -c "import json; p=json.load(open('$work/oha.json'))['latencyPercentiles']; print(f\"  oha -q 100 --latency-correction: p50 {p['p50']*1000:.2f} ms, p99 {p['p99']*1000:.2f} ms\")"
    fi
    kill "$LAB_PID"; wait "$LAB_PID" 2>/dev/null || true; LAB_PID=
  done
  echo
fi

if [ "$ONLY" = all ] || [ "$ONLY" = memory ]; then
  echo "== memory: peak RSS at 5,000/s =="
  for secs in 20 60; do
    s=$(scenario "mem$secs" "load: { stages: [{ rate: 5000/s, for: ${secs}s }] }")
    timed "$CUTOVER" run "$s" --out "$work/mem$secs" >/dev/null
    echo "  cutover ${secs}s: peak RSS $(( $(rss_kib) / 1024 )) MiB, $(report_field "$work/mem$secs" "t['totals']['requests']") requests"
  done
  timed oha -z 60s -q 5000 --no-tui --output-format json "$URL" >/dev/null
  echo "  oha 60s: peak RSS $(( $(rss_kib) / 1024 )) MiB"
  timed wrk -t1 -c16 -d60s "$URL" >/dev/null
  echo "  wrk 60s (closed, c=16): peak RSS $(( $(rss_kib) / 1024 )) MiB"
fi

if [ "$ONLY" = all ] || [ "$ONLY" = sockets ]; then
  echo
  echo "== WebSockets: 2,000 concurrent sockets against the lab, 1 message/s each, 30 s =="
  LPORT=$(free_port)
  "$CUTOVER" lab --ports "$LPORT,0,0,0" > "$work/lab.log" 2>&1 &
  LAB_PID=$!
  for _ in $(seq 100); do curl -fsS -H 'Host: shop.example.test' "http://127.0.0.1:$LPORT/api/items" >/dev/null 2>&1 && break; sleep 0.05; done
  cat > "$work/ws.yaml" <<EOF
name: bench sockets
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:$LPORT", role: ingress }
checks:
  - name: chat
    websocket: { path: /ws, send: [tick], expect_echo: true }
load: { stages: [{ sockets: 2000, ramp: 10s, for: 30s, message_rate: 1/s }] }
EOF
  ulimit -n 65536 2>/dev/null || true
  timed "$CUTOVER" run "$work/ws.yaml" --out "$work/ws" >/dev/null
  python3 - "$work/ws/report.json" "$(rss_kib)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); c = r['load']['targets'][0]['checks'][0]; t = c['totals']; m = t['messages']
print(f"  cutover: {t['statuses'].get('101', 0)} sockets upgraded, handshake p50 {t['latency']['p50']:.2f} ms p99 {t['latency']['p99']:.2f} ms; "
      f"{m['replies']} replies, RTT p50 {m['rtt']['p50']:.3f} ms p99 {m['rtt']['p99']:.3f} ms max {m['rtt']['max']:.2f} ms; "
      f"{m['failures']} failed, {m['dropped']} dropped; peak RSS {int(sys.argv[2]) // 1024} MiB")
PY
  kill "$LAB_PID"; wait "$LAB_PID" 2>/dev/null || true; LAB_PID=
fi

if [ "$ONLY" = all ] || [ "$ONLY" = dns ]; then
  echo
  echo "== weighted DNS: 1,000 samples (rate raised to 100,000/s, 64 in flight) =="
  [ -x /usr/sbin/pdns_server ] || { apt-get install -y -qq --no-install-recommends pdns-server pdns-backend-bind >/dev/null; }
  "$CUTOVER" lab > "$work/lab.log" 2>&1 &
  LAB_PID=$!
  for _ in $(seq 100); do grep -q "^  dns" "$work/lab.log" 2>/dev/null && break; sleep 0.05; done
  LAB_DNS=$(awk '/^  dns/{print $2}' "$work/lab.log")
  # PowerDNS with a Lua weighted record, like the integration test.
  PPORT=$(free_port)
  mkdir -p "$work/pdns"
  cat > "$work/pdns/example.test.zone" <<'EOF'
$ORIGIN example.test.
$TTL 60
@       IN SOA  ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@       IN NS   ns1.example.test.
ns1     IN A    127.0.0.1
shop    IN LUA  A "pickwrandom({{90, '192.0.2.10'}, {10, '192.0.2.20'}})"
EOF
  echo "zone \"example.test\" { type master; file \"$work/pdns/example.test.zone\"; };" > "$work/pdns/named.conf"
  cat > "$work/pdns/pdns.conf" <<EOF
launch=bind
bind-config=$work/pdns/named.conf
enable-lua-records=shared
local-address=127.0.0.1
local-port=$PPORT
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
security-poll-suffix=
EOF
  /usr/sbin/pdns_server --config-dir="$work/pdns" --daemon=no --guardian=no --disable-syslog=yes --write-pid=no --socket-dir="$work/pdns" > "$work/pdns/log" 2>&1 &
  PDNS_PID=$!
  sleep 1
  for ns in "lab $LAB_DNS" "powerdns 127.0.0.1:$PPORT"; do
    set -- $ns
    cat > "$work/dns-$1.yaml" <<EOF
name: bench dns $1
host: shop.example.test
targets:
  ingress: { connect: "127.0.0.1:1", dns_answers: [192.0.2.10] }
  gateway: { connect: "127.0.0.1:2", dns_answers: [192.0.2.20] }
checks:
  - name: weighted dns
    dns: { nameservers: ["$2"], samples: 1000, rate: 100000/s, concurrency: 64 }
    expect: { weights: { ingress: 90, gateway: 10 }, significance: 0.000001 }
EOF
    timed "$CUTOVER" dns "$work/dns-$1.yaml" --out "$work/dns-$1" >/dev/null || true
    python3 - "$work/dns-$1/report.json" "$1" "$(awk '{print $1}' "$work/time")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); res = r['checks'][0]['results'][0]; d = res['details']
shares = ", ".join(f"{s['target']} {100*s['observed']:.1f} %" for s in d['shares'])
print(f"  {sys.argv[2]}: 1,000 samples in {res['latency_ms']:.0f} ms (whole command {float(sys.argv[3]):.2f} s); answered {d['answered']}; {shares}; p = {d['p_value']:.3f}; verdict {res['verdict']}")
PY
  done
  kill "$LAB_PID" "$PDNS_PID" 2>/dev/null; wait "$LAB_PID" "$PDNS_PID" 2>/dev/null || true; LAB_PID=
fi

if [ "$ONLY" = all ] || [ "$ONLY" = h2 ]; then
  echo
  echo "== HTTP/2 over TLS (nginx: listen ssl http2), closed model, concurrency 64, ${CLOSED_SECS}s, medians of $RUNS =="
  H2URL="https://127.0.0.1:$H2PORT/2k"
  h2scenario() { # name, load-yaml
    cat > "$work/$1.yaml" <<EOF
name: bench $1
host: bench.local
defaults: { timeout: 10s }
targets:
  nginx: { connect: "127.0.0.1:$H2PORT", role: ingress, scheme: https, tls: { ca: "$work/cert.pem" } }
checks:
  - name: static
    http: { path: /2k }
$2
EOF
    echo "$work/$1.yaml"
  }
  oha_rps() { python3 -c "import json; print(json.load(open('$work/oha.json'))['summary']['requestsPerSec'])"; }
  # Two shapes of 64 at once: 2 connections of 32 streams (cutover's pool
  # fills a connection before it opens another; oha -c 2 -p 32), and 64
  # connections of one stream each (max_streams: 1; oha -c 64).
  s_mux=$(h2scenario h2mux "load: { http_version: h2, connections: 2, max_streams: 32, stages: [{ concurrency: 64, for: ${CLOSED_SECS}s }], max_in_flight: 50000 }")
  s_one=$(h2scenario h2one "load: { http_version: h2, connections: 64, max_streams: 1, stages: [{ concurrency: 64, for: ${CLOSED_SECS}s }], max_in_flight: 50000 }")
  cm=(); om=(); c1=(); o1=(); cm_us=(); om_us=(); c1_us=(); o1_us=()
  for i in $(seq "$RUNS"); do
    timed "$CUTOVER" run "$s_mux" --out "$work/h2mux-$i" > "$work/cutover.log" || { cat "$work/cutover.log"; exit 1; }
    cm+=("$(report_field "$work/h2mux-$i" "t['achieved_rate']")")
    cm_us+=("$(python3 -c "print($(cpu_s)*1e6/$(report_field "$work/h2mux-$i" "t['totals']['requests']"))")")
    errs=$(report_field "$work/h2mux-$i" "t['totals']['errors']"); [ "$errs" = 0 ] || echo "  (cutover h2 run $i: $errs errors)"
    timed oha -z "${CLOSED_SECS}s" -c 2 -p 32 --http2 --insecure --no-tui --output-format json "$H2URL" > "$work/oha.json"
    om+=("$(oha_rps)"); om_us+=("$(python3 -c "print($(cpu_s)*1e6/(${om[-1]}*$CLOSED_SECS))")")
    timed "$CUTOVER" run "$s_one" --out "$work/h2one-$i" > "$work/cutover.log" || { cat "$work/cutover.log"; exit 1; }
    c1+=("$(report_field "$work/h2one-$i" "t['achieved_rate']")")
    c1_us+=("$(python3 -c "print($(cpu_s)*1e6/$(report_field "$work/h2one-$i" "t['totals']['requests']"))")")
    timed oha -z "${CLOSED_SECS}s" -c 64 --http2 --insecure --no-tui --output-format json "$H2URL" > "$work/oha.json"
    o1+=("$(oha_rps)"); o1_us+=("$(python3 -c "print($(cpu_s)*1e6/(${o1[-1]}*$CLOSED_SECS))")")
    echo "  run $i: 2 conn × 32 streams: cutover ${cm[-1]}/s  oha ${om[-1]}/s | 64 conn × 1 stream: cutover ${c1[-1]}/s  oha ${o1[-1]}/s"
  done
  a=$(median "${cm[@]}"); b=$(median "${om[@]}"); c=$(median "${c1[@]}"); d=$(median "${o1[@]}")
  echo "  2 connections × 32 streams: median req/s cutover $a  oha -c 2 -p 32 $b  ratio $(ratio "$a" "$b"); CPU per request (µs) cutover $(median "${cm_us[@]}")  oha $(median "${om_us[@]}")"
  echo "  64 connections × 1 stream:  median req/s cutover $c  oha -c 64 $d  ratio $(ratio "$c" "$d"); CPU per request (µs) cutover $(median "${c1_us[@]}")  oha $(median "${o1_us[@]}")"
  echo
  echo "== HTTP/2 over TLS, arrival rate, ${OPEN_SECS}s each, medians of $RUNS =="
  for rate in ${H2_RATES:-10000}; do
    s=$(h2scenario "h2open$rate" "load: { http_version: h2, stages: [{ rate: $rate/s, for: ${OPEN_SECS}s }], max_in_flight: 4096 }")
    ach=(); drop=(); p99=(); oach=(); op99=()
    for i in $(seq "$RUNS"); do
      "$CUTOVER" run "$s" --out "$work/h2open$rate-$i" >/dev/null
      ach+=("$(report_field "$work/h2open$rate-$i" "t['achieved_rate']")")
      drop+=("$(report_field "$work/h2open$rate-$i" "t['totals']['dropped']")")
      p99+=("$(report_field "$work/h2open$rate-$i" "t['totals']['latency']['p99']")")
      oha -z "${OPEN_SECS}s" -q "$rate" -c 4 -p 64 --http2 --insecure --latency-correction --no-tui --output-format json "$H2URL" > "$work/oha.json"
      oach+=("$(oha_rps)")
      op99+=("$(python3 -c "import json; print(json.load(open('$work/oha.json'))['latencyPercentiles']['p99']*1000)")")
    done
    a=$(median "${ach[@]}")
    echo "  $rate/s: cutover achieved $a/s ($(python3 -c "print(f'{100*($a-$rate)/$rate:+.2f}')") %), dropped ${drop[*]}, p99 $(median "${p99[@]}") ms | oha -q -c 4 -p 64 achieved $(median "${oach[@]}")/s, p99 $(median "${op99[@]}") ms"
  done
fi
