#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/.

    fuzz/seeds.py [cinnabar-server binary]

Real files: RDB files and DUMP payloads of every type and encoding, AOF files (plain and with
an RDB preamble) and manifests, written by the installed redis-server (7.0.15) and, when its
binary is given, by Cinnabar. Hand-built: RESP requests and replies, and the encodings
Redis 7 no longer writes (ziplist, zipmap, RDB version 9 values) built here from their
format. Every seed is small; the script is deterministic up to timestamps in the files.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- CRC-64 (Jones, reflected), as RDB files and DUMP payloads use ----
_POLY = 0x95AC9329AC4BC9B5
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc64(data, crc=0):
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


# ---- a minimal RESP client ----
def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return rest if t == b"+" else Exception(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ValueError(line)

    def __call__(self, *args):
        self.s.sendall(enc(*args))
        r = self._read()
        if isinstance(r, Exception):
            raise r
        return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(binary, d, *extra):
    port = free_port()
    p = subprocess.Popen(
        [binary, "--port", str(port), "--dir", d, "--save", "", "--appendonly", "no"]
        + list(extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            c = Conn(port)
            c("PING")
            return p, c
        except (OSError, EOFError):
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("server did not start: " + binary)


LIB = "#!lua name=seedlib\nredis.register_function('seedf', function(keys, args) return 1 end)"


def populate(c):
    """Keys of every type and encoding Redis 7.0 writes."""
    c("SET", "str:int", "12345")
    c("SET", "str:neg", "-9000000000")
    c("SET", "str:short", "hello")
    c("SET", "str:lzf", "abcabc" * 30)
    c("SET", "str:raw", bytes(range(200)))
    c("SET", "str:expire", "v", "PX", "100000000")
    c("RPUSH", "list:lp", "a", "1", "-20", "300000", "bbbbbbbbbbbbbbbbbbbbbbbbbb", "x" * 70)
    c("RPUSH", "list:nodes", *["e%d" % i for i in range(20)])
    c("SADD", "set:int", "1", "2", "-3", "70000", "5000000000")
    c("SADD", "set:table", "a", "b", "c", "1")
    c("HSET", "hash:lp", "f1", "v1", "f2", "2", "f3", "")
    c("HSET", "hash:table", "f", "v" * 80, "g", "1")
    c("ZADD", "zset:lp", "1", "a", "2.5", "b", "-inf", "c", "1e100", "d")
    c("ZADD", "zset:skip", "1", "m" * 80, "2", "n")
    for i in range(6):
        c("XADD", "stream", "1-%d" % (i + 1), "f", "v%d" % i, "g", str(i))
    c("XADD", "stream", "2-1", "other", "fields")
    c("XDEL", "stream", "1-2")
    c("XGROUP", "CREATE", "stream", "grp", "0")
    c("XREADGROUP", "GROUP", "grp", "alice", "COUNT", "3", "STREAMS", "stream", ">")
    c("XGROUP", "CREATECONSUMER", "stream", "grp", "bob")
    c("XGROUP", "CREATE", "stream", "grp2", "$")
    c("XADD", "stream:empty", "MAXLEN", "0", "5-5", "f", "v")
    c("PFADD", "hll", "a", "b", "c")
    try:
        c("FUNCTION", "LOAD", LIB)
    except Exception:
        pass
    c("SELECT", "3")
    c("SET", "db3", "x")
    c("SELECT", "0")
    return [
        "str:int", "str:neg", "str:short", "str:lzf", "str:raw", "list:lp", "list:nodes",
        "set:int", "set:table", "hash:lp", "hash:table", "zset:lp", "zset:skip", "stream",
        "stream:empty", "hll",
    ]


def harvest(binary, tag):
    d = tempfile.mkdtemp(prefix="cnb-seeds-")
    try:
        p, c = start(binary, d, "--list-max-listpack-size", "4")
        try:
            keys = populate(c)
            for k in keys:
                payload = c("DUMP", k)
                name = "%s-%s" % (tag, k.replace(":", "-"))
                put("restore_raw", name, payload)
                put("restore_crc", name, payload[:-10])
                put("rdb_value", name, b"\0\0" + payload[:-10])
                put("rdb_value", name + "-small-limits", b"\x01\x00" + payload[:-10])
            c("SAVE")
            with open(os.path.join(d, "dump.rdb"), "rb") as f:
                put("rdb_file", "%s-all-types" % tag, f.read())
            c("CONFIG", "SET", "rdbcompression", "no")
            c("FLUSHALL")
            c("SET", "k", "v" * 40)
            c("RPUSH", "l", "1", "2")
            c("SAVE")
            with open(os.path.join(d, "dump.rdb"), "rb") as f:
                put("rdb_file", "%s-small-uncompressed" % tag, f.read())
            # AOF: commands (with a transaction and timestamps), then a rewrite with an RDB
            # preamble plus an incr tail.
            c("FLUSHALL")
            c("CONFIG", "SET", "aof-use-rdb-preamble", "no")
            c("CONFIG", "SET", "aof-timestamp-enabled", "yes")
            c("CONFIG", "SET", "appendonly", "yes")
            wait_rewrite(c)
            c("SET", "a", "1")
            c("MULTI")
            c("INCR", "a")
            c("LPUSH", "l", "x", "y")
            c("EXEC")
            c("SELECT", "2")
            c("HSET", "h", "f", "v")
            c("EXPIRE", "h", "1000")
            aof_dir = os.path.join(d, "appendonlydir")
            for fn in sorted(os.listdir(aof_dir)):
                with open(os.path.join(aof_dir, fn), "rb") as f:
                    data = f.read()
                if fn.endswith(".manifest"):
                    put("aof_manifest", "%s-manifest-plain" % tag, data)
                elif data:
                    put("aof_file", "%s-%s" % (tag, fn.replace(".", "-")), data)
            c("CONFIG", "SET", "aof-use-rdb-preamble", "yes")
            c("BGREWRITEAOF")
            wait_rewrite(c)
            c("SET", "after", "rewrite")
            c("DEL", "a")
            time.sleep(1.2)
            for fn in sorted(os.listdir(aof_dir)):
                with open(os.path.join(aof_dir, fn), "rb") as f:
                    data = f.read()
                if fn.endswith(".manifest"):
                    put("aof_manifest", "%s-manifest-rewritten" % tag, data)
                elif ".base.rdb" in fn:
                    tail = b"".join(enc(*a) for a in (["SET", "t", "1"], ["DEL", "t"]))
                    put("aof_file", "%s-rdb-preamble-with-tail" % tag, data + tail)
                    put("rdb_file", "%s-aof-base" % tag, data)
        finally:
            p.kill()
            p.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_rewrite(c):
    for _ in range(200):
        info = c("INFO", "persistence").decode()
        if "aof_rewrite_in_progress:0" in info and "aof_rewrite_scheduled:0" in info:
            return
        time.sleep(0.05)


# ---- encodings Redis 7 only reads: built from the format ----
def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    return b"\x80" + struct.pack(">I", n)


def rdb_str(b):
    return rdb_len(len(b)) + b


def ziplist(items):
    body = b""
    prev = 0
    tail = 10
    for it in items:
        tail = 10 + len(body)
        e = bytes([prev]) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if isinstance(it, int):
            if 0 <= it <= 12:
                e += bytes([0xF1 + it])
            elif -128 <= it < 128:
                e += b"\xfe" + struct.pack("<b", it)
            elif -32768 <= it < 32768:
                e += b"\xc0" + struct.pack("<h", it)
            elif -(1 << 23) <= it < (1 << 23):
                e += b"\xf0" + struct.pack("<i", it)[:3]
            elif -(1 << 31) <= it < (1 << 31):
                e += b"\xd0" + struct.pack("<i", it)
            else:
                e += b"\xe0" + struct.pack("<q", it)
        else:
            n = len(it)
            if n < 64:
                e += bytes([n])
            elif n < 16384:
                e += bytes([0x40 | (n >> 8), n & 0xFF])
            else:
                e += b"\x80" + struct.pack(">I", n)
            e += it
        body += e
        prev = len(e)
    total = 10 + len(body) + 1
    return struct.pack("<IIH", total, tail, min(len(items), 65535)) + body + b"\xff"


def zipmap(pairs):
    out = bytes([min(len(pairs), 254)])
    for f, v in pairs:
        out += bytes([len(f)]) + f + bytes([len(v)]) + b"\x01" + v + b"\x00"
    return out + b"\xff"


def intset(vals, width):
    fmt = {2: "<h", 4: "<i", 8: "<q"}[width]
    return struct.pack("<II", width, len(vals)) + b"".join(struct.pack(fmt, v) for v in vals)


def legacy_values():
    """(name, type byte, body) of values in the old compact encodings."""
    zl_list = ziplist([b"a", 1, 200, -30000, 8000000, -2000000000, 9000000000, b"", b"q" * 70])
    return [
        ("hash-zipmap", 9, rdb_str(zipmap([(b"f1", b"v1"), (b"f2", b"value2"), (b"", b"x")]))),
        ("list-ziplist", 10, rdb_str(zl_list)),
        ("set-intset16", 11, rdb_str(intset([-5, 1, 300], 2))),
        ("set-intset64", 11, rdb_str(intset([-(1 << 40), 7], 8))),
        ("zset-ziplist", 12, rdb_str(ziplist([b"m1", b"1.5", b"m2", 3]))),
        ("hash-ziplist", 13, rdb_str(ziplist([b"f", b"v", b"n", 12]))),
        ("list-quicklist-v1", 14, rdb_len(2) + rdb_str(zl_list) + rdb_str(ziplist([b"z"]))),
        ("zset-v1", 3, rdb_len(2) + rdb_str(b"a") + b"\x031.5" + rdb_str(b"b") + b"\xfe"),
        ("list-v1", 1, rdb_len(2) + rdb_str(b"x") + b"\xc0\x05"),
        ("hash-v1", 4, rdb_len(1) + rdb_str(b"f") + b"\xc1\x00\x01"),
        ("set-v1", 2, rdb_len(2) + rdb_str(b"x") + b"\xc2\x01\x00\x00\x80"),
    ]


def hand_built():
    for name, t, body in legacy_values():
        payload = bytes([t]) + body + struct.pack("<H", 9)
        payload += struct.pack("<Q", crc64(payload))
        put("restore_raw", "legacy-" + name, payload)
        put("restore_crc", "legacy-" + name, bytes([t]) + body)
        put("rdb_value", "legacy-" + name, b"\0\0" + bytes([t]) + body)
    # An RDB version 6 file with all of them, expiry in seconds, and a version 9 one with
    # the aux fields, RESIZEDB, LRU/LFU opcodes and a module aux record.
    body = b"REDIS0006\xfe\x00"
    for name, t, b in legacy_values():
        body += b"\xfd" + struct.pack("<i", 2000000000) if name == "list-v1" else b""
        body += bytes([t]) + rdb_str(name.encode()) + b
    body += b"\xff"
    put("rdb_file", "legacy-v6", body + struct.pack("<Q", crc64(body)))
    v9 = b"REDIS0009"
    v9 += b"\xfa" + rdb_str(b"redis-ver") + rdb_str(b"6.2.0")
    v9 += b"\xfa" + rdb_str(b"ctime") + b"\xc2\x00\x00\x00\x60"
    v9 += b"\xfe\x00\xfb\x02\x01"
    v9 += b"\xf8\x05\x00" + rdb_str(b"idle") + rdb_str(b"v")
    v9 += b"\xf9\x07\x00" + rdb_str(b"freq") + rdb_str(b"v")
    v9 += b"\xfc" + struct.pack("<q", 4102444800000) + b"\x00" + rdb_str(b"ms") + rdb_str(b"v")
    v9 += b"\xf7\x01\x02\x02\x05" + rdb_str(b"mod") + b"\x00"
    v9 += b"\xff"
    put("rdb_file", "handmade-v9-opcodes", v9 + struct.pack("<Q", crc64(v9)))
    put("rdb_file", "handmade-v9-no-checksum", v9 + b"\0" * 8)

    requests = {
        "multibulk-set": b"\x00*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
        "pipeline-split": b"\x48*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*0\r\n",
        "inline-quotes": b"\x00set k \"a b\\x41\\n\" 'c\\'d'\r\nGET k\nping\r\n",
        "inline-unbalanced": b"\x00set \"a\r\n",
        "empty-lines": b"\x10\r\n\n  \r\n*-1\r\n*1\r\n$-1\r\n",
        "unauth-limits": b"\x01*11\r\n$1\r\na\r\n",
        "bulk-limit": b"\x02*1\r\n$17\r\naaaaaaaaaaaaaaaaa\r\n",
        "bad-dollar": b"\x00*2\r\n$1\r\na\r\n:1\r\n",
        "big-counts": b"\x00*2147483648\r\n*1\r\n$99999999999999999999\r\n",
    }
    for n, b in requests.items():
        put("resp_request", n, b)
    replies = {
        "status-error-int": b"+OK\r\n-ERR wrong\r\n:-42\r\n",
        "bulk-nil-array": b"$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n",
        "nested": b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__sentinel__:hello\r\n:1\r\n"
        b"*2\r\n*1\r\n+a\r\n*2\r\n:1\r\n$0\r\n\r\n",
        "info": b"$120\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
        b"slave0:ip=127.0.0.1,port=6380,state=online,offset=1,lag=0\r\nmaster_repl_offset:1\r\n\r\n",
        "partial": b"*2\r\n$3\r\nab",
    }
    for n, b in replies.items():
        put("resp_reply", n, b)
    manifests = {
        "base-incr": b"file appendonly.aof.1.base.rdb seq 1 type b\n"
        b"file appendonly.aof.1.incr.aof seq 1 type i\n",
        "history-quoted": b"file \"a b.aof\" seq 3 type h\r\n# comment\n"
        b"file appendonly.aof.2.base.aof seq 2 type b\n"
        b"file 'x\\'y' seq 4 type i\nfile z seq 5 type i extra k\n",
        "bad-seq": b"file a seq 2 type i\nfile b seq 1 type i\n",
    }
    for n, b in manifests.items():
        put("aof_manifest", n, b)
    aofs = {
        "commands": enc("SELECT", "0") + enc("SET", "k", "v") + b"#TS:1700000000\r\n"
        + enc("MULTI") + enc("INCR", "n") + enc("EXEC"),
        "truncated-multi": enc("SET", "a", "b") + enc("MULTI") + enc("SET", "c", "d")
        + b"*2\r\n$3\r\nDEL",
        "bad-format": enc("SET", "a", "b") + b"$3\r\nfoo\r\n",
    }
    for n, b in aofs.items():
        put("aof_file", n, b)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    hand_built()
    harvest(shutil.which("redis-server") or "/usr/bin/redis-server", "redis")
    if len(sys.argv) > 1:
        harvest(sys.argv[1], "cinnabar")
    total = 0
    for root, _, files in os.walk(CORPUS):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print("seed corpus: %d bytes" % total)


if __name__ == "__main__":
    main()
