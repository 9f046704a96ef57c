#!/usr/bin/env python3
"""A TCP proxy that forwards to --target at no more than --rate bytes a second towards
the client (the server's answers); the other way goes at full speed. Standard library
only. Prints "listening on HOST:PORT" (flushed) once ready; exits 0 on SIGTERM, with
"forwarded N" (bytes towards clients) on stderr. With --record FILE, every byte it
forwards, both ways, is appended to FILE as it passes (what a wiretap would see).
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time

FORWARDED = [0]
LOCK = threading.Lock()
RECORD = [None]


def pump(src, dst, rate):
    started = time.monotonic()
    sent = 0
    try:
        while True:
            data = src.recv(16 * 1024)
            if not data:
                break
            if RECORD[0] is not None:
                with LOCK:
                    RECORD[0].write(data)
                    RECORD[0].flush()
            dst.sendall(data)
            if rate:
                sent += len(data)
                with LOCK:
                    FORWARDED[0] += len(data)
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--record")
    args = parser.parse_args()
    if args.record:
        RECORD[0] = open(args.record, "ab")
    host, port = args.target.rsplit(":", 1)

    def stop(*_):
        with LOCK:
            print("forwarded %d" % FORWARDED[0], file=sys.stderr, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, 0))
    srv.listen(64)
    print("listening on %s:%d" % srv.getsockname()[:2], flush=True)
    while True:
        client, _ = srv.accept()
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        # Small buffers, so that the rate is what the client sees, not what the kernel
        # soaks up ahead of it.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        threading.Thread(target=pump, args=(client, upstream, 0), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, args.rate), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
