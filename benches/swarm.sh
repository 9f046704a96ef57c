#!/usr/bin/env bash
# benches/swarm.sh — issue 15's swarm figure: 1 seed + 4 leechers over slow links, the
# time for all four against 4 × a single download from the seed alone.
#
#   benches/swarm.sh            # ~2.5 min with the defaults (+ the build); table on stdout
#
# Every peer's uplink is slow (`[server] max_upload_rate`, default "2.5MB" = 20 Mbit/s);
# downloads are not limited. One file (random bytes) is in the seed's share.
#   1. single: one leecher alone, `p2p --json get SHA256` (one-shot) from the seed → T1;
#      "4 × single" is 4 × T1: the seed's uplink shared by four, one after another.
#   2. swarm: 4 leechers, each `p2p --serve --json` fed `get SHA256` as a piped script
#      (it serves what it has while it downloads), each with the seed's upload rate and
#      the seed and the other leechers in `[peers] addrs`; all four are told `get` at the
#      same moment; the swarm time is until the last one has its file. Every file's
#      SHA-256 is checked; `get`'s JSON `served` map says who sent each leecher what.
# Everything runs on 127.0.0.120–130 (fixed ports, so every address is known in
# advance); every process it starts is stopped when it ends, however it ends, and its
# temp dir is removed.
#
# Knobs (environment): SWARM_MIB (file size, 64), SWARM_RATE (every peer's upload rate,
# "2.5MB"), SWARM_LEECHERS (1–9, 4), SWARM_PORT (13000), SWARM_STAGGER_MS (start the
# leechers this far apart, 0: all at once), SWARM_LINGER (1: a leecher that is done
# keeps serving until the last one is; 0: it quits at once), SWARM_BUDGET_S (900: the
# watchdog), TMPDIR (where the temp dir goes), SWARM_RESULTS (a folder to keep every
# peer's JSON answers and stderr in).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIB=${SWARM_MIB:-64}
RATE=${SWARM_RATE:-2.5MB}
N=${SWARM_LEECHERS:-4}
PORT=${SWARM_PORT:-13000}
STAGGER_MS=${SWARM_STAGGER_MS:-0}
LINGER=${SWARM_LINGER:-1}
BUDGET_S=${SWARM_BUDGET_S:-900}
for arg in "$@"; do
  case $arg in
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9]$ ]] || { echo "error: SWARM_LEECHERS must be 1 to 9" >&2; exit 2; }
[[ $MIB =~ ^[1-9][0-9]*$ ]] || { echo "error: SWARM_MIB must be a whole number of MiB" >&2; exit 2; }
[[ $STAGGER_MS =~ ^[0-9]+$ ]] || { echo "error: SWARM_STAGGER_MS must be a number" >&2; exit 2; }

STARTED=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - STARTED)) "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes, cleanup
PIDS=()
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
# start_fed NAME CMD...: the same, with stdin the FIFO $T/NAME.in, opened read-write so
# that the process never sees its end: it runs what is written there (`feed`) until told
# `quit`.
start_fed() {
  local name=$1
  shift
  mkfifo "$T/$name.in"
  "$@" 0<>"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  printf -v "PID_$name" '%s' $!
}
feed() { printf '%s\n' "$2" >"$T/$1.in"; }
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
# json FILE EXPR: a Python expression over the JSON object `j` read from FILE.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], int(sys.argv[2])))' "$1" "$2" 2>/dev/null; }

command -v python3 >/dev/null || die "needs python3"
command -v sha256sum >/dev/null || die "needs sha256sum (coreutils)"

# ---------------------------------------------------------------- build
say "building the release binary (cargo build --release --bin p2p)"
(cd "$ROOT" && cargo build --release --quiet --bin p2p) || die "build failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
P2P=$TARGET_DIR/release/p2p
[ -x "$P2P" ] || die "missing $P2P"

T=$(mktemp -d "${TMPDIR:-/tmp}/p2p-swarm.XXXXXX")
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$BUDGET_S" &
  sp=$!
  wait "$sp"
  echo "swarm.sh: the ${BUDGET_S}s budget is over; stopping" >&2
  kill -TERM $$
) &
PIDS+=($!)

SEED_ADDR=127.0.0.120:$PORT
SINGLE_ADDR=127.0.0.130:$PORT
LADDR=()
for i in $(seq "$N"); do LADDR+=("127.0.0.$((120 + i)):$PORT"); done
for a in "$SEED_ADDR" "${LADDR[@]}"; do
  port_free "${a%:*}" "$PORT" || die "$a is in use (SWARM_PORT picks another port)"
done

