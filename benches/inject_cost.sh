#!/usr/bin/env bash
# Injects, measured on real parts: livestage serve --dev, nginx-rtmp, ffmpeg, one audience bot.
#   1. Server CPU of one 1280x720@30 inject, as % of one core: the serve process's CPU time
#      over WINDOW s with the inject running and one viewer receiving it, minus the same window
#      with nothing injected. Four sources: a file without B-frames (forwarded), a file with
#      B-frames (decoded and encoded again), and the same two as live RTMP streams.
#   2. Glass to glass through an inject, stamp read from pixels: `livestage pattern` (stamped
#      1280x720@30) -> ffmpeg x264 (ultrafast, zerolatency, no B-frames) -> nginx-rtmp ->
#      inject (forwarded) -> SFU -> Livestage viewer (decode, read stamp); beside it, in the same
#      run, ffmpeg playing the same RTMP stream straight from nginx -> `livestage stamps`.
# Needs ffmpeg, nginx and libnginx-mod-rtmp. Usage: benches/inject_cost.sh  (env: WINDOW=10)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-10}
MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
for tool in ffmpeg nginx python3; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done
cargo build --release --quiet
B=$PWD/${CARGO_TARGET_DIR:-target}/release/livestage
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export LIVESTAGE_SECRET=bench-secret-of-at-least-32-bytes-long
RTMP=rtmp://127.0.0.1:19370/live

cat > "$tmp/nginx.conf" <<CONF
load_module $MODULE;
daemon off; master_process off; error_log $tmp/error.log; pid $tmp/nginx.pid;
events {}
rtmp { server { listen 127.0.0.1:19370; chunk_size 4096; application live { live on; } } }
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
"$B" serve --dev --listen 127.0.0.1:19371 --cert-out "$tmp/cert.pem" \
  --allow "$tmp" --allow rtmp://127.0.0.1 >/dev/null 2>&1 & SERVE=$!; pids+=($SERVE)
sleep 1
# CPU seconds (user + system) of process $1 so far.
cpu() { python3 -c "import os,sys; f=open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))" "$1"; }
tok() { "$B" token --channel bench --user "$1" --grants "$2"; }
MOD=$(tok mod join,moderator)
SECS=$((WINDOW + 8))
x264() { echo "-c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -b:v 2500k -bf $1"; }
# shellcheck disable=SC2046
ffmpeg -v error -f lavfi -i testsrc2=size=1280x720:rate=30 -t 12 $(x264 0) "$tmp/fwd.mp4"
# shellcheck disable=SC2046
ffmpeg -v error -f lavfi -i testsrc2=size=1280x720:rate=30 -t 12 $(x264 2) "$tmp/bf.mp4"

echo "| source | path | server CPU, inject and one viewer | idle |"
echo "|---|---|---|---|"
measure() { # name path source
  "$B" bot --server 127.0.0.1:19371 --cert "$tmp/cert.pem" --token "$(tok viewer join)" \
    --duration $((SECS + 2)) >/dev/null 2>&1 & pids+=($!)
  sleep 2
  a=$(cpu $SERVE); sleep "$WINDOW"; b=$(cpu $SERVE)
  "$B" inject --server 127.0.0.1:19371 --cert "$tmp/cert.pem" --token "$MOD" --source "$3" --loop \
    --name bench --duration "$SECS" >/dev/null 2>&1 & inj=$!; pids+=($inj)
  sleep 5
  c=$(cpu $SERVE); sleep "$WINDOW"; d=$(cpu $SERVE)
  wait "$inj" || true
  python3 -c "import sys; a,b,c,d,w=map(float,sys.argv[1:6]); print(f'| {sys.argv[6]} | {sys.argv[7]} | {(d-c)/w*100:.1f}% | {(b-a)/w*100:.1f}% |')" \
    "$a" "$b" "$c" "$d" "$WINDOW" "$1" "$2"
  sleep 2
}
measure "file, High, no B-frames" "forwarded" "$tmp/fwd.mp4"
measure "file, High, 2 B-frames" "decoded, re-encoded" "$tmp/bf.mp4"
for bf in 0 2; do
  # shellcheck disable=SC2046
  ffmpeg -v error -re -stream_loop -1 -i "$tmp/fwd.mp4" -t $((4 * SECS + 30)) $(x264 $bf) -f flv "$RTMP/bf$bf" & pids+=($!)
done
sleep 2
measure "RTMP, no B-frames" "forwarded" "$RTMP/bf0"
measure "RTMP, 2 B-frames" "decoded, re-encoded" "$RTMP/bf2"

echo
echo "== glass to glass: pattern -> x264 -> nginx -> inject (forwarded) -> SFU -> viewer, and ffmpeg from nginx, same run"
DUR=20
"$B" pattern --size 1280x720 --fps 30 --duration $((DUR + 10)) \
  | ffmpeg -loglevel error -f rawvideo -pix_fmt yuv420p -s 1280x720 -r 30 -i - \
      -c:v libx264 -preset ultrafast -tune zerolatency -b:v 1500k -g 60 -bf 0 -f flv "$RTMP/g2g" & pids+=($!)
sleep 2
"$B" bot --server 127.0.0.1:19371 --cert "$tmp/cert.pem" --token "$(tok viewer join)" \
  --duration $((DUR + 2)) --report "$tmp/viewer.json" >/dev/null 2>&1 & viewer=$!; pids+=($viewer)
"$B" inject --server 127.0.0.1:19371 --cert "$tmp/cert.pem" --token "$MOD" --source "$RTMP/g2g" \
  --name g2g --duration $((DUR + 2)) >/dev/null 2>&1 & pids+=($!)
timeout -s KILL "$DUR" ffmpeg -loglevel error -fflags nobuffer -flags low_delay -probesize 100000 \
    -analyzeduration 300000 -threads 1 -i "$RTMP/g2g" -an -f rawvideo -pix_fmt yuv420p - \
  | "$B" stamps --size 1280x720 --report "$tmp/rtmp.json" >/dev/null || true
wait "$viewer" || true
python3 - "$tmp/viewer.json" "$tmp/rtmp.json" <<'PY'
import json, sys
video = json.load(open(sys.argv[1]))["video"]
v = next(x for k, x in video.items() if k.startswith("inject-g2g/"))
r = json.load(open(sys.argv[2]))
print("| path | frames | p50 ms | p95 ms |")
print("|---|---|---|---|")
print(f"| pattern -> x264 -> nginx -> inject -> SFU -> Livestage viewer | {v['frames']} | {v['latency_ms']['p50']:.0f} | {v['latency_ms']['p95']:.0f} |")
print(f"| pattern -> x264 -> nginx -> ffmpeg (same stream, no inject) | {r['frames']} | {r['latency_ms']['p50']:.0f} | {r['latency_ms']['p95']:.0f} |")
PY
