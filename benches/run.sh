#!/usr/bin/env bash
# benches/run.sh — p2p's end-to-end benchmarks, with their baselines, in one run.
#
#   benches/run.sh              # ~6 min on 2 cores (+ the build); table on stdout, progress on stderr
#   benches/run.sh --micro      # also the criterion micro-benchmarks (codec, verify), --quick: +1 min
#
# Installs what it needs (Debian: iperf3, nginx-light, curl, openssl, time), builds the
# release binaries, makes its data in a temp dir (~3.2 GiB; removed at the end), and
# prints ONE markdown table: medians, ratios, the targets and whether each is met.
# Everything runs on loopback addresses (127.0.0.0/8), or, for cases 7 and 8 (as root),
# in network namespaces it makes and deletes; every process it starts is stopped when it
# ends, however it ends.
#
# Knobs (environment): BENCH_RUNS (runs per transfer, default 5), BENCH_BIG_MIB (1024),
# BENCH_COLD_FILES (1000) and BENCH_COLD_MIB (2048), BENCH_WARM_FILES (10000),
# BENCH_PEERS (100), BENCH_SEARCHES (100), BENCH_CLIENTS (200), BENCH_READ_MIB (16),
# BENCH_LINK_RUNS (3: rounds over the shaped links of cases 7 and 8),
# BENCH_BUDGET_S (840: the watchdog), TMPDIR (where the temp dir goes), BENCH_RESULTS
# (a file to keep the raw samples in).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
BIG_MIB=${BENCH_BIG_MIB:-1024}
COLD_FILES=${BENCH_COLD_FILES:-1000}
COLD_MIB=${BENCH_COLD_MIB:-2048}
WARM_FILES=${BENCH_WARM_FILES:-10000}
NPEERS=${BENCH_PEERS:-100}
SEARCHES=${BENCH_SEARCHES:-100}
CLIENTS=${BENCH_CLIENTS:-200}
READ_MIB=${BENCH_READ_MIB:-16}
LINK_RUNS=${BENCH_LINK_RUNS:-3}
BUDGET_S=${BENCH_BUDGET_S:-840}
MICRO=0
for arg in "$@"; do
  case $arg in
    --micro) MICRO=1 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

STARTED=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - STARTED)) "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes, cleanup
PIDS=()
NETNS=() # network namespaces this run made (cases 7 and 8), deleted by cleanup
T=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid alive _
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  local ns
  for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "$T" ] && [ -d "$T" ]; then rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated (over the ${BUDGET_S}s budget?)"; exit 143' TERM

# start NAME CMD...: runs CMD in the background, stdout/stderr to $T/NAME.out/.err;
# its pid is in PID_NAME and in PIDS (so cleanup stops it).
start() {
  local name=$1
  shift
  "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  printf -v "PID_$name" '%s' $!
}
# stop PID: TERM, a bounded wait, then KILL.
stop() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
# wait_line FILE REGEX SECONDS [PID]: until FILE has a line matching REGEX.
wait_line() {
  local file=$1 re=$2 limit=$((SECONDS + $3)) pid=${4:-}
  while ((SECONDS < limit)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      grep -qE "$re" "$file" 2>/dev/null && return 0
      return 1
    fi
    sleep 0.05
  done
  return 1
}

now_ns() { date +%s%N; }
# rec KEY VALUE...: one sample of a measurement, for report.py.
rec() { echo "$*" >>"$T/results.txt"; }
# json FILE EXPR: a Python expression over the JSON object `j` read from FILE.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vmhwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- tools
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v tc >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get)"
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---------------------------------------------------------------- build
say "building release binaries (cargo build --release --bin p2p --examples)"
(cd "$ROOT" && cargo build --release --quiet --bin p2p --examples) || die "build failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
P2P=$TARGET_DIR/release/p2p
EX=$TARGET_DIR/release/examples
for b in "$P2P" "$EX/sha256_file" "$EX/many_peers" "$EX/read_load"; do
  [ -x "$b" ] || die "missing $b"
done

# Started after the build: the budget is for the measurements.
T=$(mktemp -d "${TMPDIR:-/tmp}/p2p-bench.XXXXXX")
: >"$T/results.txt"
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$BUDGET_S" &
  sp=$!
  wait "$sp"
  echo "run.sh: the ${BUDGET_S}s budget is over; stopping" >&2
  kill -TERM $$
) &
PIDS+=($!)

avail_kib=$(df -Pk "$T" | awk 'NR==2 {print $4}')
need_kib=$(((BIG_MIB * 3 + COLD_MIB + 512) * 1024))
((avail_kib > need_kib)) || die "need $((need_kib / 1048576)) GiB free in $T"

