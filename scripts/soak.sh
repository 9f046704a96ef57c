#!/usr/bin/env bash
# Soak test: 5 peers, 50 clients, for MINUTES (default 10).
#
#   scripts/soak.sh [MINUTES]
#
# Builds the release binary, starts 5 `p2p serve` peers on 127.0.0.91-95:$SOAK_PORT
# (default 12000) sharing overlapping sets of files (0 B to 32 MiB; every file on 3
# peers), and runs 50 client loops: each picks a random file, runs `search NAME` and
# `get SHA256` (`p2p --json`, one process, its own download folder), checks the file
# with sha256sum and deletes it. One peer is restarted (SIGTERM, then started again on
# the same address) every minute, round robin, the first at 30 s. At the end: downloads,
# bytes, failures (with their most common reasons), corrupted downloads (must be 0),
# and each peer's RSS and fd count at the start and the end (and the most seen).
#
# Exit status: 0 when no download was corrupt, no peer died on its own and at least one
# download succeeded; 1 otherwise. Everything it starts is stopped, by process id, and
# its temporary folder removed, on exit or Ctrl-C.
set -euo pipefail

MINUTES=${1:-10}
if ! [[ "$MINUTES" =~ ^[0-9]+$ ]] || [ "$MINUTES" -lt 1 ] || [ "$MINUTES" -gt 1440 ]; then
    echo "usage: $0 [MINUTES]   (1..1440, default 10)" >&2
    exit 2
fi
PORT=${SOAK_PORT:-12000}
CLIENTS=${SOAK_CLIENTS:-50}
PEERS=5
GET_LIMIT_S=120 # no single client command may run longer

