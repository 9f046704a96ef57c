#!/usr/bin/env python3
"""A P2P/1 peer that attacks the client, for tests/client_attack.rs. Standard library only.

Serves one file (ping, search, info, read) like an honest peer, except that the
answers to the op named by --on (ping, search, info, read or all) are replaced as
--mode says:

  honest        behave (names still come from --name-json)
  huge-len      a frame header claiming 4 GiB (0xffffffff), then random bytes for ever
  endless       a header claiming the largest frame the client may accept (1 MiB
                answer, 4 MiB data), then random bytes for ever
  extra-frames  the right answer, then 1000 more frames nobody asked for
  bad-utf8      an answer frame whose body is not UTF-8
  bad-json      an answer frame whose body is broken JSON
  big-answer    a search answer of a million results in one frame (~150 MB, over the
                1 MiB limit), really sent
  many-results  a search answer with as many results as fit in 1 MiB (far over the
                1000 asked for), all naming the real content

  claim         `info` claims --claim-size bytes in chunks of --claim-chunk (default:
                the size the protocol's rule gives) with made-up chunk hashes; `read`
                answers garbage of the length asked for (a peer lying about a file
                to make the client hold or write a lot)

  pex-flood     `peers` answers 10,000 entries: garbage, duplicates, closed ports, the
                peer's own address (a peer trying to make the client do unbounded work)

  --name-json J  the file's name in search and info answers, as a JSON string literal
                 (so that it may hold NUL, newlines, anything)
  --ping-name-json J  the peer's name in ping answers, the same way

"For ever" is bounded: a sender stops when the client goes away or after 60 s.
Prints "listening on HOST:PORT" (flushed) once ready; exits 0 on SIGTERM.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

PREAMBLE = b"\x00P2P\x01"
CHUNK = 1 << 20
MAX_ANSWER = 1 << 20
MAX_DATA = 4 << 20
FOREVER_S = 60


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return buf


def header(length, kind):
    return struct.pack(">IB", length, kind)


def send_frame(conn, kind, body):
    conn.sendall(header(len(body) + 1, kind) + body)


def answer(conn, obj):
    send_frame(conn, 2, json.dumps(obj).encode())


def send_forever(conn):
    """Random bytes until the client leaves or FOREVER_S pass."""
    block = os.urandom(64 * 1024)
    deadline = time.time() + FOREVER_S
    while time.time() < deadline:
        conn.sendall(block)


def result(meta, name=None):
    return {"name": name or meta["name"], "path": name or meta["name"], "size": meta["size"],
            "sha256": meta["sha256"], "modified": 0}


def rule_chunk_size(size):
    """DESIGN section 3: 1 MiB, doubled until the chunk list fits a 1 MiB answer."""
    max_chunks = max(1, (MAX_ANSWER - 16 * 1024) // 67)
    chunk = CHUNK
    while -(-size // chunk) > max_chunks:
        chunk *= 2
    return chunk


GARBAGE = bytes(range(256)) * 4096  # 1 MiB


def claim(conn, req, args, meta):
    op = req.get("op")
    size = args.claim_size
    chunk = args.claim_chunk or rule_chunk_size(size)
    if op == "info":
        count = -(-size // chunk)
        fake = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(count)]
        answer(conn, {"name": meta["name"], "size": size, "chunk_size": chunk, "chunks": fake})
    elif op == "read":
        offset, length = int(req["offset"]), int(req["len"])
        length = max(0, min(length, size - offset, MAX_DATA))
        conn.sendall(header(length + 1, 3))
        while length > 0:
            part = GARBAGE[:min(length, len(GARBAGE))]
            conn.sendall(part)
            length -= len(part)
    else:
        honest(conn, req, args, meta)


def honest(conn, req, args, meta):
    op = req.get("op")
    if op == "ping":
        name = json.loads(args.ping_name_json) if args.ping_name_json else "evil"
        answer(conn, {"name": name, "version": 1, "files": 1, "bytes": meta["size"]})
    elif op == "search":
        answer(conn, {"results": [result(meta)], "truncated": False})
    elif op == "peers":
        answer(conn, {"peers": []})
    elif op == "info":
        if req.get("sha256") != meta["sha256"]:
            return answer(conn, {"error": {"code": "not_found", "message": "no"}})
        answer(conn, {"name": meta["name"], "size": meta["size"], "chunk_size": CHUNK,
                      "chunks": meta["chunks"]})
    elif op == "read":
        if req.get("sha256") != meta["sha256"]:
            return answer(conn, {"error": {"code": "not_found", "message": "no"}})
        offset, length = int(req["offset"]), int(req["len"])
        with open(args.file, "rb") as f:
            f.seek(offset)
            data = f.read(max(0, min(length, meta["size"] - offset)))
        send_frame(conn, 3, data)
    else:
        answer(conn, {"error": {"code": "bad_request", "message": "unknown op"}})


def attack(conn, req, args, meta):
    op = req.get("op")
    kind = 3 if op == "read" else 2
    mode = args.mode
    if mode == "claim":
        claim(conn, req, args, meta)
    elif mode == "pex-flood" and op == "peers":
        own = "%s:%d" % conn.getsockname()[:2]
        peers = []
        for i in range(10_000):
            kind = i % 4
            if kind == 0:
                peers.append({"addr": "not an address %d" % i})
            elif kind == 1:
                peers.append({"addr": own, "name": "me"})
            elif kind == 2:
                peers.append({"addr": "127.0.0.%d:1" % (100 + i % 50), "name": "closed"})
            else:
                peers.append({"addr": "[::1", "name": None})
        answer(conn, {"peers": peers})
    elif mode == "huge-len":
        conn.sendall(header(0xFFFFFFFF, kind))
        send_forever(conn)
    elif mode == "endless":
        conn.sendall(header((MAX_DATA if kind == 3 else MAX_ANSWER) + 1, kind))
        send_forever(conn)
    elif mode == "extra-frames":
        honest(conn, req, args, meta)
        extra = os.urandom(CHUNK) if kind == 3 else json.dumps(
            {"results": [], "truncated": False}).encode()
        for _ in range(1000):
            send_frame(conn, kind, extra)
    elif mode == "bad-utf8":
        send_frame(conn, 2, b'\xff\xfe{"results": [], "truncated": false}\xc3\x28')
    elif mode == "bad-json":
        send_frame(conn, 2, b'{"results": [ {"name": "x", this is not json')
    elif mode == "big-answer" and op == "search":
        one = json.dumps(result(meta, "r0000000.bin")).encode()
        count = 1_000_000
        body_len = len(b'{"results":[') + count * (len(one) + 1) - 1 + len(b'],"truncated":false}')
        conn.sendall(header(body_len + 1, 2) + b'{"results":[')
        batch = []
        for i in range(count):
            item = json.dumps(result(meta, "r%07d.bin" % i)).encode()
            batch.append(item + (b"," if i + 1 < count else b""))
            if len(batch) == 10_000:
                conn.sendall(b"".join(batch))
                batch = []
        conn.sendall(b"".join(batch) + b'],"truncated":false}')
    elif mode == "many-results" and op == "search":
        results, size = [], 40
        i = 0
        while True:
            item = result(meta, "r%06d.bin" % i)
            size += len(json.dumps(item)) + 2
            if size > MAX_ANSWER - 1024:
                break
            results.append(item)
            i += 1
        answer(conn, {"results": results, "truncated": False})
    else:
        honest(conn, req, args, meta)


def serve(conn, args, meta):
    try:
        conn.settimeout(30)
        if recv_exact(conn, 5) != PREAMBLE:
            return
        conn.sendall(PREAMBLE)
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            body = recv_exact(conn, length)
            req = json.loads(body[1:])
            if args.on in ("all", req.get("op")):
                attack(conn, req, args, meta)
            else:
                honest(conn, req, args, meta)
    except (EOFError, OSError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mode", default="honest",
                        choices=["honest", "huge-len", "endless", "extra-frames", "bad-utf8",
                                 "bad-json", "big-answer", "many-results", "claim", "pex-flood"])
    parser.add_argument("--on", default="all",
                        choices=["ping", "search", "info", "read", "peers", "all"])
    parser.add_argument("--name-json")
    parser.add_argument("--ping-name-json")
    parser.add_argument("--claim-size", type=int, default=0)
    parser.add_argument("--claim-chunk", type=int, default=0)
    args = parser.parse_args()
    size = os.path.getsize(args.file)
    chunks = []
    digest = hashlib.sha256()
    with open(args.file, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            digest.update(block)
            chunks.append(hashlib.sha256(block).hexdigest())
    name = json.loads(args.name_json) if args.name_json else os.path.basename(args.file)
    meta = {"size": size, "sha256": digest.hexdigest(), "chunks": chunks, "name": name}

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, 0))
    srv.listen(64)
    print("listening on %s:%d" % srv.getsockname()[:2], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args, meta), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