# ---------------------------------------------------------------- environment
rec env_date "$(date -u '+%Y-%m-%d %H:%M UTC')"
rec env_nproc "$(nproc)"
rec env_cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
rec env_kernel "$(uname -r)"
rec env_commit "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty src')"
rec env_big_mib "$BIG_MIB"
rec env_runs "$RUNS"
rec env_load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
# Busy CPU time of the whole machine (jiffies), to tell apart below what this run used.
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
BUSY_START=$(machine_busy)
# Steal time: what the hypervisor gave to others while this VM wanted to run.
machine_steal() { awk '/^cpu / {print $9}' /proc/stat; }
STEAL_START=$(machine_steal)
times >"$T/times0.txt" # in this shell, not a subshell: CPU time of its reaped children
children_s() { sed -n 2p "$1" | python3 -c '
import re, sys
print(sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", sys.stdin.read())))'; }
rec env_clients "$CLIENTS"
rec env_read_mib "$READ_MIB"

# ---------------------------------------------------------------- data
say "making data in $T"
D=$T/data
mkdir -p "$D"/{p1,p2,p3,p4,web,seed,cold,warm,read,search} "$T/dl"
BIG=$D/p1/big.bin
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
python3 - "$BIG" "$BIG_MIB" "$D/read/read.bin" "$READ_MIB" "$D/cold" "$COLD_FILES" "$COLD_MIB" "$D/warm" "$WARM_FILES" "$D/search" <<'EOF'
import os, sys
big, big_mib, rd, rd_mib, cold, cold_n, cold_mib, warm, warm_n, search = sys.argv[1:]
MIB = 1 << 20
def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n
random_file(big, int(big_mib) * MIB)
random_file(rd, int(rd_mib) * MIB)
cold_n, each = int(cold_n), int(cold_mib) * MIB // int(cold_n)
for i in range(cold_n):
    sub = os.path.join(cold, "d%02d" % (i % 20))
    os.makedirs(sub, exist_ok=True)
    random_file(os.path.join(sub, "f%05d.bin" % i), each)
for i in range(int(warm_n)):
    sub = os.path.join(warm, "d%03d" % (i % 100))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "n%05d.txt" % i), "wb") as f:
        f.write(os.urandom(512 + (i * 37) % 3584))
for name in ["somefile.txt", "somefile-notes.md", "other.bin", "photo.jpg", "readme.txt"]:
    with open(os.path.join(search, name), "wb") as f:
        f.write(os.urandom(4096))
EOF
ln "$BIG" "$D/p2/big.bin"
ln "$BIG" "$D/p3/big.bin"
ln "$BIG" "$D/p4/big.bin"
ln "$BIG" "$D/web/big.bin"
ln "$BIG" "$D/seed/big.bin"
HASH=$(openssl dgst -sha256 -r "$BIG" | cut -d' ' -f1)
READ_HASH=$(openssl dgst -sha256 -r "$D/read/read.bin" | cut -d' ' -f1)
say "flushing the new data to disk (sync), so that write-back does not run during the measurements"
sync

# ---------------------------------------------------------------- baselines
say "baseline: iperf3 on loopback"
IPERF_PORT=$(free_port)
start iperf iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
sleep 0.5
if timeout 30 iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t 4 -J >"$T/iperf.json" 2>/dev/null; then
  rec iperf_mbps "$(json "$T/iperf.json" 'j["end"]["sum_received"]["bits_per_second"]/8e6')"
else
  rec iperf_error "iperf3 client failed"
fi
stop "$PID_iperf"

say "baseline: SHA-256 of the ${BIG_MIB} MiB file from the page cache"
cat "$BIG" >/dev/null
for _ in 1 2 3; do
  out=$(timeout 60 "$EX/sha256_file" "$BIG")
  [ "$(sed 's/^sha256=\([0-9a-f]*\).*/\1/' <<<"$out")" = "$HASH" ] || die "sha256_file disagrees with openssl"
  rec sha2_mbps "$(sed 's/.*mb_per_s=//' <<<"$out")"
done
for _ in 1 2 3; do
  t0=$(now_ns)
  timeout 60 openssl dgst -sha256 "$BIG" >/dev/null
  t1=$(now_ns)
  rec openssl_mbps "$(((BIG_BYTES * 1000) / (t1 - t0)))"
done

say "baseline: dd bs=4M of ${BIG_MIB} MiB (with and without conv=fsync)"
for _ in 1 2 3; do
  t0=$(now_ns)
  timeout 120 dd if=/dev/zero of="$T/dl/dd.bin" bs=4M count=$((BIG_MIB / 4)) conv=fsync status=none
  t1=$(now_ns)
  rec dd_fsync_mbps "$(((BIG_BYTES * 1000) / (t1 - t0)))"
  rm -f "$T/dl/dd.bin"
  t0=$(now_ns)
  timeout 120 dd if=/dev/zero of="$T/dl/dd.bin" bs=4M count=$((BIG_MIB / 4)) status=none
  t1=$(now_ns)
  rec dd_cache_mbps "$(((BIG_BYTES * 1000) / (t1 - t0)))"
  rm -f "$T/dl/dd.bin"
done