# ---------------------------------------------------------------- data, configs
say "making a ${MIB} MiB file in $T"
mkdir -p "$T/seed/share"
python3 - "$T/seed/share/swarm.bin" "$MIB" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(os.urandom(1 << 20))
EOF
HASH=$(sha256sum "$T/seed/share/swarm.bin" | cut -d' ' -f1)
sync

quoted() { local a out=""; for a in "$@"; do out+="${out:+, }\"$a\""; done; printf '%s' "$out"; }
# conf NAME ADDR PEERS...: $T/NAME/p2p.conf, sharing $T/NAME/share and its downloads,
# uploading at most $RATE.
conf() {
  local name=$1 addr=$2
  shift 2
  mkdir -p "$T/$name/share" "$T/$name/dl" "$T/$name/state"
  cat >"$T/$name/p2p.conf" <<EOF
[node]
name = "$name"
listen = "$addr"
state_dir = "$T/$name/state"

[share]
dirs = ["$T/$name/share"]

[download]
dir = "$T/$name/dl"

[peers]
addrs = [$(quoted "$@")]

[server]
max_upload_rate = "$RATE"
EOF
}
conf seed "$SEED_ADDR"
conf single "$SINGLE_ADDR" "$SEED_ADDR"
for i in $(seq "$N"); do
  others=()
  for j in $(seq "$N"); do [ "$j" = "$i" ] || others+=("${LADDR[j - 1]}"); done
  conf "L$i" "${LADDR[i - 1]}" "$SEED_ADDR" "${others[@]}"
done

say "starting the seed on $SEED_ADDR (uploads at most $RATE a second)"
start seed "$P2P" serve --config "$T/seed/p2p.conf"
wait_line "$T/seed.out" '^listening on ' 120 "$PID_seed" || die "the seed did not start: $(cat "$T/seed.err")"

# ---------------------------------------------------------------- 1. single
say "single: one leecher alone gets the file from the seed (one-shot)"
t0=$(now_ns)
timeout $((BUDGET_S / 2)) "$P2P" --config "$T/single/p2p.conf" --json get "$HASH" \
  >"$T/single.json" 2>"$T/single.err" || die "single get failed: $(tail -3 "$T/single.err")"
t1=$(now_ns)
echo "$(((t1 - t0) / 1000000))" >"$T/single.ms"
got=$(json "$T/single.json" 'j["path"]')
[ "$(sha256sum "$got" | cut -d' ' -f1)" = "$HASH" ] || die "single: the file's SHA-256 is wrong"
say "single: $(($(cat "$T/single.ms") / 1000)) s"

# ---------------------------------------------------------------- 2. swarm
say "swarm: $N leechers on ${LADDR[*]}, serving while they download"
for i in $(seq "$N"); do
  start_fed "L$i" "$P2P" --config "$T/L$i/p2p.conf" --serve --json
done
for i in $(seq "$N"); do
  pid_var=PID_L$i
  wait_line "$T/L$i.err" '^serving on ' 60 "${!pid_var}" || die "leecher $i did not start serving: $(cat "$T/L$i.err")"
done
say "swarm: all $N get $HASH"
T0=$(now_ns)
for i in $(seq "$N"); do
  if [ "$LINGER" = 1 ]; then feed "L$i" "get $HASH"; else feed "L$i" "get $HASH
quit"; fi
  echo "$((($(now_ns) - T0) / 1000000))" >"$T/L$i.start_ms"
  if [ "$STAGGER_MS" -gt 0 ] && [ "$i" -lt "$N" ]; then sleep "$(printf '%d.%03d' $((STAGGER_MS / 1000)) $((STAGGER_MS % 1000)))"; fi
done
left=$N
while ((left > 0)); do
  left=0
  for i in $(seq "$N"); do
    [ -e "$T/L$i.done_ms" ] && continue
    if grep -q '^{' "$T/L$i.out" 2>/dev/null; then
      echo "$((($(now_ns) - T0) / 1000000))" >"$T/L$i.done_ms"
      say "swarm: leecher $i done"
      continue
    fi
    pid_var=PID_L$i
    kill -0 "${!pid_var}" 2>/dev/null || die "leecher $i ended without an answer: $(tail -3 "$T/L$i.err")"
    left=$((left + 1))
  done
  ((left == 0)) || sleep 0.1
done
for i in $(seq "$N"); do
  pid_var=PID_L$i
  [ "$LINGER" = 1 ] && kill -0 "${!pid_var}" 2>/dev/null && feed "L$i" quit
done
for i in $(seq "$N"); do
  pid_var=PID_L$i
  for _ in $(seq 100); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.1; done
  stop "${!pid_var}"
  head -1 "$T/L$i.out" >"$T/L$i.json"
  if json "$T/L$i.json" '"error" in j' | grep -q True; then
    die "leecher $i: get failed: $(json "$T/L$i.json" 'j["error"]["message"]')"
  fi
  got=$(json "$T/L$i.json" 'j["path"]')
  if [ "$(sha256sum "$got" | cut -d' ' -f1)" = "$HASH" ]; then echo ok >"$T/L$i.sha"; else echo BAD >"$T/L$i.sha"; fi
