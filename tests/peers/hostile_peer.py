#!/usr/bin/env python3
"""A P2P/1 peer that lies, for tests. Standard library only.

Serves one file (ping, search, info, read) like a real peer, except for what --mode says:

  honest         behave (a baseline)
  corrupt-reads  flip a byte in every read whose offset is a multiple of 3 MiB
  corrupt-chunk N  flip a byte in chunk N only (a liar that a spot check may miss)
  false-chunks   claim a chunk list where every third hash is wrong (bytes are honest)
  all-false-chunks  claim a chunk list where every hash is wrong (bytes are honest)
  wrong-bytes    send the right length of garbage for every read (chunk list honest)
  stall-after N  answer N reads, then go silent (connection kept open)
  close-after N  answer N reads, then close the connection

  --delay-ms MS  sleep this long before answering each read (a slow peer)
  --name NAME    the name to report in search/info (default: the file's base name),
                 e.g. "../../escape.txt" to test the client's sanitizing

Prints "listening on HOST:PORT" (flushed) once ready; on SIGTERM prints
"served N bytes" to stderr and exits 0.
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
served = 0
served_lock = threading.Lock()


def chunk_hashes(path, size):
    out = []
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            out.append(hashlib.sha256(block).hexdigest())
    return out


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return buf


def send_frame(conn, kind, body):
    conn.sendall(struct.pack(">IB", len(body) + 1, kind) + body)


def answer(conn, obj):
    send_frame(conn, 2, json.dumps(obj).encode())


def serve(conn, args, meta):
    global served
    reads = 0
    try:
        if recv_exact(conn, 5) != PREAMBLE:
            return
        conn.sendall(PREAMBLE)
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            body = recv_exact(conn, length)
            req = json.loads(body[1:])
            op = req.get("op")
            if op == "ping":
                answer(conn, {"name": "hostile", "version": 1, "files": 1, "bytes": meta["size"]})
            elif op == "search":
                answer(conn, {"results": [{"name": meta["name"], "path": meta["name"], "size": meta["size"],
                                           "sha256": meta["sha256"], "modified": 0}], "truncated": False})
            elif op == "info":
                if req.get("sha256") != meta["sha256"]:
                    answer(conn, {"error": {"code": "not_found", "message": "no"}})
                    continue
                chunks = list(meta["chunks"])
                if args.mode == "false-chunks":
                    chunks = [("0" * 64 if i % 3 == 1 else h) for i, h in enumerate(chunks)]
                elif args.mode == "all-false-chunks":
                    chunks = ["0" * 64 for _ in chunks]
                answer(conn, {"name": meta["name"], "size": meta["size"], "chunk_size": CHUNK, "chunks": chunks})
            elif op == "read":
                if req.get("sha256") != meta["sha256"]:
                    answer(conn, {"error": {"code": "not_found", "message": "no"}})
                    continue
                reads += 1
                if args.delay_ms:
                    time.sleep(args.delay_ms / 1000.0)
                if args.mode == "stall-after" and reads > args.n:
                    time.sleep(3600)
                if args.mode == "close-after" and reads > args.n:
                    return
                offset, length = int(req["offset"]), int(req["len"])
                with open(args.file, "rb") as f:
                    f.seek(offset)
                    data = bytearray(f.read(max(0, min(length, meta["size"] - offset))))
                if args.mode == "corrupt-reads" and data and offset % (3 * CHUNK) == 0:
                    data[len(data) // 2] ^= 0xFF
                if args.mode == "corrupt-chunk" and data and offset == args.n * CHUNK:
                    data[len(data) // 2] ^= 0xFF
                if args.mode == "wrong-bytes":
                    data = bytearray(os.urandom(len(data)))
                send_frame(conn, 3, bytes(data))
                with served_lock:
                    served += len(data)
            else:
                answer(conn, {"error": {"code": "bad_request", "message": "unknown op"}})
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
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="honest",
                        choices=["honest", "corrupt-reads", "corrupt-chunk", "false-chunks",
                                 "all-false-chunks", "wrong-bytes",
                                 "stall-after", "close-after"])
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--name")
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    size = os.path.getsize(args.file)
    with open(args.file, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    meta = {"size": size, "sha256": digest, "chunks": chunk_hashes(args.file, size),
            "name": args.name or os.path.basename(args.file)}

    def stop(*_):
        sys.stderr.write("served %d bytes\n" % served)
        sys.stderr.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(64)
    print("listening on %s:%d" % srv.getsockname(), flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args, meta), daemon=True).start()


if __name__ == "__main__":
    main()