# ---------------------------------------------------------------- servers for the transfers
# nginx, the seed's server and four p2p peers all serve the same file (hard links) at
# once; then each round runs every transfer once, so that baselines and cases see the
# same machine (anything else running on it slows them alike). Peers 1-3 speak P2P/2
# (TLS 1.3), as every peer does by default; peer 4 has `[server] p2p2 = false`, so it
# answers P2P/1 only, in the clear, and the client falls back to that: the baseline for
# what encryption costs (DESIGN §7: P2P/2 ≥ 0.8× P2P/1, same download, same run).
say "starting nginx, the seed's Python server and four p2p peers, the 4th P2P/1 only (each peer hashes the file at start)"
NGINX_PORT=$(free_port)
mkdir -p "$T/nginx/tmp"
{
  [ "$(id -u)" = 0 ] && echo "user $(id -un) $(id -gn);"
  cat <<EOF
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 256; }
http {
  access_log $T/nginx/access.log;
  client_body_temp_path $T/nginx/tmp/body;
  proxy_temp_path $T/nginx/tmp/proxy;
  fastcgi_temp_path $T/nginx/tmp/fastcgi;
  uwsgi_temp_path $T/nginx/tmp/uwsgi;
  scgi_temp_path $T/nginx/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $D/web;
  }
}
EOF
} >"$T/nginx/nginx.conf"
start nginx "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" -g 'daemon off;'
start seed python3 "$ROOT/tests/seed/seed_server.py" --dir "$D/seed" --host 127.0.0.20 --port 0 --quiet
for i in 1 2 3 4; do
  mkdir -p "$T/peer$i/state" "$T/peer$i/dl"
  {
    cat <<EOF
[node]
name = "peer$i"
listen = "127.0.0.$((i == 4 ? 7 : i + 1)):0"
state_dir = "$T/peer$i/state"
[share]
dirs = ["$D/p$i"]
[download]
dir = "$T/peer$i/dl"
share = false
EOF
    if [ "$i" = 4 ]; then printf '[server]\np2p2 = false\n'; fi
  } >"$T/peer$i/p2p.conf"
  start "peer$i" "$P2P" serve --config "$T/peer$i/p2p.conf"
done

URL=http://127.0.0.1:$NGINX_PORT/big.bin
for _ in $(seq 100); do
  curl -sfI "$URL" >/dev/null 2>&1 && break
  kill -0 "$PID_nginx" 2>/dev/null || die "nginx did not start: $(cat "$T/nginx.err" "$T/nginx/error.log" 2>/dev/null)"
  sleep 0.1
done
curl -sfI "$URL" >/dev/null || die "nginx does not answer on $URL"
wait_line "$T/seed.out" '^listening on ' 20 "$PID_seed" || die "seed server did not start: $(cat "$T/seed.err")"
SEED_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$T/seed.out" | head -1)
ADDRS=()
for i in 1 2 3 4; do
  pid_var=PID_peer$i
  wait_line "$T/peer$i.out" '^listening on ' 120 "${!pid_var}" || die "peer$i did not start: $(cat "$T/peer$i.err")"
  ADDRS+=("$(sed -n 's/^listening on //p' "$T/peer$i.out" | head -1)")
done
# The client knows peers 1-3 (case 2 downloads from all it knows); peer 4 only by --from.
PLAIN_ADDR=${ADDRS[3]}
# client_conf DIR NAME LISTEN PEER...: a downloading client's p2p.conf in DIR (it
# shares nothing, not even what it downloads, so nobody asks it for anything).
client_conf() {
  local dir=$1 name=$2 listen=$3
  shift 3
  mkdir -p "$dir/state" "$dir/dl"
  cat >"$dir/p2p.conf" <<EOF
[node]
name = "$name"
listen = "$listen"
state_dir = "$dir/state"
[peers]
addrs = [$(printf '"%s", ' "$@" | sed 's/, $//')]
[download]
dir = "$dir/dl"
share = false
EOF
}
client_conf "$T/client" bench-client 127.0.0.9:0 "${ADDRS[0]}" "${ADDRS[1]}" "${ADDRS[2]}"

cat >"$T/seed_get.py" <<'EOF'
# A seed client as the seed design has it: ask a name, then download:<hash> to EOF,
# reading RECV bytes at a time (tests/seed/seed_client.py reads 4096).
import socket, sys, time
host, port, name, out, bufsize = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def talk(message, sink):
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(message.encode())
        while True:
            data = s.recv(bufsize)
            if not data:
                return
            sink(data)
t0 = time.perf_counter()
answer = bytearray()
talk(name, answer.extend)
t1 = time.perf_counter()
size = 0
with open(out, "wb") as f:
    def write(data):
        global size
        f.write(data)
        size += len(data)
    talk("download:" + answer.decode(), write)
t2 = time.perf_counter()
print(answer.decode(), size, int((t1 - t0) * 1e9), int((t2 - t1) * 1e9))
EOF

