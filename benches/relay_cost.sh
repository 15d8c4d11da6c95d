#!/usr/bin/env bash
# Relays across channels (co-hosting, PK), measured on real parts: `livestage serve --dev` and
# bots; one host publishing a textured 1280x720@30 test pattern and a tone.
#   1. Server CPU per relayed stream, % of one core: the serve process's CPU time over WINDOW s
#      with the host relaying into N channels (one audience bot in each, and one at home),
#      minus the same with the host not relaying (the same bots joined).
#   2. Glass to glass, stamp read from the decoded pixels: an audience bot at home (direct)
#      beside one in the destination channel (relayed), same run; on one server, then with the
#      destination on a second `livestage serve` on loopback.
# Usage: benches/relay_cost.sh  (env: WINDOW=10, LIVESTAGE_BIN=path to a built livestage)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-10}
for tool in python3 openssl; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done
# LIVESTAGE_BIN runs an already built binary (the dev profile is optimized too).
if [ -z "${LIVESTAGE_BIN:-}" ]; then cargo build --release --quiet; fi
B=${LIVESTAGE_BIN:-$PWD/${CARGO_TARGET_DIR:-target}/release/livestage}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export LIVESTAGE_SECRET=bench-secret-of-at-least-32-bytes-long
A=127.0.0.1:19381
R=127.0.0.1:19382
HOST=join,publish-audio,publish-video,publish-data
MEDIA=video=textured:1280x720@30,audio=tone:440
"$B" serve --dev --listen $A --cert-out "$tmp/a.pem" >/dev/null 2>&1 & SERVE=$!; pids+=($SERVE)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -keyout "$tmp/r-key.pem" -out "$tmp/r.pem" 2>/dev/null
"$B" serve --dev --listen $R --cert "$tmp/r.pem" --key "$tmp/r-key.pem" --cert-out "$tmp/r-out.pem" >/dev/null 2>&1 & pids+=($!)
sleep 1
# CPU seconds (user + system) of process $1 so far.
cpu() { python3 -c "import os,sys; f=open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))" "$1"; }
tok() { "$B" token --channel "$1" --user "$2" --grants "$3"; }
SECS=$((WINDOW + 8))
fans() { # server cert seconds channels...
  local server=$1 cert=$2 secs=$3; shift 3
  for ch in "$@"; do
    "$B" bot --server "$server" --cert "$cert" --token "$(tok "$ch" "fan-$ch" join)" --duration "$secs" \
      --report "$tmp/fan-$ch.json" >/dev/null 2>&1 & pids+=($!)
  done
}
relay_cpu() { # destinations (space separated; none for the baseline)
  local dests=() spec=""
  for ch in "$@"; do dests+=("$ch:$(tok "$ch" alice $HOST)"); done
  spec=$(IFS=,; echo "${dests[*]:-}")
  fans $A "$tmp/a.pem" $((SECS + 2)) home "${@:-b}"
  "$B" bot --server $A --cert "$tmp/a.pem" --token "$(tok home alice $HOST,relay)" --role host \
    --publish $MEDIA ${spec:+--relay "$spec"} --duration "$SECS" >/dev/null 2>&1 & host=$!; pids+=($host)
  sleep 5
  a=$(cpu $SERVE); sleep "$WINDOW"; b=$(cpu $SERVE)
  wait "$host" || true
  sleep 4
  python3 -c "import sys; print((float(sys.argv[2])-float(sys.argv[1]))/float(sys.argv[3])*100)" "$a" "$b" "$WINDOW"
}
base=$(relay_cpu)
echo "| destinations | server CPU, % of a core | per relayed stream |"
echo "|---|---|---|"
echo "| none (the same bots joined) | $(printf %.1f "$base") | |"
for n in 1 3; do
  chans=(b c d); chans=("${chans[@]:0:$n}")
  used=$(relay_cpu "${chans[@]}")
  python3 -c "import sys; u,b,n=map(float,sys.argv[1:4]); print(f'| {int(n)} | {u:.1f} | {(u-b)/n:.1f} |')" "$used" "$base" "$n"
done

echo
echo "| path (same run as the direct viewer) | frames | p50 ms | p95 ms | direct p50 ms |"
echo "|---|---|---|---|---|"
g2g() { # label destination-spec fan-server fan-cert
  fans $A "$tmp/a.pem" 12 home
  "$B" bot --server "$3" --cert "$4" --token "$(tok b fan-b join)" --duration 12 \
    --report "$tmp/fan-b.json" >/dev/null 2>&1 & fan=$!; pids+=($fan)
  "$B" bot --server $A --cert "$tmp/a.pem" --token "$(tok home alice $HOST,relay)" --role host \
    --publish $MEDIA --relay "$2" --duration 14 >/dev/null 2>&1 & pids+=($!)
  wait "$fan" || true
  sleep 3
  python3 - "$1" "$tmp/fan-b.json" "$tmp/fan-home.json" <<'PY'
import json, sys
label, relayed, direct = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
r, d = relayed["video"]["alice"], direct["video"]["alice"]
print(f"| {label} | {r['frames']} | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p95']:.1f} | {d['latency_ms']['p50']:.1f} |")
PY
}
g2g "alice -> home -> relay -> b on the same server -> fan" "b:$(tok b alice $HOST)" $A "$tmp/a.pem"
g2g "alice -> home -> relay -> b on a second server -> fan" "b@$R#$tmp/r.pem:$(tok b alice $HOST)" $R "$tmp/r.pem"