ROOT=$(cd "$(dirname "$0")/.." && pwd)
echo "building release..." >&2
(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/p2p"

W=$(mktemp -d "${TMPDIR:-/tmp}/p2p-soak.XXXXXX")
PEER_PIDS=()
CLIENT_PIDS=()

# Each background job (client loop, peer) runs in its own process group, whose id is
# its pid: a client loop is stopped together with the p2p and sha256sum it is running.
set -m

stop_clients() { # $1: seconds to let them finish what they are doing
    local waited=0 alive
    touch "$W/stop" 2>/dev/null || true
    while :; do
        alive=0
        for pid in "${CLIENT_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        if [ "$waited" -ge $(($1 * 10)) ]; then
            for pid in "${CLIENT_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
        fi
        if [ "$waited" -ge $(($1 * 10 + 50)) ]; then
            for pid in "${CLIENT_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    CLIENT_PIDS=()
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_clients 0
    for pid in "${PEER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${PEER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PEER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Files: sizes from empty to 32 MiB, each on 3 of the 5 peers. -------------------
SIZES=(0 1 4096 100000 1048576 1048577 3145745 8388608 16777215 33554432)
mkdir -p "$W/pool"
: >"$W/files.txt" # "name sha256 size" a line
for i in "${!SIZES[@]}"; do
    name=$(printf 'soak-%02d-%s.bin' "$i" "${SIZES[$i]}")
    head -c "${SIZES[$i]}" /dev/urandom >"$W/pool/$name"
    sum=$(sha256sum "$W/pool/$name" | cut -c1-64)
    echo "$name $sum ${SIZES[$i]}" >>"$W/files.txt"
done
NFILES=${#SIZES[@]}

peer_addr() { echo "127.0.0.$((91 + $1)):$PORT"; }

ADDRS=""
for p in $(seq 0 $((PEERS - 1))); do
    ADDRS+="\"$(peer_addr "$p")\", "
done
ADDRS=${ADDRS%, }

for p in $(seq 0 $((PEERS - 1))); do
    d="$W/peer$p"
    mkdir -p "$d/share" "$d/downloads"
    for i in $(seq 0 $((NFILES - 1))); do
        if [ $(((i + p) % PEERS)) -lt 3 ]; then
            ln "$W/pool/$(sed -n "$((i + 1))p" "$W/files.txt" | cut -d' ' -f1)" "$d/share/"
        fi
    done
    cat >"$d/p2p.conf" <<EOF
[node]
name = "soak$p"
listen = "$(peer_addr "$p")"
state_dir = "./state"

[share]
dirs = ["./share"]

[download]
dir = "./downloads"
share = false
EOF
done

start_peer() { # $1: peer number; waits for its "listening on" line
    local p=$1 d="$W/peer$1"
    "$BIN" serve --config "$d/p2p.conf" >"$d/out.log" 2>>"$d/err.log" &
    PEER_PIDS[$p]=$!
    for _ in $(seq 200); do
        grep -q '^listening on' "$d/out.log" 2>/dev/null && return 0
        kill -0 "${PEER_PIDS[$p]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "peer $p did not start:" >&2
    cat "$d/err.log" >&2
    return 1
}

stop_peer() { # SIGTERM, bounded wait; sets STOP_STATUS to its exit status
    local pid=${PEER_PIDS[$1]}
    STOP_STATUS=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
}

usage() { # "RSS_KiB fds" of a pid
    local pid=$1 rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    echo "${rss:-0} $fds"
}

for p in $(seq 0 $((PEERS - 1))); do start_peer "$p"; done
sleep 2 # let the first index finish
declare -a START_USAGE END_USAGE MAX_RSS MAX_FDS RESTARTS
for p in $(seq 0 $((PEERS - 1))); do
    START_USAGE[$p]=$(usage "${PEER_PIDS[$p]}")
    MAX_RSS[$p]=0
    MAX_FDS[$p]=0
    RESTARTS[$p]=0
done

# --- Clients. ------------------------------------------------------------------------
client_loop() { # $1: client number. Appends one line per download to its log.
    set +e # every outcome is logged; none may end the loop
    local c=$1 d="$W/client$1" line name sum size out got path
    mkdir -p "$d/downloads"
    cat >"$d/p2p.conf" <<EOF
[node]
name = "client$c"
listen = "127.0.0.1:0"
state_dir = "./state"

[share]
dirs = []

[download]
dir = "./downloads"
share = false

[peers]
addrs = [$ADDRS]
EOF
    local log="$d/log"
    RANDOM=$((c * 7919 + 17))
    while [ ! -e "$W/stop" ]; do
        line=$(sed -n "$((RANDOM % NFILES + 1))p" "$W/files.txt")
        read -r name sum size <<<"$line"
        out=$(printf 'search %s\nget %s\n' "$name" "$sum" |
            timeout "$GET_LIMIT_S" "$BIN" --config "$d/p2p.conf" --json 2>"$d/stderr") || true
        got=$(printf '%s\n' "$out" | sed -n 2p)
        path=$(printf '%s' "$got" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
        if [ -n "$path" ] && [ -f "$path" ]; then
            if [ "$(sha256sum "$path" | cut -c1-64)" = "$sum" ] &&
                [ "$(stat -c %s "$path")" = "$size" ]; then
                echo "ok $size" >>"$log"
            else
                echo "corrupt $name $(sha256sum "$path" | cut -c1-64)" >>"$log"
            fi
        elif [ -e "$W/stop" ]; then
            break # cut short by the end of the run: not a failure
        else
            echo "fail $(head -c 300 "$d/stderr" | tr '\n' ' ')" >>"$log"
        fi
        # Keep each client's disk use to one file: results and any partial data go.
        rm -rf "${d:?}/downloads" && mkdir -p "$d/downloads"
    done
}

for c in $(seq 1 "$CLIENTS"); do
    client_loop "$c" &
    CLIENT_PIDS+=($!)
done

# --- Run, restarting one peer a minute, and sampling the peers every 5 s. ------------
START=$(date +%s)
END=$((START + MINUTES * 60))
NEXT_RESTART=$((START + 30))
NEXT_PEER=0
DIED=0
echo "soak: $PEERS peers, $CLIENTS clients, $MINUTES min, in $W" >&2
while [ "$(date +%s)" -lt "$END" ]; do
    sleep 5
    now=$(date +%s)
    for p in $(seq 0 $((PEERS - 1))); do
        if ! kill -0 "${PEER_PIDS[$p]}" 2>/dev/null; then
            echo "peer $p died on its own:" >&2
            tail -5 "$W/peer$p/err.log" >&2
            DIED=$((DIED + 1))
            start_peer "$p"
        fi
        read -r rss fds <<<"$(usage "${PEER_PIDS[$p]}")"
        [ "$rss" -gt "${MAX_RSS[$p]}" ] && MAX_RSS[$p]=$rss
        [ "$fds" -gt "${MAX_FDS[$p]}" ] && MAX_FDS[$p]=$fds
    done
    if [ "$now" -ge "$NEXT_RESTART" ] && [ "$now" -lt "$END" ]; then
        stop_peer "$NEXT_PEER"
        if [ "$STOP_STATUS" != 0 ]; then
            echo "peer $NEXT_PEER exited $STOP_STATUS on SIGTERM" >&2
            DIED=$((DIED + 1))
        fi
        start_peer "$NEXT_PEER"
        RESTARTS[$NEXT_PEER]=$((RESTARTS[NEXT_PEER] + 1))
        echo "  $((now - START)) s: restarted peer $NEXT_PEER ($(peer_addr "$NEXT_PEER"))" >&2
        NEXT_PEER=$(((NEXT_PEER + 1) % PEERS))
        NEXT_RESTART=$((NEXT_RESTART + 60))
    fi
done

stop_clients 30 # the gets under way finish (or are stopped after 30 s, not counted)
for p in $(seq 0 $((PEERS - 1))); do END_USAGE[$p]=$(usage "${PEER_PIDS[$p]}"); done

# --- Report. -------------------------------------------------------------------------
cat "$W"/client*/log 2>/dev/null >"$W/all.log" || true
OK=$(grep -c '^ok ' "$W/all.log" || true)
BYTES=$(awk '$1 == "ok" {s += $2} END {printf "%.0f", s}' "$W/all.log")
FAILED=$(grep -c '^fail ' "$W/all.log" || true)
CORRUPT=$(grep -c '^corrupt ' "$W/all.log" || true)
ELAPSED=$(($(date +%s) - START))
echo
echo "== p2p soak report: $PEERS peers, $CLIENTS clients, $ELAPSED s =="
printf 'downloads done:       %d\n' "$OK"
mib() { awk -v n="$1" -v d="${2:-1}" 'BEGIN {printf "%.1f", n / 1048576 / d}'; }
printf 'bytes downloaded:     %s (%s MiB, %s MiB/s)\n' "$BYTES" "$(mib "$BYTES")" \
    "$(mib "$BYTES" "$ELAPSED")"
printf 'failures:             %d\n' "$FAILED"
if [ "$FAILED" -gt 0 ]; then
    grep '^fail ' "$W/all.log" | sed -e 's/^fail //' -e 's/[0-9a-f]\{64\}/HASH/g' \
        -e 's/[0-9]\+ of [0-9]\+ bytes/N of M bytes/g' -e 's/127\.0\.0\.[0-9]*:[0-9]*/PEER/g' |
        sort | uniq -c | sort -rn | head -5 | sed 's/^/    /'
fi
printf 'corrupted downloads:  %d\n' "$CORRUPT"
TOTAL_RESTARTS=0
for p in $(seq 0 $((PEERS - 1))); do TOTAL_RESTARTS=$((TOTAL_RESTARTS + RESTARTS[p])); done
printf 'peer restarts:        %d (SIGTERM, round robin); peers that died on their own: %d\n' \
    "$TOTAL_RESTARTS" "$DIED"
kib() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1024}'; }
echo "peers (RSS in MiB; start = first process after indexing, end = process running at the end):"
printf '  %-6s %-18s %9s %9s %9s %9s %9s %9s %9s\n' peer addr rss_start rss_end rss_max \
    fds_start fds_end fds_max restarts
for p in $(seq 0 $((PEERS - 1))); do
    read -r r0 f0 <<<"${START_USAGE[$p]}"
    read -r r1 f1 <<<"${END_USAGE[$p]}"
    printf '  %-6s %-18s %9s %9s %9s %9d %9d %9d %9d\n' "soak$p" "$(peer_addr "$p")" \
        "$(kib "$r0")" "$(kib "$r1")" "$(kib "${MAX_RSS[$p]}")" "$f0" "$f1" "${MAX_FDS[$p]}" \
        "${RESTARTS[$p]}"
done
for p in $(seq 0 $((PEERS - 1))); do
    if grep -q panicked "$W/peer$p/err.log"; then
        echo "peer $p panicked:" >&2
        grep -m3 panicked "$W/peer$p/err.log" >&2
        DIED=$((DIED + 1))
    fi
done

if [ "$CORRUPT" -gt 0 ] || [ "$DIED" -gt 0 ] || [ "$OK" -eq 0 ]; then
    echo "SOAK FAILED" >&2
    exit 1
fi
echo "soak ok"