done
stop "$PID_seed"
if [ -n "${SWARM_RESULTS:-}" ]; then
  mkdir -p "$SWARM_RESULTS"
  cp "$T"/*.json "$T"/*.err "$T"/*.out "$SWARM_RESULTS/"
fi

# ---------------------------------------------------------------- the table
say "done; the table:"
python3 - "$T" "$N" "$MIB" "$RATE" "$SEED_ADDR" "$STAGGER_MS" "$LINGER" "${LADDR[@]}" <<'EOF'
import json, os, re, sys
t, n, mib, rate_text, seed, stagger, linger = sys.argv[1:8]
leechers = sys.argv[8:]
n, mib, stagger = int(n), int(mib), int(stagger)
def read(name):
    with open(os.path.join(t, name)) as f:
        return f.read().strip()
def rate_bytes(text):
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*(/s)?\s*", text)
    scale = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
             "kib": 1024, "mib": 1 << 20, "gib": 1 << 30}[m.group(2).lower()]
    return float(m.group(1)) * scale
size = mib << 20
rate = rate_bytes(rate_text)
single = json.load(open(os.path.join(t, "single.json")))
t1 = int(read("single.ms")) / 1000
rows = []
for i, addr in enumerate(leechers, 1):
    j = json.load(open(os.path.join(t, f"L{i}.json")))
    rows.append((i, addr, j, int(read(f"L{i}.start_ms")) / 1000, int(read(f"L{i}.done_ms")) / 1000,
                 read(f"L{i}.sha")))
swarm = max(r[4] for r in rows)
mi = lambda b: f"{b / (1 << 20):.1f} MiB"
pct = lambda b: f"{100 * b / size:.0f} %"
ideal_single = size / rate
bound = max(size / rate, n * size / ((n + 1) * rate))
print(f"p2p swarm: 1 seed + {n} leechers, one {mib} MiB file, every peer's upload at most "
      f"{rate_text}/s ({rate * 8 / 1e6:g} Mbit/s), downloads unlimited; "
      f"leechers started {'all at once' if stagger == 0 else f'{stagger} ms apart'}, "
      f"{'each serving until the last is done' if linger == '1' else 'each quitting when done'}")
print()
print("| measure | time | note |")
print("|---|---:|---|")
print(f"| single: 1 leecher, seed alone (`p2p get SHA256` one-shot, whole command) | {t1:.1f} s | "
      f"`elapsed_ms` {single['elapsed_ms']:,}, {single['mb_per_s']:.2f} MB/s; at the rate limit: {ideal_single:.1f} s |")
print(f"| {n} × single (the seed alone serving {n} one after another) | {n * t1:.1f} s | |")
print(f"| swarm: all {n} leechers done | {swarm:.1f} s | lower bound with every uplink full: {bound:.1f} s |")
print(f"| ratio ({n} × single) ÷ swarm | {n * t1 / swarm:.2f}× | at most {n * t1 / bound:.2f}× |")
print()
print("| leecher | told `get` at | done at | `elapsed_ms` | from the seed | from other leechers | sent to other leechers | sha256 |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
seed_total = 0
for i, addr, j, start, done, sha in rows:
    served = j.get("served", {})
    from_seed = served.get(seed, 0)
    seed_total += from_seed
    others = {a: b for a, b in served.items() if a != seed}
    detail = ", ".join(f"L{leechers.index(a) + 1 if a in leechers else a}: {mi(b)}" for a, b in sorted(others.items()) if b)
    from_others = sum(others.values())
    sent = sum(json.load(open(os.path.join(t, f"L{k}.json"))).get("served", {}).get(addr, 0)
               for k in range(1, n + 1) if k != i)
    print(f"| L{i} {addr} | {start:.1f} s | {done:.1f} s | {j['elapsed_ms']:,} | {mi(from_seed)} ({pct(from_seed)}) | "
          f"{mi(from_others)} ({pct(from_others)}){f' — {detail}' if detail else ''} | {mi(sent)} | {sha} |")
print()
print(f"The seed sent the swarm {mi(seed_total)} ({seed_total / size:.2f}× the file); "
      f"the leechers sent each other {mi(sum(sum(v for a, v in r[2].get('served', {}).items() if a != seed) for r in rows))}.")
dropped = [(f"L{r[0]}", d) for r in rows for d in r[2].get("dropped", [])]
for who, d in dropped:
    print(f"- {who} dropped a source: {d}")
EOF
