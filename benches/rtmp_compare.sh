#!/usr/bin/env bash
# Glass-to-glass latency side by side in one run, on the same stamped frames and the same clock:
#   RTMP:      livestage pattern | ffmpeg (x264 ultrafast, zerolatency) -> nginx-rtmp -> ffmpeg | livestage stamps
#   Livestage: bot (openh264) -> QUIC SFU (livestage serve) -> bot (decode, read stamp)
# Needs ffmpeg, nginx and libnginx-mod-rtmp (`./dev bench` installs them).
# Usage: benches/rtmp_compare.sh   (env: DUR=15 SIZE=1280x720 FPS=30 KIND=textured|testpattern)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-15}; SIZE=${SIZE:-1280x720}; FPS=${FPS:-30}; KIND=${KIND:-textured}
MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
for tool in ffmpeg nginx python3; do command -v "$tool" >/dev/null || { echo "missing $tool (run ./dev bench)" >&2; exit 2; }; done
[ -f "$MODULE" ] || { echo "missing $MODULE (apt-get install libnginx-mod-rtmp)" >&2; exit 2; }
cargo build --release --quiet
B=$PWD/${CARGO_TARGET_DIR:-target}/release/livestage
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
textured=""; [ "$KIND" = textured ] && textured="--textured"

echo "== RTMP: ffmpeg x264 -> nginx-rtmp -> ffmpeg ($SIZE@$FPS, $KIND, ${DUR}s)"
cat > "$tmp/nginx.conf" <<EOF
load_module $MODULE;
daemon off; master_process off; error_log $tmp/error.log; pid $tmp/nginx.pid;
events {}
rtmp { server { listen 127.0.0.1:19350; chunk_size 4096; application live { live on; } } }
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
sleep 1
"$B" pattern --size "$SIZE" --fps "$FPS" --duration "$DUR" $textured \
  | ffmpeg -loglevel error -f rawvideo -pix_fmt yuv420p -s "$SIZE" -r "$FPS" -i - \
      -c:v libx264 -preset ultrafast -tune zerolatency -b:v 1500k -g 60 -f flv rtmp://127.0.0.1:19350/live/s &
pids+=($!)
sleep 1
# A small probe: the default 5 MB would hold the first frames back for many seconds.
timeout -s KILL $((DUR + 5)) ffmpeg -loglevel error -fflags nobuffer -flags low_delay -probesize 100000 \
    -analyzeduration 300000 -threads 1 -i rtmp://127.0.0.1:19350/live/s \
    -f rawvideo -pix_fmt yuv420p - \
  | "$B" stamps --size "$SIZE" --report "$tmp/rtmp.json" >/dev/null || true

echo "== Livestage: openh264 -> QUIC SFU -> decode ($SIZE@$FPS, $KIND, ${DUR}s)"
LIVESTAGE_SECRET=bench-secret-of-at-least-32-bytes-long "$B" serve --dev --listen 127.0.0.1:19351 --cert-out "$tmp/cert.pem" >/dev/null 2>&1 & pids+=($!)
sleep 1
tok() { "$B" token --secret bench-secret-of-at-least-32-bytes-long --channel bench --user "$1" --grants "$2"; }
"$B" bot --server 127.0.0.1:19351 --cert "$tmp/cert.pem" --token "$(tok viewer join)" \
  --duration $((DUR + 4)) --report "$tmp/ours.json" >/dev/null 2>&1 & viewer=$!
sleep 1
"$B" bot --server 127.0.0.1:19351 --cert "$tmp/cert.pem" --token "$(tok host join,publish-video)" \
  --role host --publish "video=$KIND:${SIZE}@${FPS}" --duration "$DUR" >/dev/null 2>&1
wait "$viewer" || true

python3 - "$tmp/rtmp.json" "$tmp/ours.json" <<'EOF'
import json, sys
rtmp = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))["video"]["host"]
r, o = rtmp["latency_ms"], ours["latency_ms"]
print(f"| pipeline | frames | p50 ms | p95 ms | max ms |")
print(f"|---|---|---|---|---|")
print(f"| ffmpeg x264 -> nginx-rtmp -> ffmpeg | {rtmp['frames']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} |")
print(f"| livestage openh264 -> QUIC SFU -> decode | {ours['frames']} | {o['p50']:.1f} | {o['p95']:.1f} | {o['max']:.1f} |")
print(f"ratio livestage / rtmp: p50 {o['p50'] / r['p50']:.2f}, p95 {o['p95'] / r['p95']:.2f}")
EOF