# curl_get KEY CMD...: one timed nginx transfer into $T/dl/curl.bin.
curl_get() {
  local key=$1 t0 t1
  shift
  t0=$(now_ns)
  "$@"
  t1=$(now_ns)
  [ "$(stat -c %s "$T/dl/curl.bin")" = "$BIG_BYTES" ] || die "$key: short file"
  rec "$key" "$(((BIG_BYTES * 1000) / (t1 - t0)))"
  rm -f "$T/dl/curl.bin"
}
curl_plain() {
  timeout 120 /usr/bin/time -f '%U %S' -o "$T/curl_cpu.txt" curl -sSf -o "$T/dl/curl.bin" "$URL"
  rec curl_cpu_s "$(awk '{print $1 + $2}' "$T/curl_cpu.txt")"
}
# The same, made durable as p2p makes its downloads (fsync before the final name).
curl_durable() { timeout 120 curl -sSf -o "$T/dl/curl.bin" "$URL" && timeout 120 sync "$T/dl/curl.bin"; }
# The same transfer, saved and verified in one pass.
curl_verified() {
  local got
  got=$(timeout 120 curl -sSf "$URL" | tee "$T/dl/curl.bin" | openssl dgst -sha256 -r | cut -d' ' -f1)
  [ "$got" = "$HASH" ] || die "curl | openssl: hash mismatch"
}
# seed_get KEY RECV: one seed download, timed from `download:<hash>` to EOF.
seed_get() {
  local h size query_ns get_ns
  read -r h size query_ns get_ns < <(timeout 120 python3 "$T/seed_get.py" 127.0.0.20 "$SEED_PORT" big.bin "$T/dl/seed.bin" "$2") ||
    die "seed client failed"
  [ "$h" = "$HASH" ] && [ "$size" = "$BIG_BYTES" ] || die "seed download: $h $size"
  rec seed_query_ms "$((query_ns / 1000000))"
  rec "$1" "$(((BIG_BYTES * 1000) / get_ns))"
  rm -f "$T/dl/seed.bin"
}
# CPU time (ticks) the serving p2p peers have used so far (the idle ones add next to nothing).
peers_cpu_ticks() {
  local pid
  for pid in "${SERVING[@]}"; do cat "/proc/$pid/stat"; done | awk '{t += $14 + $15} END {print t}'
}
# The client p2p_get runs: its config, the command it runs in (a network namespace for
# the shaped links), and the peers whose CPU counts as the serving side's.
CLIENT_CONF=""
CLIENT_IN=()
SERVING=()
# p2p_get CASE ARGS...: one timed, verified `get`; records wall MB/s, reported MB/s, RSS.
p2p_get() {
  local case=$1
  shift
  local t0 t1 path rss user sys cpu0
  cpu0=$(peers_cpu_ticks)
  t0=$(now_ns)
  if ! timeout 300 "${CLIENT_IN[@]}" /usr/bin/time -f '%M %U %S' -o "$T/rss.txt" \
    "$P2P" --config "$CLIENT_CONF" --json get "$HASH" "$@" >"$T/get.json" 2>"$T/get.err"; then
    rec "${case}_error" "$(tail -1 "$T/get.err")"
    return 0
  fi
  t1=$(now_ns)
  [ "$(json "$T/get.json" 'j["sha256"]')" = "$HASH" ] || die "get: wrong hash"
  [ "$(json "$T/get.json" 'j["size"]')" = "$BIG_BYTES" ] || die "get: wrong size"
  # fetched > size: chunks asked of a second source near the end (endgame) count twice.
  [ "$(json "$T/get.json" 'int(j["fetched"] >= j["size"])')" = 1 ] || die "get: fetched less than the file (already there?)"
  path=$(json "$T/get.json" 'j["path"]')
  [ "$(stat -c %s "$path")" = "$BIG_BYTES" ] || die "get: $path has the wrong size"
  rec "${case}_mbps" "$(((BIG_BYTES * 1000) / (t1 - t0)))"
  rec "${case}_reported_mbps" "$(json "$T/get.json" 'j["mb_per_s"]')"
  rec "${case}_elapsed_ms" "$(json "$T/get.json" 'j["elapsed_ms"]')"
  rec "${case}_sources" "$(json "$T/get.json" 'len(j["served"])')"
  rec "${case}_served_pct" "$(json "$T/get.json" '"/".join(str(round(100*v/j["size"])) for v in j["served"].values())')"
  rec "${case}_fetched_pct" "$(json "$T/get.json" 'round(100*j["fetched"]/j["size"], 1)')"
  read -r rss user sys <"$T/rss.txt"
  rec "${case}_client_rss_kib" "$rss"
  rec "${case}_client_user_s" "$user"
  rec "${case}_client_sys_s" "$sys"
  rec "${case}_servers_cpu_s" "$(python3 -c 'import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]))' \
    "$cpu0" "$(peers_cpu_ticks)" "$(getconf CLK_TCK)")"
  rm -f "$path"
}

