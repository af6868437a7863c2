#!/usr/bin/env python3
"""Connect latency for bench/net.sh: a fresh TCP connection, one byte there and back, close.

  tcp-rr.py server HOST PORT        echo one byte per connection, forever
  tcp-rr.py client HOST PORT N      N rounds; prints "median_us p90_us"
"""
import socket, statistics, sys, threading, time


def serve(host, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    print("ready", flush=True)

    def one(c):
        with c:
            b = c.recv(1)
            if b:
                c.sendall(b)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def client(host, port, n):
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        with socket.create_connection((host, port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"x")
            if s.recv(1) != b"x":
                sys.exit("bad echo")
        times.append((time.perf_counter_ns() - t) / 1000)
    times.sort()
    print(f"{statistics.median(times):.0f} {times[int(len(times) * 0.9)]:.0f}")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
