"""redis-py's Sentinel client following a failover (driven by tests/ha.rs).

Usage: follow.py SENTINEL_PORT[,SENTINEL_PORT...]
Prints "READY <master port>" once a write through master_for() succeeded, waits for a line
on stdin (the test kills the master first), then retries writes through the same client
object until one succeeds and prints "DONE <master port> <value of the first key>".
"""
import sys
import time

from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError
from redis.sentinel import Sentinel

ports = [int(p) for p in sys.argv[1].split(",")]
sentinel = Sentinel([("127.0.0.1", p) for p in ports], socket_timeout=0.5)
master = master_for = sentinel.master_for("mymaster", socket_timeout=0.5)
master.set("before", "1")
print("READY %d" % sentinel.discover_master("mymaster")[1], flush=True)
sys.stdin.readline()

deadline = time.time() + 60
errors = 0
while True:
    try:
        master.set("after", "2")
        break
    except (ConnectionError, TimeoutError, ReadOnlyError):
        errors += 1
        if time.time() > deadline:
            print("GAVE UP after %d errors" % errors, flush=True)
            sys.exit(1)
        time.sleep(0.2)
before = master.get("before")
print(
    "DONE %d %s %d"
    % (sentinel.discover_master("mymaster")[1], before.decode() if before else "nil", errors),
    flush=True,
)