CLIENT_CONF=$T/client/p2p.conf
SERVING=("$PID_peer1" "$PID_peer2" "$PID_peer3" "$PID_peer4")
# Once each, outside the timed runs: every way lands exactly the file's bytes.
timeout 120 curl -sSf -o "$T/dl/curl.bin" "$URL"
[ "$(openssl dgst -sha256 -r "$T/dl/curl.bin" | cut -d' ' -f1)" = "$HASH" ] || die "curl got other bytes"
rm -f "$T/dl/curl.bin"
timeout 120 python3 "$T/seed_get.py" 127.0.0.20 "$SEED_PORT" big.bin "$T/dl/seed.bin" 4096 >/dev/null || die "seed client failed"
[ "$(openssl dgst -sha256 -r "$T/dl/seed.bin" | cut -d' ' -f1)" = "$HASH" ] || die "the seed client got other bytes"
rm -f "$T/dl/seed.bin"
timeout 300 "$P2P" --config "$T/client/p2p.conf" --json get "$HASH" --from "${ADDRS[0]}" >"$T/get.json" 2>"$T/get.err" ||
  die "p2p get failed: $(cat "$T/get.err")"
path=$(json "$T/get.json" 'j["path"]')
[ "$(openssl dgst -sha256 -r "$path" | cut -d' ' -f1)" = "$HASH" ] || die "p2p get landed other bytes"
rm -f "$path"
timeout 300 "$P2P" --config "$T/client/p2p.conf" --json get "$HASH" --from "$PLAIN_ADDR" >"$T/get.json" 2>"$T/get.err" ||
  die "p2p get from the P2P/1 peer failed: $(cat "$T/get.err")"
path=$(json "$T/get.json" 'j["path"]')
[ "$(openssl dgst -sha256 -r "$path" | cut -d' ' -f1)" = "$HASH" ] || die "p2p get (P2P/1) landed other bytes"
rm -f "$path"
# Which protocol each one spoke: only P2P/2 shows the client a peer ID, which it then
# keeps (trust on first use) in known_peers; P2P/1 in the clear has none to keep.
grep -q "^${ADDRS[0]} " "$T/client/state/known_peers" 2>/dev/null || die "${ADDRS[0]} did not speak P2P/2"
if grep -q "^$PLAIN_ADDR " "$T/client/state/known_peers" 2>/dev/null; then
  die "$PLAIN_ADDR spoke P2P/2 despite p2p2 = false"
fi

for round in $(seq "$RUNS"); do
  say "transfers of the ${BIG_MIB} MiB file, round $round of $RUNS: nginx→curl (3 ways), seed (2 ways), p2p case 1 over P2P/2 and P2P/1, p2p case 2"
  curl_get curl_mbps curl_plain
  # Case 1 over P2P/2 (TLS 1.3), and the same get from the P2P/1-only peer, back to
  # back, taking turns at going first (so that neither always follows the same transfer).
  if ((round % 2)); then
    p2p_get case1 --from "${ADDRS[0]}"
    p2p_get case1plain --from "$PLAIN_ADDR"
  else
    p2p_get case1plain --from "$PLAIN_ADDR"
    p2p_get case1 --from "${ADDRS[0]}"
  fi
  curl_get curl_sync_mbps curl_durable
  p2p_get case2
  curl_get curl_verified_mbps curl_verified
  seed_get seed_mbps 4096
  seed_get seed_1mib_mbps 1048576
done
rec case1_server_rss_kib "$(vmhwm_kib "$PID_peer1")"
rec case1plain_server_rss_kib "$(vmhwm_kib "$PID_peer4")"
stop "$PID_peer4"
for i in 1 2 3; do
  pid_var=PID_peer$i
  rec case2_server_rss_kib "$(vmhwm_kib "${!pid_var}")"
  stop "${!pid_var}"
done
stop "$PID_nginx"
stop "$PID_seed"

# ---------------------------------------------------------------- cases 7 and 8: shaped links
# Real links, not loopback: network namespaces this run makes, joined by veth pairs whose
# sending end (the server's) is shaped with `tc tbf`. Nothing leaves the machine. The client
# namespace has one veth per server namespace, each on its own /24 (10.203.K.0/24).
#   7. link saturation: one server behind 1 Gbit/s; `iperf3 -R` over it (the limit) and a
#      1 GiB `get --from` it, turn about in each round.
#   8. sources add up: three servers, each behind its own 200 Mbit/s link; three `iperf3 -R`
#      at once (the sum of the links) and a 1 GiB `get` from all three, and `curl` from an
#      nginx behind one of the links (4 s, its mean rate).
links_unavailable() {
  [ "$(id -u)" = 0 ] || { echo "needs root (ip netns)"; return; }
  command -v ip >/dev/null && command -v tc >/dev/null || { echo "needs ip and tc (iproute2)"; return; }
  local probe=p2pb$$-probe
  ip netns add "$probe" 2>/dev/null || { echo "ip netns add does not work here"; return; }
  ip netns del "$probe"
}
why_not=$(links_unavailable)
if [ -n "$why_not" ]; then
  say "cases 7 and 8 skipped: $why_not"
  rec links_skipped "$why_not"
