#!/usr/bin/env bash
# CDN push, measured on one run of real parts: livestage serve --dev, N host bots, a push of a
# 1280x720@30 layout into nginx-rtmp, ffmpeg as the CDN's viewer.
#   1. Server CPU of one transcoded 720p30 push with 2, 4 and 9 hosts (each 640x360@30 test
#      pattern with a tone): the serve process's CPU time over WINDOW s with the push running,
#      minus the same window without it (forwarding only), as % of one core.
#   2. Glass to glass, stamp read from pixels: one host's 1280x720@30 stamped pattern fills the
#      canvas (no scaling, so the stamp survives composition) -> server decode, compose, encode
#      -> nginx -> ffmpeg decode -> `livestage stamps`; beside it, in the same run, a direct
#      Livestage viewer of the same host.
#   3. Time to recover: nginx killed and started again; from the restart until ffprobe sees the
#      stream again.
# 2 runs first, on a fresh server and nginx. Needs ffmpeg, nginx and libnginx-mod-rtmp.
# Usage: benches/push_cost.sh  (env: WINDOW=10)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-10}
MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
for tool in ffmpeg ffprobe nginx python3; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done
cargo build --release --quiet
B=$PWD/${CARGO_TARGET_DIR:-target}/release/livestage
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export LIVESTAGE_SECRET=bench-secret-of-at-least-32-bytes-long

start_nginx() {
  cat > "$tmp/nginx.conf" <<CONF
load_module $MODULE;
daemon off; master_process off; error_log $tmp/error.log; pid $tmp/nginx.pid;
events {}
rtmp { server { listen 127.0.0.1:19360; chunk_size 4096; application live { live on; } } }
CONF
  nginx -c "$tmp/nginx.conf" -p "$tmp" & NGINX=$!; pids+=($NGINX)
  sleep 0.5
}
# CPU seconds (user + system) of process $1 so far.
cpu() { python3 -c "import os,sys; f=open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))" "$1"; }
tok() { "$B" token --channel bench --user "$1" --grants "$2"; }
# A grid layout of N hosts h0..h(N-1) on a 1280x720 canvas.
grid() {
  python3 - "$1" > "$tmp/grid$1.json" <<'PY'
import json, math, sys
n = int(sys.argv[1]); cols = math.ceil(math.sqrt(n)); rows = math.ceil(n / cols)
w, h = 1280 // cols // 2 * 2, 720 // rows // 2 * 2
users = [{"user": f"h{i}", "x": (i % cols) * w, "y": (i // cols) * h, "width": w, "height": h} for i in range(n)]
print(json.dumps({"width": 1280, "height": 720, "fps": 30, "bitrate_kbps": 2500, "gop": 60, "users": users}))
PY
}

start_nginx
"$B" serve --dev --listen 127.0.0.1:19361 --cert-out "$tmp/cert.pem" >/dev/null 2>&1 & SERVE=$!; pids+=($SERVE)
sleep 1
echo "== glass to glass: host 1280x720@30 -> push -> nginx -> ffmpeg, and a direct viewer, same run"
cat > "$tmp/full.json" <<JSON
{"width": 1280, "height": 720, "fps": 30, "bitrate_kbps": 2500, "gop": 30,
 "users": [{"user": "g2g", "x": 0, "y": 0, "width": 1280, "height": 720}]}
JSON
DUR=20
"$B" bot --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok viewer join)" \
  --duration $((DUR + 6)) --report "$tmp/direct.json" >/dev/null 2>&1 & viewer=$!; pids+=($viewer)
"$B" bot --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok g2g join,publish-audio,publish-video)" \
  --role host --publish video=testpattern:1280x720@30,audio=tone:440 --duration $((DUR + 6)) >/dev/null 2>&1 & pids+=($!)
"$B" push --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok mod join,moderator)" \
  --name g2g --url rtmp://127.0.0.1:19360/live/g2g --layout "$tmp/full.json" --duration $((DUR + 4)) >/dev/null 2>&1 & pids+=($!)
