#!/usr/bin/env python3
"""Turns the samples that benches/run.sh recorded into one markdown table.

Input: lines `KEY VALUE...`, one sample each (a key may repeat). Output (stdout): a
heading line with the date, nproc and CPU, then the table of medians, ratios, targets
and whether each target is met, then notes. Standard library only.
"""

import re
import statistics
import sys
from collections import defaultdict


def criterion_table(path):
    """A markdown table of criterion's estimates (the middle of each [low mid high])."""
    rows, name, in_change = [], None, False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line and not line[0].isspace():
            name, _, line = line.partition(" ")
            in_change = False
            rows.append([name, "", ""])
        if "change:" in line:
            in_change = True
        m = re.search(r"(time|thrpt):\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", line)
        if m and name and not in_change:
            rows[-1][1 if m.group(1) == "time" else 2] = m.group(2)
    print("| micro-benchmark | time | throughput |")
    print("|---|---:|---:|")
    for r in rows:
        if r[1]:
            print(f"| `{r[0]}` | {r[1]} | {r[2]} |")


if len(sys.argv) == 3 and sys.argv[1] == "--criterion":
    criterion_table(sys.argv[2])
    sys.exit(0)


def load(path):
    samples = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, _, value = line.partition(" ")
            samples[key].append(value)
    return samples


S = load(sys.argv[1])


def text(key, default="?"):
    return S[key][0] if S.get(key) else default


def nums(key):
    out = []
    for v in S.get(key, []):
        try:
            out.append(float(v))
        except ValueError:
            pass
    return out


def median(key):
    v = nums(key)
    return statistics.median(v) if v else None


def peak(key):
    v = nums(key)
    return max(v) if v else None


def ratio(a, b):
    return a / b if a is not None and b else None