else
  say "cases 7 and 8: network namespaces joined by veth pairs shaped with tbf (1 Gbit/s; 3 × 200 Mbit/s)"
  NS_C=p2pb$$-c
  ip netns add "$NS_C" && NETNS+=("$NS_C")
  ip -n "$NS_C" link set lo up
  for k in 1 2 3; do
    ns=p2pb$$-s$k
    ip netns add "$ns" && NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip link add "p2pbs$k" netns "$ns" type veth peer name "p2pbc$k" netns "$NS_C"
    ip -n "$ns" addr add "10.203.$k.1/24" dev "p2pbs$k"
    ip -n "$NS_C" addr add "10.203.$k.2/24" dev "p2pbc$k"
    ip -n "$ns" link set "p2pbs$k" up
    ip -n "$NS_C" link set "p2pbc$k" up
    start "iperf_s$k" ip netns exec "$ns" iperf3 -s -B "10.203.$k.1"
    mkdir -p "$T/lpeer$k/state"
    cat >"$T/lpeer$k/p2p.conf" <<EOF
[node]
name = "lpeer$k"
listen = "10.203.$k.1:7000"
state_dir = "$T/lpeer$k/state"
[share]
dirs = ["$D/p1"]
EOF
    start "lpeer$k" ip netns exec "$ns" "$P2P" serve --config "$T/lpeer$k/p2p.conf"
  done
  # shape K RATE BURST: the server's sending end of link K.
  shape() { ip netns exec "p2pb$$-s$1" tc qdisc replace dev "p2pbs$1" root tbf rate "$2" burst "$3" latency 50ms; }
  # link_iperf K: one 4 s `iperf3 -R` over link K (the server sends). On stdout: MB/s, and
  # the CPU-seconds per GiB of the receiving and the sending iperf3 (iperf3's own figures).
  link_iperf() {
    timeout 30 ip netns exec "$NS_C" iperf3 -c "10.203.$1.1" -R -t 4 -J >"$T/liperf$1.json" 2>/dev/null &&
      json "$T/liperf$1.json" '" ".join(str(round(v, 2)) for v in (
        j["end"]["sum_received"]["bits_per_second"] / 8e6,
        *(j["end"]["cpu_utilization_percent"][k] / 100 * j["end"]["sum_received"]["seconds"]
          / (j["end"]["sum_received"]["bytes"] / 2**30) for k in ("host_total", "remote_total"))))'
  }
  client_conf "$T/lclient" link-client 10.203.1.2:0 10.203.1.1:7000 10.203.2.1:7000 10.203.3.1:7000
  CLIENT_CONF=$T/lclient/p2p.conf
  CLIENT_IN=(ip netns exec "$NS_C")
  SERVING=("$PID_lpeer1" "$PID_lpeer2" "$PID_lpeer3")
  for k in 1 2 3; do
    pid_var=PID_lpeer$k
    wait_line "$T/lpeer$k.out" '^listening on ' 120 "${!pid_var}" || die "lpeer$k did not start: $(cat "$T/lpeer$k.err")"
  done

  shape 1 1gbit 256kb
  for round in $(seq "$LINK_RUNS"); do
    say "case 7, round $round of $LINK_RUNS: iperf3 and a ${BIG_MIB} MiB get over one 1 Gbit/s link"
    if ((round % 2)); then
      link_iperf 1 >"$T/liperf1.txt" || true
      p2p_get case7 --from 10.203.1.1:7000
    else
      p2p_get case7 --from 10.203.1.1:7000
      link_iperf 1 >"$T/liperf1.txt" || true
    fi
    read -r mbps rx_cpu tx_cpu <"$T/liperf1.txt" || true
    if [ -n "${tx_cpu:-}" ]; then
      rec case7_iperf_mbps "$mbps"
      rec case7_iperf_rx_cpu "$rx_cpu"
      rec case7_iperf_tx_cpu "$tx_cpu"
    fi
  done

  # nginx behind link 1, for curl over one 200 Mbit/s link.
  mkdir -p "$T/lnginx/tmp"
  sed -e "s#listen 127.0.0.1:$NGINX_PORT;#listen 10.203.1.1:8080;#" -e "s#$T/nginx#$T/lnginx#g" \
    "$T/nginx/nginx.conf" >"$T/lnginx/nginx.conf"
  start lnginx ip netns exec "p2pb$$-s1" "$NGINX" -p "$T/lnginx" -c "$T/lnginx/nginx.conf" -e "$T/lnginx/error.log" -g 'daemon off;'
  for k in 1 2 3; do shape "$k" 200mbit 64kb; done
  for round in $(seq "$LINK_RUNS"); do
    say "case 8, round $round of $LINK_RUNS: 3 × iperf3 at once, a ${BIG_MIB} MiB get from 3 peers, curl; each link 200 Mbit/s"
    waits=()
    for k in 1 2 3; do
      link_iperf "$k" >"$T/liperf$k.txt" &
      waits+=($!)
    done
    wait "${waits[@]}" || true
    # Three lines of "MB/s rx-CPU tx-CPU": the sum of the rates, the CPU per GiB of all.
    sum=$(cat "$T"/liperf{1,2,3}.txt | python3 -c '
import sys
rows = [list(map(float, line.split())) for line in sys.stdin if line.strip()]
if len(rows) == 3 and all(len(r) == 3 for r in rows):
    total = sum(r[0] for r in rows)
    print(round(total, 1), *(round(sum(r[0] * r[k] for r in rows) / total, 2) for k in (1, 2)))')
    if [ -n "$sum" ]; then
      read -r mbps rx_cpu tx_cpu <<<"$sum"
      rec case8_iperf_sum_mbps "$mbps"
      rec case8_iperf_rx_cpu "$rx_cpu"
      rec case8_iperf_tx_cpu "$tx_cpu"
    fi
    p2p_get case8
    v=$(timeout 30 ip netns exec "$NS_C" curl -sS -o /dev/null --max-time 4 -w '%{speed_download}' \
      http://10.203.1.1:8080/big.bin 2>/dev/null) || true # exit 28: the 4 s are up, as meant
    [ -n "$v" ] && rec case8_curl_mbps "$(python3 -c "print(round($v / 1e6, 1))")"
  done
  for k in 1 2 3; do
    pid_var=PID_lpeer$k
    rec case8_server_rss_kib "$(vmhwm_kib "${!pid_var}")"
    stop "${!pid_var}"
    pid_var=PID_iperf_s$k
    stop "${!pid_var}"
  done
  stop "$PID_lnginx"
fi

# ---------------------------------------------------------------- case 5
say "case 5: $CLIENTS clients at once, each reading a ${READ_MIB} MiB file from one peer"
mkdir -p "$T/peer5/state" "$T/peer5/dl"
# Case 5 measures serving every reader at once, so the peer has an upload slot for each:
# with the default 8 (DESIGN §8) the others' reads are answered `busy`, which p2p's own
# client waits out but `read_load` (a raw wire client) counts as failures.
cat >"$T/peer5/p2p.conf" <<EOF
[node]
name = "peer5"
listen = "127.0.0.5:0"
state_dir = "$T/peer5/state"
[share]
dirs = ["$D/read"]
[download]
dir = "$T/peer5/dl"
share = false
[server]
upload_slots = $CLIENTS
EOF
start peer5 "$P2P" serve --config "$T/peer5/p2p.conf"
wait_line "$T/peer5.out" '^listening on ' 60 "$PID_peer5" || die "peer5 did not start: $(cat "$T/peer5.err")"
ADDR5=$(sed -n 's/^listening on //p' "$T/peer5.out" | head -1)
for _ in 1 2 3; do
  timeout 180 "$EX/read_load" "$ADDR5" "$READ_HASH" $((READ_MIB * 1024 * 1024)) --clients "$CLIENTS" \
    >"$T/load.json" 2>"$T/load.err" || true
  if [ -s "$T/load.json" ]; then
    rec case5_mbps "$(json "$T/load.json" 'j["mb_per_s"]')"
    rec case5_failures "$(json "$T/load.json" 'j["failures"]')"
    rec case5_client_ms_max "$(json "$T/load.json" 'j["client_ms_max"]')"
    rec case5_errors "$(json "$T/load.json" '"; ".join(j["errors"]) or "-"')"
  else
    rec case5_failures "$CLIENTS"
    rec case5_errors "read_load: $(tail -1 "$T/load.err")"
  fi
done
# One more, verifying every client's bytes against the hash (not timed into the table).
timeout 180 "$EX/read_load" "$ADDR5" "$READ_HASH" $((READ_MIB * 1024 * 1024)) --clients "$CLIENTS" --verify \
  >"$T/load.json" 2>"$T/load.err" || true
rec case5_verified_failures "$(json "$T/load.json" 'j["failures"]' 2>/dev/null || echo "$CLIENTS")"
rec case5_server_rss_kib "$(vmhwm_kib "$PID_peer5")"
stop "$PID_peer5"

# ---------------------------------------------------------------- case 4
say "case 4: search fan-out to $NPEERS peers (one process, one loopback address each)"
start many "$EX/many_peers" --peers "$NPEERS" --first 127.0.1.1 "$D/search"
wait_line "$T/many.out" '^ready$' 120 "$PID_many" || die "many_peers did not start: $(cat "$T/many.err")"
mkdir -p "$T/searcher/state" "$T/searcher/dl"
{
  echo '[node]'
  echo 'name = "searcher"'
  echo "state_dir = \"$T/searcher/state\""
  echo '[peers]'
  printf 'addrs = [%s]\n' "$(grep -v '^ready$' "$T/many.out" | sed 's/.*/"&"/' | paste -sd, -)"
  echo '[download]'
  echo "dir = \"$T/searcher/dl\""
  echo 'share = false'
} >"$T/searcher/p2p.conf"
for _ in $(seq "$SEARCHES"); do echo "search somefile"; done >"$T/searches.txt"
timeout 300 "$P2P" --config "$T/searcher/p2p.conf" --json <"$T/searches.txt" >"$T/search.jsonl" 2>"$T/search.err" ||
  rec case4_error "$(tail -1 "$T/search.err")"
python3 - "$T/search.jsonl" "$NPEERS" >>"$T/results.txt" <<'EOF'
import json, sys
n_peers = int(sys.argv[2])
for line in open(sys.argv[1]):
    j = json.loads(line)
    if "error" in j:
        print("case4_error", j["error"]["message"])
        continue
    ok = sum(1 for p in j["peers"] if p["status"] == "ok")
    print("case4_ms", j["elapsed_ms"])
    print("case4_peers_ok", ok)
    print("case4_results", len(j["results"]))
EOF
stop "$PID_many"

# ---------------------------------------------------------------- case 3
say "case 3: cold index of $COLD_MIB MiB in $COLD_FILES files vs openssl; warm restart over $WARM_FILES files"
index_conf() { # FILE NAME DIR STATE
  cat >"$1" <<EOF
[node]
name = "$2"
listen = "127.0.0.6:0"
state_dir = "$4"
[share]
dirs = ["$3"]
[download]
dir = "$T/idx-dl"
share = false
EOF
}
# serve_index CONF KEY: starts `p2p serve`, records its "indexed ..." line, stops it.
serve_index() {
  start idx "$P2P" serve --config "$1"
  wait_line "$T/idx.out" '^listening on ' 120 "$PID_idx" || die "p2p serve (index) did not start: $(cat "$T/idx.err")"
  stop "$PID_idx"
  rec "$2" "$(grep -m1 '^indexed ' "$T/idx.err" || echo "indexed ?")"
}
mkdir -p "$T/idx-dl"
index_conf "$T/cold.conf" cold "$D/cold" "$T/cold-state"
find "$D/cold" -type f -print0 | xargs -0 cat >/dev/null # both sides read from the page cache
for _ in 1 2 3; do
  t0=$(now_ns)
  (cd "$D/cold" && find . -type f -print0 | timeout 120 xargs -0 openssl dgst -sha256 >/dev/null)
  t1=$(now_ns)
  rec case3_openssl_ms "$(((t1 - t0) / 1000000))"
  rm -rf "$T/cold-state"
  t0=$(now_ns)
  timeout 120 "$P2P" --config "$T/cold.conf" --json rescan >"$T/rescan.json" 2>"$T/rescan.err" ||
    die "p2p rescan failed: $(cat "$T/rescan.err")"
  t1=$(now_ns)
  rec case3_cold_ms "$(((t1 - t0) / 1000000))"
  rec case3_cold_files "$(json "$T/rescan.json" 'j["files"]')"
  rec case3_cold_json_hashed "$(json "$T/rescan.json" 'j["hashed"]')"
done
# `rescan` in a one-shot reports the second walk of its session (the first is the
# session's own, on first use of the shares); `p2p serve` reports the one it does.
rm -rf "$T/cold-state"
serve_index "$T/cold.conf" case3_cold_serve_line

index_conf "$T/warm.conf" warm "$D/warm" "$T/warm-state"
timeout 300 "$P2P" --config "$T/warm.conf" --json rescan >"$T/rescan.json" 2>"$T/rescan.err" ||
  die "p2p rescan (warm, first) failed: $(cat "$T/rescan.err")"
for _ in 1 2 3; do
  t0=$(now_ns)
  timeout 120 "$P2P" --config "$T/warm.conf" --json rescan >"$T/rescan.json" 2>"$T/rescan.err" ||
    die "p2p rescan (warm) failed: $(cat "$T/rescan.err")"
  t1=$(now_ns)
  rec case3_warm_ms "$(((t1 - t0) / 1000000))"
  rec case3_warm_files "$(json "$T/rescan.json" 'j["files"]')"
  rec case3_warm_json_hashed "$(json "$T/rescan.json" 'j["hashed"]')"
done
serve_index "$T/warm.conf" case3_warm_serve_line

# ---------------------------------------------------------------- micro-benchmarks
if [ "$MICRO" = 1 ]; then
  say "criterion micro-benchmarks (--quick)"
  (cd "$ROOT" && timeout 300 cargo bench --quiet --bench codec --bench verify -- --quick 2>/dev/null) \
    >"$T/micro.txt" || true
fi

rec env_seconds "$((SECONDS - STARTED))"
rec env_load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
rec env_busy_s "$((($(machine_busy) - BUSY_START) / $(getconf CLK_TCK)))"
rec env_steal_s "$((($(machine_steal) - STEAL_START) / $(getconf CLK_TCK)))"
# `times`, second line: user and system time of this script's children (all reaped).
times >"$T/times1.txt"
rec env_own_s "$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1])))' \
  "$(children_s "$T/times0.txt")" "$(children_s "$T/times1.txt")")"
[ -n "${BENCH_RESULTS:-}" ] && cp "$T/results.txt" "$BENCH_RESULTS"
say "done; the table:"
python3 "$ROOT/benches/report.py" "$T/results.txt"
if [ "$MICRO" = 1 ] && [ -s "$T/micro.txt" ]; then
  echo
  python3 "$ROOT/benches/report.py" --criterion "$T/micro.txt"
else
  echo
  echo "Micro-benchmarks: \`cargo bench --bench codec --bench verify\` (about a minute), or \`benches/run.sh --micro\`."
fi
