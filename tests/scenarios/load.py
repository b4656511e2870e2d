#!/usr/bin/env python3
"""Load generators for the replication scenarios (tests/scenarios/run.sh).

  load.py fill HOST PORT KEYS VALUE_BYTES SEED     random (incompressible) values, pipelined
  load.py writes HOST PORT KEYS VALUE_BYTES BYTES_PER_S SECONDS SEED
                                                   overwrite random keys at a fixed byte rate
  load.py mix HOST PORT OPS SEED                   a 3scale-like mix: 62% writes on keys
                                                   following regular patterns
  load.py stamp HOST PORT SECONDS                  one INCR per 10 ms on a counter

Raw RESP over a socket (no client library); replies are read and counted, errors reported.
"""
import random
import socket
import sys
import time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pending = 0
        self.errors = 0

    def send(self, data, count):
        self.s.sendall(data)
        self.pending += count

    def drain(self, leave=0):
        """Reads replies until at most `leave` are outstanding (simple replies only)."""
        while self.pending > leave:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise SystemExit("connection closed")
                self.buf += chunk
            # Replies here are +OK, :n, $n\r\n..., -ERR, or *n arrays of bulks.
            n = self._skip(0)
            if n is None:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise SystemExit("connection closed")
                self.buf += chunk
                continue
            self.buf = self.buf[n:]
            self.pending -= 1

    def _skip(self, pos):
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            return None
        t = self.buf[pos:pos + 1]
        line = self.buf[pos + 1:end]
        if t in (b"+", b":"):
            return end + 2
        if t == b"-":
            self.errors += 1
            if self.errors <= 3:
                sys.stderr.write("error reply: %s\n" % line.decode(errors="replace"))
            return end + 2
        if t == b"$":
            n = int(line)
            if n < 0:
                return end + 2
            if len(self.buf) < end + 2 + n + 2:
                return None
            return end + 2 + n + 2
        if t == b"*":
            n = int(line)
            p = end + 2
            for _ in range(max(n, 0)):
                p = self._skip(p)
                if p is None:
                    return None
            return p
        raise SystemExit("unexpected reply %r" % self.buf[pos:pos + 40])


def fill(host, port, keys, vbytes, seed):
    rnd = random.Random(seed)
    c = Conn(host, port)
    batch = []
    for i in range(keys):
        batch.append(resp("SET", "key:%d" % i, rnd.randbytes(vbytes)))
        if len(batch) == 1000:
            c.send(b"".join(batch), len(batch))
            batch = []
            c.drain(4000)
    if batch:
        c.send(b"".join(batch), len(batch))
    c.drain(0)
    print("filled %d keys of %d bytes" % (keys, vbytes))


def writes(host, port, keys, vbytes, rate, seconds, seed):
    rnd = random.Random(seed)
    c = Conn(host, port)
    per_tick = max(1, int(rate / vbytes / 100))  # every 10 ms
    start = time.time()
    n = 0
    tick = 0
    while time.time() - start < seconds:
        batch = b"".join(
            resp("SET", "key:%d" % rnd.randrange(keys), rnd.randbytes(vbytes))
            for _ in range(per_tick))
        c.send(batch, per_tick)
        n += per_tick
        c.drain(per_tick * 50)
        tick += 1
        delay = start + tick * 0.01 - time.time()
        if delay > 0:
            time.sleep(delay)
    c.drain(0)
    print("wrote %d values (%.0f bytes/s)" % (n, n * vbytes / (time.time() - start)))


def mix(host, port, ops, seed):
    """A rate-limiting/analytics backend's traffic: per service, application and metric
    counters by period (INCRBY/HINCRBY + EXPIRE), usage sets, status strings; reads of the
    same keys. 62% of the commands write."""
    rnd = random.Random(seed)
    c = Conn(host, port)
    periods = ["minute", "hour", "day", "week", "month", "year", "eternity"]
    batch = []
    writes_n = 0
    for i in range(ops):
        svc = rnd.randrange(40) + 1000
        app = rnd.randrange(500) + 700000
        metric = rnd.randrange(12) + 8000
        period = rnd.choice(periods)
        stamp = "20261123%02d" % rnd.randrange(24)
        k = "stats/{service:%d}/cinstance:%d/metric:%d/%s:%s" % (svc, app, metric, period, stamp)
        r = rnd.random()
        if r < 0.30:
            cmd = resp("INCRBY", k, rnd.randrange(1, 5))
        elif r < 0.42:
            cmd = resp("HINCRBY", "stats/{service:%d}/metric:%d" % (svc, metric), period, 1)
        elif r < 0.52:
            cmd = resp("EXPIRE", k, 86400 * 7)
        elif r < 0.57:
            cmd = resp("SADD", "service:%d/active_apps" % svc, app)
        elif r < 0.62:
            cmd = resp("SET", "application/service_id:%d/id:%d/state" % (svc, app), "active")
        elif r < 0.85:
            cmd = resp("GET", k)
        elif r < 0.95:
            cmd = resp("HGET", "stats/{service:%d}/metric:%d" % (svc, metric), period)
        else:
            cmd = resp("SISMEMBER", "service:%d/active_apps" % svc, app)
        if r < 0.62:
            writes_n += 1
        batch.append(cmd)
        if len(batch) == 200:
            c.send(b"".join(batch), len(batch))
            batch = []
            c.drain(2000)
    if batch:
        c.send(b"".join(batch), len(batch))
    c.drain(0)
    print("mix: %d ops, %d writes (%.0f%%)" % (ops, writes_n, 100.0 * writes_n / ops))


def stamp(host, port, seconds):
    c = Conn(host, port)
    start = time.time()
    n = 0
    while time.time() - start < seconds:
        c.send(resp("INCR", "stamp"), 1)
        c.drain(0)
        n += 1
        time.sleep(0.01)
    print("stamp: %d increments" % n)


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    if a[0] == "fill":
        fill(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    elif a[0] == "writes":
        writes(a[1], int(a[2]), int(a[3]), int(a[4]), float(a[5]), float(a[6]), int(a[7]))
    elif a[0] == "mix":
        mix(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif a[0] == "stamp":
        stamp(a[1], int(a[2]), float(a[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