def pct(values, q):
    """Nearest-rank percentile."""
    if not values:
        return None
    values = sorted(values)
    rank = max(1, -(-len(values) * q // 100))
    return values[int(rank) - 1]


def fmt_mbps(v):
    return "—" if v is None else f"{v:,.0f} MB/s"


def fmt_ms(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f} ms"


def fmt_x(v):
    return "—" if v is None else f"{v:.2f}×"


def fmt_mib(kib):
    return "—" if kib is None else f"{kib / 1024:,.1f} MiB"


def fmt_count(v):
    return "—" if v is None else f"{v:,.0f}"


def status(ok):
    if ok is None:
        return "no data"
    return "met" if ok else "**NOT MET**"


rows = []


def row(case, measure, value, target="", ok=None, has_target=None, of=None):
    """One table row; `of` is (rate, limit) for a rate: its fraction of the tightest limit."""
    if has_target is None:
        has_target = bool(target)
    rows.append((case, measure, value, of_limit(*of) if of else "", target, status(ok) if has_target else ""))


def tightest(*names):
    """The lowest of the named limits measured in this run, as (MB/s, name)."""
    have = [(v, n) for n, v in ((n, LIMITS.get(n)) for n in names) if v]
    return min(have) if have else None


def of_limit(rate, limit):
    if rate is None or not limit:
        return ""
    return f"{100 * rate / limit[0]:.0f} % of {limit[1]}"


big_mib = int(text("env_big_mib", "1024"))
GIB = big_mib / 1024
big = f"{big_mib // 1024} GiB" if big_mib % 1024 == 0 else f"{big_mib} MiB"
runs = text("env_runs", "?")

# ---- limits and baselines
iperf = median("iperf_mbps")
sha2 = median("sha2_mbps")
ossl = median("openssl_mbps")
dd_sync = median("dd_fsync_mbps")
dd_cache = median("dd_cache_mbps")
curl = median("curl_mbps")
curl_sync = median("curl_sync_mbps")
curl_ver = median("curl_verified_mbps")
seed = median("seed_mbps")
seed_q = median("seed_query_ms")
# What bounds each transfer from above, measured in this same run: the tightest of those
# that apply is the denominator of the table's "of the limit" column.
LIMITS = {
    "TCP": iperf,
    "sha2": sha2,
    "openssl": ossl,
    "dd+fsync": dd_sync,
    "dd": dd_cache,
    "the link (iperf3)": median("case7_iperf_mbps"),
    "the 3 links (iperf3)": median("case8_iperf_sum_mbps"),
}

row("limit", "TCP over loopback: `iperf3`, 1 stream, 4 s", fmt_mbps(iperf))
row("limit", f"SHA-256 of {big} from the page cache: sha2 over mmap (`examples/sha256_file`)", fmt_mbps(sha2))
row("limit", "SHA-256, same file: `openssl dgst -sha256`", fmt_mbps(ossl))
row("limit", f"disk write of {big}: `dd bs=4M conv=fsync` (without fsync: {fmt_mbps(dd_cache)})", fmt_mbps(dd_sync))
curl_cpu = median("curl_cpu_s")
row(
    "baseline",
    "nginx (sendfile) → `curl -o file`"
    + ("" if curl_cpu is None else f" (curl's CPU per run: {curl_cpu:.2f} s)"),
    fmt_mbps(curl),
    of=(curl, tightest("TCP", "dd")),
)
row("baseline", "nginx → `curl -o file && sync file` (durable, as p2p lands files)", fmt_mbps(curl_sync),
    of=(curl_sync, tightest("TCP", "dd+fsync")))
row("baseline", "nginx → `curl | tee file | openssl dgst -sha256` (saved and verified)", fmt_mbps(curl_ver),
    of=(curl_ver, tightest("TCP", "openssl", "dd")))
row(
    "baseline",
    f"seed Python server → seed client reading 4096 B at a time as `seed_client.py` does, `download:<hash>` → file "
    f"(reading 1 MiB at a time: {fmt_mbps(median('seed_1mib_mbps'))}; the name query before it, in which the "
    f"server hashes the file, not counted: {fmt_ms(seed_q)})",
    fmt_mbps(seed),
    of=(seed, tightest("TCP", "dd")),
)

# ---- case 1
# A verified p2p download can be no faster than the network or one SHA-256 pass. `dd
# conv=fsync` is no bound for it: dd writes everything, then flushes, where p2p flushes
# while it receives (it is the bound of `curl && sync`, which works as dd does).
P2P_LIMIT = tightest("TCP", "sha2")
c1 = median("case1_mbps")
c1_rep = median("case1_reported_mbps")
c1_ms = median("case1_elapsed_ms")
row(
    "1",
    f"`p2p get` {big}, 1 source, P2P/2 (TLS 1.3), verified + fsync, whole command "
    f"(p2p's own `mb_per_s`: {fmt_mbps(c1_rep)}, `elapsed_ms` {fmt_ms(c1_ms)})",
    fmt_mbps(c1),
    of=(c1, P2P_LIMIT),
)


def cpu_rows(case, label, targets):
    """Client and serving-peer CPU per GiB of a get, against one SHA-256 pass (issue 16);
    over a shaped link, also beside the receiving and sending iperf3's own CPU per GiB."""
    u, s = median(f"{case}_client_user_s"), median(f"{case}_client_sys_s")
    if u is None or s is None or not sha2:
        return
    one_pass = 1024 * 1.048576 / sha2  # seconds per GiB
    client = (u + s) / GIB
    server = (median(f"{case}_servers_cpu_s") or 0) / GIB
    rx, tx = median(f"{case}_iperf_rx_cpu"), median(f"{case}_iperf_tx_cpu")
    number = case[4] if case.startswith("case") else case
    row(
        number,
        f"… client CPU per GiB{label}: user {u / GIB:.2f} s + system {s / GIB:.2f} s "
        f"= {client:.2f} s, ÷ one SHA-256 pass over a GiB at the sha2 limit ({one_pass:.2f} s)"
        + ("" if rx is None else f"; the receiving iperf3: {rx:.2f} s a GiB"),
        fmt_x(client / one_pass),
        "≤ 2.5×" if targets else "",
        client / one_pass <= 2.5,
    )
    row(
        number,
        f"… serving peer CPU per GiB{label}: {server:.2f} s, ÷ the same pass"
        + ("" if tx is None else f"; the sending iperf3: {tx:.2f} s a GiB"),
        fmt_x(server / one_pass),
        "≤ 1.0×" if targets else "",
        server / one_pass <= 1.0,
    )


cpu_rows("case1", "", True)
# Issue 16's targets for case 1.
r = ratio(c1, curl_sync)
row("1", "… ÷ nginx→curl + sync (same durability)", fmt_x(r), "≥ 1.5×", None if r is None else r >= 1.5)
r = ratio(c1, curl_ver)
row("1", "… ÷ nginx→curl | tee | openssl (same verification)", fmt_x(r), "≥ 1.2×", None if r is None else r >= 1.2)
r = ratio(c1, seed)
row("1", "… ÷ seed Python (where we come from; neither verified nor durable)", fmt_x(r), "≥ 1.0×",
    None if r is None else r >= 1.0)
r = ratio(c1, curl)
row("1", "… ÷ nginx→curl (neither verified nor durable)", fmt_x(r))
c1p = median("case1plain_mbps")
row(
    "1",
    f"`p2p get` {big}, 1 source, P2P/1 in the clear (a peer with `[server] p2p2 = false`, "
    f"same rounds, turn about with the P2P/2 get; `mb_per_s` {fmt_mbps(median('case1plain_reported_mbps'))}, "
    f"`elapsed_ms` {fmt_ms(median('case1plain_elapsed_ms'))})",
    fmt_mbps(c1p),
    of=(c1p, P2P_LIMIT),
)
cpu_rows("case1plain", ", P2P/1", False)
r = ratio(c1, c1p)
# Each round runs the two back to back: the ratio within a round cancels most of what the
# rest of the machine does to both (only when no round failed, so the pairs line up).
a, b = nums("case1_mbps"), nums("case1plain_mbps")
paired = statistics.median(x / y for x, y in zip(a, b)) if a and len(a) == len(b) and all(b) else None
row(
    "1",
    "… P2P/2 ÷ P2P/1, ratio of the medians: what encryption costs, DESIGN §7"
    + ("" if paired is None else f" (taken within each round, then the median: {fmt_x(paired)}, n={len(a)})"),
    fmt_x(r),
    "≥ 0.8×",
    None if r is None else r >= 0.8,
)

# ---- case 2
c2 = median("case2_mbps")
split = S.get("case2_served_pct", ["?"])[len(S.get("case2_served_pct", ["?"])) // 2]
row(
    "2",
    f"`p2p get` {big} from 3 peers at once (median run's bytes per peer: {split} % of the file; "
    f"fetched {median('case2_fetched_pct') or 0:.1f} % of the size; `mb_per_s` {fmt_mbps(median('case2_reported_mbps'))})",
    fmt_mbps(c2),
    of=(c2, P2P_LIMIT),
)
r = ratio(c2, c1)
row("2", "… ÷ case 1", fmt_x(r), "≥ 1.0×", None if r is None else r >= 1.0)

# ---- case 3
cold = median("case3_cold_ms")
cold_ossl = median("case3_openssl_ms")
cold_files = text("case3_cold_files")
row("3", f"cold index, {cold_files} files: `p2p --json rescan`, empty state_dir, whole command", fmt_ms(cold))
row("3", "… `find | xargs -0 openssl dgst -sha256`, same files, one process", fmt_ms(cold_ossl))
r = ratio(cold_ossl, cold)
row("3", "… openssl time ÷ p2p time", fmt_x(r), "≥ 1.6×", None if r is None else r >= 1.6)
warm = median("case3_warm_ms")
warm_files = text("case3_warm_files")
row("3", f"warm `p2p --json rescan` over {warm_files} unchanged files", fmt_ms(warm), "< 1 s",
    None if warm is None else warm < 1000)
m = re.search(r"(\d+) hashed", text("case3_warm_serve_line", ""))
serve_hashed = int(m.group(1)) if m else None
json_hashed = peak("case3_warm_json_hashed")
row(
    "3",
    f"warm: files re-hashed (`p2p serve` restart says: \"{text('case3_warm_serve_line', '?')}\"; "
    f"`rescan` JSON `hashed`: {fmt_count(json_hashed)})",
    fmt_count(serve_hashed),
    "0",
    None if serve_hashed is None else serve_hashed == 0 and json_hashed == 0,
)

# ---- case 4
search_ms = nums("case4_ms")
p50, p99 = pct(search_ms, 50), pct(search_ms, 99)
peers_ok = nums("case4_peers_ok")
row("4", f"`search` fan-out to {fmt_count(max(peers_ok) if peers_ok else None)} peers, p50 (n={len(search_ms)})", fmt_ms(p50, 1))
row("4", f"… p99 (min peers answering: {fmt_count(min(peers_ok) if peers_ok else None)})", fmt_ms(p99, 1), "< 50 ms",
    None if p99 is None else p99 < 50)

# ---- case 5
c5 = median("case5_mbps")
fails = nums("case5_failures") + nums("case5_verified_failures")
row("5", f"{text('env_clients')} clients at once × {text('env_read_mib')} MiB `read`s from 1 peer (`upload_slots` = {text('env_clients')}), aggregate (slowest client {fmt_ms(median('case5_client_ms_max'))})", fmt_mbps(c5),
    of=(c5, tightest("TCP")))
row("5", "… failed clients (all runs, + 1 run checking every byte)", fmt_count(sum(fails) if fails else None), "0",
    None if not fails else sum(fails) == 0)
rss5 = peak("case5_server_rss_kib")
row("5", "… server peak RSS (VmHWM)", fmt_mib(rss5), "< 200 MiB", None if rss5 is None else rss5 < 200 * 1024)

# ---- case 6
crss = peak("case1_client_rss_kib")
row("6", "client peak RSS, case 1 (`/usr/bin/time`, max of runs)", fmt_mib(crss), "< 100 MiB",
    None if crss is None else crss < 100 * 1024)
srss = peak("case1_server_rss_kib")
row("6", "server peak RSS, case 1 (VmHWM of the peer `--from` names; it also hashed the file at start and served in case 2)", fmt_mib(srss), "< 100 MiB (DESIGN §4)",
    None if srss is None else srss < 100 * 1024)
row("6", "client peak RSS, case 2 (3 sources)", fmt_mib(peak("case2_client_rss_kib")), "< 100 MiB",
    None if peak("case2_client_rss_kib") is None else peak("case2_client_rss_kib") < 100 * 1024)

# ---- cases 7 and 8: shaped links between network namespaces
if S.get("links_skipped"):
    row("7, 8", f"shaped links: not run ({text('links_skipped')})", "—")
else:
    lim7 = tightest("the link (iperf3)")
    row("7", "limit: `iperf3 -R` over one veth link shaped with `tbf` to 1 Gbit/s, 4 s", fmt_mbps(median("case7_iperf_mbps")))
    c7 = median("case7_mbps")
    row("7", f"`p2p get` {big} over that link, `--from` the peer behind it, P2P/2, verified + fsync, whole command "
        f"(`mb_per_s` {fmt_mbps(median('case7_reported_mbps'))})", fmt_mbps(c7), of=(c7, lim7))
    r = ratio(c7, lim7[0] if lim7 else None)
    row("7", "… ÷ iperf3 over the same link (link saturation)", fmt_x(r), "≥ 0.9×", None if r is None else r >= 0.9)
    cpu_rows("case7", " at the link's rate", False)
    lim8 = tightest("the 3 links (iperf3)")
    row("8", "limit: three `iperf3 -R` at once, each over its own link shaped to 200 Mbit/s, 4 s: the sum",
        fmt_mbps(median("case8_iperf_sum_mbps")))
    c8 = median("case8_mbps")
    split8 = S.get("case8_served_pct", ["?"])[len(S.get("case8_served_pct", ["?"])) // 2]
    row("8", f"`p2p get` {big} from the three peers behind those links (median run's bytes per peer: {split8} % "
        f"of the file; `mb_per_s` {fmt_mbps(median('case8_reported_mbps'))})", fmt_mbps(c8), of=(c8, lim8))
    r = ratio(c8, lim8[0] if lim8 else None)
    row("8", "… ÷ the sum of the three links (sources add up)", fmt_x(r), "≥ 0.85×", None if r is None else r >= 0.85)
    c8curl = median("case8_curl_mbps")
    row("8", "… `curl` from an nginx behind one of the links (4 s, mean rate)", fmt_mbps(c8curl),
        of=(c8curl, (lim8[0] / 3, "one link (⅓ of the sum)") if lim8 else None))
    r = ratio(c8, c8curl)
    row("8", "… p2p from three ÷ curl from one", fmt_x(r))
    cpu_rows("case8", " at the links' rate", False)
    for case in ("case7", "case8"):
        rss = peak(f"{case}_client_rss_kib")
        row(case[4], f"client peak RSS, case {case[4]}", fmt_mib(rss), "< 100 MiB", None if rss is None else rss < 100 * 1024)

# ---- print
print(
    f"p2p benchmarks, {text('env_date')} · nproc {text('env_nproc')} · {text('env_cpu')} · "
    f"Linux {text('env_kernel')} · commit {text('env_commit')} · {runs} runs per transfer, medians · "
    f"MB = 10^6 bytes · run.sh took {text('env_seconds')} s · load average {text('env_load_start')} before, "
    f"{text('env_load_end')} after"
)
busy, own, secs = nums("env_busy_s"), nums("env_own_s"), nums("env_seconds")
if busy and own and secs:
    others = max(0.0, busy[0] - own[0])
    print()
    print(
        f"CPU time during the run: {busy[0]:.0f} core-seconds busy on the machine, {own[0]:.0f} of them this run's "
        f"processes; the rest ({others:.0f} s, {100 * others / (secs[0] * float(text('env_nproc', '1'))):.0f} % of "
        "the machine) went to kernel threads and anything else running, which skews the figures when large."
    )
steal = nums("env_steal_s")
if steal and secs:
    print()
    print(
        f"Steal time during the run: {steal[0]:.0f} core-seconds ({100 * steal[0] / (secs[0] * float(text('env_nproc', '1'))):.0f} % "
        "of the machine): the hypervisor ran others while this VM wanted to; every figure is slower by about that much."
    )
print()
print("| case | measure | median | of the limit | target | status |")
print("|---|---|---:|---|---|---|")
for cells in rows:
    # A `|` inside a cell (a shell pipe) would end the cell: GFM wants it escaped.
    print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")

notes = []
cold_line = text("case3_cold_serve_line", "")
if cold_line:
    m = re.search(r"in (\d+) ms", cold_line)
    scan_ms = int(m.group(1)) if m else None
    extra = ""
    if scan_ms and cold_ossl:
        extra = f" (openssl time ÷ that scan alone: {fmt_x(cold_ossl / scan_ms)})"
    notes.append(f"case 3, the cold index as `p2p serve` reports it: \"{cold_line}\"{extra}")
jh = peak("case3_cold_json_hashed")
if jh is not None and str(int(jh)) != cold_files:
    notes.append(
        f"`p2p --json rescan` on an empty state_dir reports `hashed` {int(jh)} of {cold_files}: a one-shot session "
        "indexes its shares on first use, and `rescan` then walks them again and reports that second walk"
    )
for key in sorted(S):
    if key.endswith("_error"):
        for v in sorted(set(S[key])):
            notes.append(f"{key}: {v}")
errs = [e for e in S.get("case5_errors", []) if e != "-"]
for e in sorted(set(errs)):
    notes.append(f"case 5 errors: {e}")
if notes:
    print()
    for n in notes:
        print(f"- {n}")