# Until the push is on nginx (the push joins and waits for a keyframe first).
for _ in $(seq 50); do
  ffprobe -v error -rw_timeout 2000000 -show_streams rtmp://127.0.0.1:19360/live/g2g >/dev/null 2>&1 && break
  sleep 0.2
done
timeout -s KILL "$DUR" ffmpeg -loglevel error -fflags nobuffer -flags low_delay -probesize 100000 \
    -analyzeduration 300000 -threads 1 -i rtmp://127.0.0.1:19360/live/g2g -an \
    -f rawvideo -pix_fmt yuv420p - \
  | "$B" stamps --size 1280x720 --report "$tmp/rtmp.json" >/dev/null || true
wait "$viewer" || true
python3 - "$tmp/rtmp.json" "$tmp/direct.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); o = json.load(open(sys.argv[2]))["video"]["g2g"]
rl, ol = r["latency_ms"], o["latency_ms"]
print("| path | frames | p50 ms | p95 ms |")
print("|---|---|---|---|")
print(f"| host -> server push (decode, compose, encode) -> nginx-rtmp -> ffmpeg | {r['frames']} | {rl['p50']:.0f} | {rl['p95']:.0f} |")
print(f"| host -> server -> Livestage viewer (direct) | {o['frames']} | {ol['p50']:.0f} | {ol['p95']:.0f} |")
PY

echo
echo "| hosts | server CPU forwarding only | with the push | push alone |"
echo "|---|---|---|---|"
for n in 2 4 9; do
  hosts=()
  for i in $(seq 0 $((n - 1))); do
    "$B" bot --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok h$i join,publish-audio,publish-video)" \
      --role host --publish video=testpattern:640x360@30,audio=tone:$((300 + 50 * i)) --duration $((3 * WINDOW + 20)) >/dev/null 2>&1 &
    hosts+=($!); pids+=($!)
  done
  sleep 4
  a=$(cpu $SERVE); sleep "$WINDOW"; b=$(cpu $SERVE)
  grid "$n"
  "$B" push --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok mod join,moderator)" \
    --name grid$n --url rtmp://127.0.0.1:19360/live/grid$n --layout "$tmp/grid$n.json" --duration $((WINDOW + 8)) --report "$tmp/push$n.json" >/dev/null 2>&1 &
  push=$!; pids+=($push)
  sleep 5
  c=$(cpu $SERVE); sleep "$WINDOW"; d=$(cpu $SERVE)
  wait "$push" || true
  for h in "${hosts[@]}"; do kill "$h" 2>/dev/null || true; done
  python3 -c "import sys; a,b,c,d,w=map(float,sys.argv[1:6]); f=(b-a)/w*100; p=(d-c)/w*100; print(f'| {int(sys.argv[6])} | {f:.0f}% | {p:.0f}% | {p-f:.0f}% |')" "$a" "$b" "$c" "$d" "$WINDOW" "$n"
  sleep 2
done

echo
echo "== recovery after the RTMP server restarts"
"$B" bot --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok h0 join,publish-audio,publish-video)" \
  --role host --publish video=testpattern:640x360@30,audio=tone:440 --duration 40 >/dev/null 2>&1 & pids+=($!)
grid 1
"$B" push --server 127.0.0.1:19361 --cert "$tmp/cert.pem" --token "$(tok mod join,moderator)" \
  --name recover --url rtmp://127.0.0.1:19360/live/r --layout "$tmp/grid1.json" --duration 35 --report "$tmp/recover.json" >/dev/null 2>&1 & pids+=($!)
sleep 6
kill "$NGINX"; wait "$NGINX" 2>/dev/null || true
sleep 2
t0=$(date +%s.%N)
start_nginx
until ffprobe -v error -rw_timeout 2000000 -show_streams rtmp://127.0.0.1:19360/live/r >/dev/null 2>&1; do sleep 0.2; done
t1=$(date +%s.%N)
python3 -c "import sys; print(f'streaming again {float(sys.argv[2]) - float(sys.argv[1]):.1f} s after nginx restarted (ffprobe saw the stream)')" "$t0" "$t1"
