#!/usr/bin/env bash
# Browsers, measured on real parts: `livestage serve --dev --web`, native bots, and the demo page
# in Debian's headless Chromium (web/scripts/page.mjs). Every latency is glass to glass from the
# stamp read back out of the decoded pixels (the canvas's in the browser, the decoder's output in
# a bot), on one clock (loopback).
#   1. Native host -> server -> browser at 1280x720@30 (textured pattern + tone), beside a native
#      viewer in the same run; the page joins while the host is live: join and first frame.
#   2. Browser -> server -> native viewer: the page publishes its stamped 1280x720@30 pattern and a
#      tone, beside a native host publishing the same size; one native viewer decodes both.
#   3. The browser tab's CPU (Chromium's whole process tree, % of one core) watching one and four
#      720p30 hosts (on a 2-core machine the hosts' encoders share those cores).
# Usage: benches/web.sh  (env: SECS=10, LIVESTAGE_BIN=path to a built livestage)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
for tool in python3 node; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done
[ -f web/dist/index.html ] || npm --prefix web run build --silent
if [ -z "${LIVESTAGE_BIN:-}" ]; then cargo build --release --quiet; fi
B=${LIVESTAGE_BIN:-$PWD/${CARGO_TARGET_DIR:-target}/release/livestage}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export LIVESTAGE_SECRET=bench-secret-of-at-least-32-bytes-long
A=127.0.0.1:19481
W=127.0.0.1:19482
"$B" serve --dev --listen $A --cert-out "$tmp/a.pem" --web $W --web-root web/dist >"$tmp/serve.log" 2>&1 & pids+=($!)
sleep 1
HASH=$(sed -n 's/^certificate sha-256 //p' "$tmp/serve.log")
HOST=join,publish-audio,publish-video,publish-data
tok() { "$B" token --channel "$1" --user "$2" --grants "$3"; }
page_url() { echo "http://$W/?server=$A&hash=$HASH&token=$(tok "$1" "$2" "$3")&$4"; }
host() { # channel user secs [video]
  "$B" bot --server $A --cert "$tmp/a.pem" --token "$(tok "$1" "$2" $HOST)" --role host \
    --publish "video=${4:-textured:1280x720@30},audio=tone:440" --duration "$3" >/dev/null 2>&1 & pids+=($!)
}
viewer() { # channel user secs report
  "$B" bot --server $A --cert "$tmp/a.pem" --token "$(tok "$1" "$2" join)" --duration "$3" \
    --report "$4" >/dev/null 2>&1 & pids+=($!)
}
page() { # url secs out
  node web/scripts/page.mjs --url "$1" --seconds "$2" >"$3" 2>"$3.log"
}

# 1. Native host -> browser, beside a native viewer.
host one nat $((SECS + 8))
sleep 2
viewer one fan $((SECS + 2)) "$tmp/fan1.json"
page "$(page_url one browser join role=audience)" "$SECS" "$tmp/page1.json"
sleep 3
# 2. Browser -> native, beside a native host.
viewer two fan $((SECS + 4)) "$tmp/fan2.json"
host two nat $((SECS + 6)) testpattern:1280x720@30
page "$(page_url two browser $HOST 'role=host&publish=pattern&audio=tone:440')" $((SECS + 2)) "$tmp/page2.json"
sleep 5
# 3. The tab watching four hosts.
# Untextured: four textured encoders alone would fill both cores of the machine here.
for i in 1 2 3 4; do host four "nat$i" $((SECS + 8)) testpattern:1280x720@30; done
sleep 2
page "$(page_url four browser join role=audience)" "$SECS" "$tmp/page4.json"
sleep 2

python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
load = lambda n: json.load(open(f"{d}/{n}"))
p1, f1, p2, f2, p4 = load("page1.json"), load("fan1.json"), load("page2.json"), load("fan2.json"), load("page4.json")
r1, r4 = p1["reports"][0], p4["reports"][0]
def row(label, v):
    l = v.get("latency_ms", {})
    return f"| {label} | {v.get('frames', 0)} | {l.get('p50', 0):.1f} | {l.get('p95', 0):.1f} | {v.get('decode_errors', 0)} |"
print("| path, 1280x720@30 (same run as the row below it) | frames | p50 ms | p95 ms | decode errors |")
print("|---|---|---|---|---|")
print(row("native host -> server -> browser (canvas pixels)", r1["video"].get("nat", {})))
print(row("native host -> server -> native viewer", f1["video"].get("nat", {})))
print(row("browser -> server -> native viewer", f2["video"].get("browser", {})))
print(row("native host -> server -> native viewer", f2["video"].get("nat", {})))
print()
v = r1["video"].get("nat", {})
print(f"browser joining a live 720p30 host: joined in {r1.get('join_ms')} ms, first frame drawn {v.get('first_frame_ms')} ms after join started; "
      f"tone heard at {r1['audio'].get('nat', {}).get('tone_hz')} Hz; native viewer: first frame {f1['video'].get('nat', {}).get('first_frame_ms')} ms")
print()
print("| browser tab watching | Chromium CPU, % of one core | frames per stream | p50 ms |")
print("|---|---|---|---|")
print(f"| one 720p30 host | {p1['cpu_percent']} | {v.get('frames', 0)} | {v.get('latency_ms', {}).get('p50', 0):.1f} |")
four = [r4["video"].get(f"nat{i}", {}) for i in range(1, 5)]
frames = "/".join(str(x.get("frames", 0)) for x in four)
p50 = max(x.get("latency_ms", {}).get("p50", 0) for x in four)
print(f"| four 720p30 hosts | {p4['cpu_percent']} | {frames} | {p50:.1f} (worst) |")
PY
