#!/usr/bin/env bash
# Load test on loopback, interleaved in one run:
#   upstream direct (nginx serving files) | nginx as a plain reverse proxy (the floor of any
#   proxy) | veil with a passthrough route | veil masking
# at 2 KiB, 64 KiB and 1 MiB of inbox-shaped JSON and a 50 KiB HTML page. Prints requests/s,
# p50/p99 latency and the proxy's own CPU time per request (from /proc, steadier than
# requests/s on a shared 2-core machine), with ratios against nginx. Then the memory check:
# 200 concurrent clients streaming 50 MB masked responses, veil's peak RSS.
#
# Usage: benches/load.sh [seconds per run, default 5] [rounds, default 2]
# VEIL_BIN=path measures that veil binary instead of building this tree's (an A/B run).
# Installs wrk and nginx (Debian) when missing. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-2}
WORK=$(mktemp -d /tmp/veil-load.XXXXXX)
chmod 755 "$WORK"   # nginx workers read the payloads as www-data
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null
fi
if [ -n "${VEIL_BIN:-}" ]; then
  VEIL=$VEIL_BIN
else
  cargo build --release --locked --quiet
  VEIL=target/release/veil
fi

# Payloads: inbox-shaped JSON (about one PII value per 200 bytes) and an HTML page.
python3 - "$WORK" <<'PY'
import json, os, random, sys
w = sys.argv[1]; random.seed(7)
os.makedirs(f"{w}/www/api", exist_ok=True)
def contact(i):
    return {"id": i, "name": f"Cliente {i}", "email": f"cliente{i}@example.com",
            "phone_number": f"+55119{random.randint(10000000, 99999999)}", "identifier": None,
            "thumbnail": "", "availability_status": "offline", "blocked": False,
            "custom_attributes": {"plano": "ouro", "pedido": f"PED-2025-{i:04d}"},
            "additional_attributes": {"city": "São Paulo", "description": "Cliente desde 2021 \u0026 VIP"},
            "last_activity_at": 1763640000 + i, "created_at": 1755864000,
            "contact_inboxes": [{"source_id": f"55119{random.randint(10000000, 99999999)}",
                                 "inbox": {"id": 3, "name": "WhatsApp Vendas", "channel_type": "Channel::Whatsapp"}}]}
for name, size in [("2k", 2048), ("64k", 65536), ("1m", 1 << 20), ("50m", 50 << 20)]:
    parts, total, i = [], 40, 0
    while total < size:
        c = json.dumps(contact(i), ensure_ascii=False, separators=(",", ":"))
        parts.append(c); total += len(c.encode()) + 1; i += 1
    doc = '{"meta":{"count":%d},"payload":[%s]}' % (i, ",".join(parts))
    open(f"{w}/www/api/{name}.json", "w").write(doc)
rows = "".join(f'<tr><td>Cliente {i}</td><td><a href="tel:+55119{random.randint(10000000,99999999)}">ligar</a></td>'
               f'<td>cliente{i}@example.com</td><td>Pedido PED-2025-{i:04d} · R$ 1.234,56</td></tr>\n' for i in range(400))
page = f"<!DOCTYPE html><html><head><title>Contatos</title></head><body><table>{rows}</table></body></html>"
while len(page) < 50 * 1024: page = page.replace("</table>", rows[:2000] + "</table>")
open(f"{w}/www/api/50k.html", "w").write(page[: 50 * 1024 + 2000])
os.symlink(f"{w}/www/api", f"{w}/www/pass")
PY

# nginx: the upstream (port 18091) and a plain reverse proxy in front of it (18092), one
# worker each so that CPU per request is comparable with veil's.
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  types { application/json json; text/html html; }
  server { listen 127.0.0.1:18091; root $WORK/www; sendfile on; }
  upstream up { server 127.0.0.1:18091; keepalive 64; }
  server { listen 127.0.0.1:18092;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; } }
}
NGX
nginx -c "$WORK/nginx.conf"
sleep 0.5
NGINX_WORKERS=$(pgrep -f "nginx: worker process" | tr '\n' ' ')

# veil: the shipped rules plus a passthrough route for /pass/**.
mkdir -p "$WORK/rules"
cp -r rules/* "$WORK/rules/"
cat > "$WORK/rules/bench.yaml" <<'YML'
routes:
  - name: bench-pass
    match: { path: "/pass/**" }
    passthrough: true
YML
"$VEIL" keygen k1 > "$WORK/keys.txt"
RUST_LOG=warn "$VEIL" serve --upstream http://127.0.0.1:18091 --listen 127.0.0.1:18093 \
  --admin-listen off --rules "$WORK/rules" --keys "$WORK/keys.txt" >/dev/null 2>"$WORK/veil.log" &
VEIL_PID=$!
sleep 1

# Every target must answer 200 with a body of the payload's size (masked: about as big).
for f in 2k.json 64k.json 1m.json 50k.html; do
  for url in "http://127.0.0.1:18091/api/$f" "http://127.0.0.1:18092/api/$f" "http://127.0.0.1:18093/pass/$f" "http://127.0.0.1:18093/api/$f"; do
    read -r code size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$url")
    [ "$code" = 200 ] && [ "$size" -gt 1000 ] || { echo "sanity check failed: $url -> $code, $size bytes" >&2; exit 1; }
  done
done

cpu_ticks() { # utime+stime of the given pids, in clock ticks
  local t=0; for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
HZ=$(getconf CLK_TCK)

declare -A RPS P50 P99 CPU
run() { # label port path -> fills RPS/P50/P99/CPU[label/path] (accumulates rounds)
  local label=$1 port=$2 path=$3 pids
  case $label in nginx) pids=$NGINX_WORKERS;; veil*) pids=$VEIL_PID;; *) pids=$NGINX_WORKERS;; esac
  local before after out reqs
  before=$(cpu_ticks $pids)
  out=$(wrk -t2 -c16 -d"${DUR}s" --latency "http://127.0.0.1:$port$path")
  after=$(cpu_ticks $pids)
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local key="$label $path"
  RPS[$key]="${RPS[$key]:-} $(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  P50[$key]="${P50[$key]:-} $(echo "$out" | awk '$1=="50%" {print $2}')"
  P99[$key]="${P99[$key]:-} $(echo "$out" | awk '$1=="99%" {print $2}')"
  CPU[$key]="${CPU[$key]:-} $(awk -v t=$((after - before)) -v r="$reqs" -v hz="$HZ" 'BEGIN { printf "%.1f", (r > 0 ? t / hz / r * 1e6 : 0) }')"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# veil load test, $(date -u +%Y-%m-%dT%H:%MZ), $(lscpu | sed -n 's/^Model name: *//p'), ${DUR}s x ${ROUNDS} rounds, wrk -t2 -c16"
for round in $(seq "$ROUNDS"); do
  for size in 2k 64k 1m 50k.html; do
    f=$size; [[ $size == *.html ]] || f=$size.json
    run direct 18091 "/api/$f"
    run nginx 18092 "/api/$f"
    run veil-pass 18093 "/pass/$f"
    run veil-mask 18093 "/api/$f"
  done
done

printf '\n| payload | target | req/s | p50 | p99 | proxy CPU µs/req | CPU vs nginx |\n|---|---|---|---|---|---|---|\n'
for size in 2k 64k 1m 50k.html; do
  f=$size; [[ $size == *.html ]] || f=$size.json
  base=$(echo "${CPU[nginx /api/$f]}" | median)
  for label in direct nginx veil-pass veil-mask; do
    p=/api/$f; [ $label = veil-pass ] && p=/pass/$f
    k="$label $p"
    cpu=$(echo "${CPU[$k]}" | median)
    ratio=$(awk -v a="$cpu" -v b="$base" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
    [ $label = direct ] && { cpu="(upstream)"; ratio="-"; }
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$f" "$label" "$(echo "${RPS[$k]}" | median)" \
      "$(echo "${P50[$k]}" | median)" "$(echo "${P99[$k]}" | median)" "$cpu" "$ratio"
  done
done

# Memory: 200 concurrent clients streaming 50 MB masked responses.
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$VEIL_PID/status)
wrk -t2 -c200 -d"$((DUR * 3))s" --timeout 60s "http://127.0.0.1:18093/api/50m.json" > "$WORK/mem.txt" || true
HWM=$(awk '/VmHWM/ {print $2}' /proc/$VEIL_PID/status)
RSS1=$(awk '/VmRSS/ {print $2}' /proc/$VEIL_PID/status)
printf '\nmemory: 200 clients x 50 MB masked JSON for %ss: %s; veil RSS before %s KiB, peak %s KiB, after %s KiB\n' \
  "$((DUR * 3))" "$(awk '/requests in/ {print $1, "responses,", $5}' "$WORK/mem.txt")" "$RSS0" "$HWM" "$RSS1"
