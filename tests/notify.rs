//! Keyspace notifications, differential: the same command sequence runs against the reference
//! redis-server and against Cinnabar, each watched by a `PSUBSCRIBE __key*__:*` subscriber, and
//! the streams of (channel, message) must be identical, in order — for every class (`KEA`,
//! `KEAnm`), for subsets (`Kl`, `Ez`, `Eg$`, `Kt`, `Exn`), for lazy expiry, and (as a set, since
//! the order of a sampling pass depends on the hash table) for active expiry.

use cinnabar_testkit::{cinnabar_bin, redis_bin, require_redis, split_args, Conn, Reply, Server};
use std::path::Path;
use std::time::Duration;

/// The end-of-run marker: published last, matched by the subscriber's pattern.
const MARK: &str = "__keyend__:x";

/// Strings, generic key commands, keymiss sources.
const STRINGS: &str = r#"
set foo bar
set foo baz
set foo bar EX 100
set foo bar NX
set foo2 bar XX
set foo bar GET
set nokey v GET
setnx foo x
setnx foo3 x
setex foo4 100 v
psetex foo5 100000 v
getset foo v2
getset newgs v
getdel foo
getdel foo
getex foo4 EX 200
getex foo4 PERSIST
getex foo4 PXAT 1
getex nokey
mset a 1 b 2
msetnx a 1 c 3
msetnx x1 1 x2 2
append a xyz
append newap xyz
setrange a 1 QQ
setrange newsr 3 Q
setrange newsr2 3 ""
incr cnt
incrby cnt 5
decr cnt
decrby cnt 2
incrbyfloat fl 1.5
get nokey
mget a nokey b
strlen nokey
getrange nokey 0 1
exists a nokey
type nokey
ttl nokey
pttl nokey
touch a nokey
del a b nokey
unlink c
set r1 v
rename r1 r2
set r3 v
rename r2 r3
renamenx r3 r4
renamenx r4 x1
copy r4 cp1
copy r4 cp1
copy r4 cp1 REPLACE
copy r4 cp2 DB 3
copy nokey cp3
move r4 5
select 5
get r4
select 0
expire x1 100
pexpire x1 100000
expireat x1 99999999999
expire x1 -1
persist x2
expire x2 100
persist x2
setbit bits 7 1
setbit bits 7 1
setbit bits 7 0
setbit bits2 100 0
bitfield bf set u8 0 255
bitfield bf set u8 0 255
bitfield bf get u8 0
bitfield bf2 overflow fail incrby u2 0 10
set s1 abc
set s2 xyz
bitop and bd s1 s2
bitop and bd nokey nokey2
getbit nokey 1
bitcount nokey
pfadd hll a b c
pfadd hll a
pfadd hll2
pfmerge hll3 hll hll2
pfcount hll nokey
pfcount hll
pfcount nokey
set dk v
dump dk
dump nokey
lcs dk nokey
object encoding nokey
bitfield nokey get u8 0
bitfield_ro nokey get u8 0
bitpos nokey 1
getex nokey EX 10
randomkey
"#;

/// Lists, hashes, sets (the emptied-key `del` after each kind of removal).
const COLLECTIONS: &str = r#"
lpush l a b c
rpush l d e
lpushx l z
lpushx nolist z
rpushx nolist z
lpop l
rpop l 2
lpop l 0
linsert l before b X
linsert l after nope Y
lset l 0 Q
lrem l 1 Q
lrem l 1 nope
ltrim l 0 1
ltrim l 5 10
rpush l2 a
rpoplpush l2 l3
lmove l3 l3 left right
lmove l3 l4 left right
lmpop 2 nolist l4 left count 5
rpush l5 a b c
blpop l5 0
brpop l5 0
blmove l5 l6 left left 0
blmpop 0 1 l6 right
rpush sl 3 1 2
sort sl store sorted
sort nokey store sorted
lrange nolist 0 -1
llen nolist
lpos nolist a
rpush sl2 1 2
sort sl2 by w_* get o_*
hset h a 1 b 2
hmset h c 3
hsetnx h a 5
hsetnx h z 5
hincrby h a 4
hincrbyfloat h a 1.5
hdel h nope
hdel h a b c z
hget nohash a
hgetall nohash
sadd s a b c
sadd s a
srem s nope
srem s a
smove s s2 b
smove s s2 c
sadd s3 1 2 3
spop s3
spop s3 0
spop s3 5
sadd s4 1 2 3 4 5 6 7 8 9 10
spop s4 3
spop s4 9
sadd s5 a b
sadd s6 b c
sinterstore si s5 s6
sinterstore si s5 nokey
sunionstore su s5 s6
sdiffstore sd s5 s6
sdiffstore sd s5 s5
smembers noset
scard noset
srandmember noset
smismember noset a
hrandfield nohash
"#;

/// Sorted sets and streams.
const ZSETS_STREAMS: &str = r#"
zadd z 1 a 2 b 3 c
zadd z 1 a
zadd z XX 5 nope
zadd z2 XX 1 a
zincrby z 2 a
zadd z INCR 1 b
zrem z nope
zrem z a
zadd z 4 d 5 e 6 f
zremrangebyscore z 100 200
zremrangebyscore z 0 3
zremrangebyrank z 0 0
zremrangebylex z - +
zadd za 1 a 2 b 3 c
zadd zb 2 b 3 c 4 d
zunionstore zu 2 za zb
zinterstore zi 2 za zb
zdiffstore zd 2 za zb
zdiffstore zd 2 za za
zrangestore zr za 0 1
zrangestore zr za 10 20
zrangestore zr nokey 0 1
zpopmin za
zpopmax zb 2
zpopmin za 0
zpopmax za 10
zmpop 2 nokey zb min count 5
zadd zc 1 x
bzpopmin zc 0
zadd zc 1 x 2 y
bzmpop 0 1 zc max
zscore nokey a
zrange nokey 0 -1
xadd st 1-1 f v
xadd st 2-1 f v
xadd st MAXLEN 1 3-1 f v
xadd st2 NOMKSTREAM 1-1 f v
xtrim st MAXLEN 0
xadd st 4-1 f v
xadd st 5-1 f v
xdel st 4-1 99-1
xdel st 99-1
xsetid st 10-1
xgroup create st g 0
xgroup create st g 0
xgroup create st3 g $ MKSTREAM
xgroup createconsumer st g alice
xgroup createconsumer st g alice
xreadgroup group g bob count 10 streams st >
xreadgroup group g bob count 10 streams st >
xclaim st g carol 0 5-1
xautoclaim st g dave 0 0
xautoclaim st g dave 0 0
xgroup setid st g 0
xgroup delconsumer st g nobody
xgroup delconsumer st g alice
xgroup destroy st g
xgroup destroy st g
xlen nokey
xrange nokey - +
xread count 1 streams nokey 0
zrandmember nokey
"#;

/// Lazy expiry (active expiry off), databases, MULTI/EXEC and scripts.
const LAZY_AND_UNITS: &str = r#"
debug set-active-expire 0
set k1 v PX 20
set k2 v PX 20
set k3 v PX 20
lpush kl a
pexpire kl 20
@sleep 100
get k1
set k2 new
exists k3
lpush kl b
set m1 v
move m1 3
select 3
set m2 v
move m2 0
select 0
set c1 v
copy c1 c1 DB 2
copy c1 c2 DB 0
multi
set t1 v
lpush t2 a
del t1
exec
eval "redis.call('set','e1','v'); redis.call('lpush','e2','x'); redis.call('del','e1'); return 1" 0
swapdb 0 4
flushall
set d1 v PX 10
set d2 v PX 10
set d3 v PX 10
set d4 v PX 10
set d5 v PX 10
set d6 v PX 10
sadd src a
set r v
@sleep 50
mset d1 x
sinterstore d2 src
rename r d3
bitop or d4 r
zunionstore d6 1 nokey
set d5 again
debug set-active-expire 1
"#;

fn start(bin: &Path) -> Server {
    Server::start(bin, &["--enable-debug-command", "yes"])
}

fn text(r: &Reply) -> String {
    r.as_str().unwrap_or_else(|| format!("{r}"))
}

/// Subscribes to every keyspace channel; returns the connection once the ack is read.
fn subscriber(srv: &Server) -> Conn {
    let mut sub = srv.conn();
    sub.set_read_timeout(Duration::from_secs(10));
    let ack = sub.call(&["PSUBSCRIBE", "__key*__:*"]);
    assert!(!ack.is_error(), "psubscribe: {ack}");
    sub
}

/// Reads messages until the end marker: (channel, payload) pairs.
fn drain(sub: &mut Conn) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let m = sub
            .read_reply()
            .unwrap_or_else(|e| panic!("subscriber read after {out:?}: {e}"));
        let Some(parts) = m.as_array() else {
            panic!("not a message: {m}");
        };
        assert!(parts.len() == 4, "not a pmessage: {m}");
        let (chan, msg) = (text(&parts[2]), text(&parts[3]));
        if chan == MARK {
            return out;
        }
        out.push((chan, msg));
    }
}

/// Runs `script` with `notify-keyspace-events flags` on a fresh server; the stream of events.
fn run(bin: &Path, flags: &str, script: &str) -> Vec<(String, String)> {
    let srv = start(bin);
    let mut c = srv.conn();
    let r = c.call(&["CONFIG", "SET", "notify-keyspace-events", flags]);
    assert!(!r.is_error(), "{flags}: {r}");
    let mut sub = subscriber(&srv);
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("@sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(100)));
            continue;
        }
        let args = split_args(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        c.call(&args);
    }
    c.call(&["PUBLISH", MARK, "end"]);
    drain(&mut sub)
}

fn compare(flags: &str, script: &str) {
    let want = run(&redis_bin(), flags, script);
    let got = run(&cinnabar_bin(), flags, script);
    if want != got {
        let n = want.iter().zip(&got).take_while(|(a, b)| a == b).count();
        panic!(
            "flags {flags}: streams differ at event {n}\nredis:    {:?}\ncinnabar: {:?}",
            &want[n..want.len().min(n + 6)],
            &got[n..got.len().min(n + 6)]
        );
    }
    assert!(
        flags.contains('m') || flags.contains('n') || !want.is_empty() || flags == "Kl",
        "no events at all for {flags}"
    );
}

#[test]
fn strings_and_generic_commands() {
    require_redis!();
    for flags in ["KEA", "KEAnm", "Eg$", "Km"] {
        compare(flags, STRINGS);
    }
}

#[test]
fn lists_hashes_sets() {
    require_redis!();
    for flags in ["KEA", "KEAnm", "Kl", "Eh", "Esg"] {
        compare(flags, COLLECTIONS);
    }
}

/// GEO commands (sorted sets underneath): GEOADD's `zadd`, the STORE forms' events, keymisses.
const GEO: &str = r#"
geoadd g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
geoadd g 13.361389 38.115556 Palermo
geoadd g XX CH 15 37 Catania
geoadd g NX 1 1 Catania
geopos g Palermo
geopos nokey a
geodist nokey a b
geohash g Palermo
georadius g 15 37 200 km STORE d1
georadius g 15 37 200 km STOREDIST d1
georadius g 0 0 1 km STORE d1
georadius nokey 0 0 1 km STORE d2
set d3 x
georadius nokey 0 0 1 km STORE d3
georadiusbymember g Palermo 300 km STORE d4
geosearch g FROMMEMBER Palermo BYRADIUS 300 km
geosearchstore d5 g FROMMEMBER Palermo BYRADIUS 300 km STOREDIST
geosearchstore d5 g FROMLONLAT 0 0 BYBOX 1 1 km
geosearch nokey FROMLONLAT 0 0 BYRADIUS 1 km
"#;

#[test]
fn geo_events() {
    require_redis!();
    for flags in ["KEA", "KEAnm", "Ez", "Eg"] {
        compare(flags, GEO);
    }
}

#[test]
fn zsets_and_streams() {
    require_redis!();
    for flags in ["KEA", "KEAnm", "Ez", "Kt"] {
        compare(flags, ZSETS_STREAMS);
    }
}

#[test]
fn lazy_expiry_databases_transactions_scripts() {
    require_redis!();
    for flags in ["KEA", "KEAnm", "Exn"] {
        compare(flags, LAZY_AND_UNITS);
    }
}

/// Active expiry: every key's `expired` event arrives without any command touching it. The
/// order of one sampling pass follows the hash table, so the events compare as a set.
#[test]
fn active_expiry() {
    require_redis!();
    let run_active = |bin: &Path| {
        let srv = start(bin);
        let mut c = srv.conn();
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEx"]);
        let mut sub = subscriber(&srv);
        for i in 0..5 {
            c.call(&["SET", &format!("ak{i}"), "v", "PX", "30"]);
        }
        c.call(&["SELECT", "2"]);
        c.call(&["HSET", "ah", "f", "v"]);
        c.call(&["PEXPIRE", "ah", "30"]);
        let mut got = Vec::new();
        while got.len() < 12 {
            let m = sub.read_reply().expect("expired event");
            let parts = m.as_array().expect("pmessage").to_vec();
            got.push((text(&parts[2]), text(&parts[3])));
        }
        got.sort();
        got
    };
    let want = run_active(&redis_bin());
    let got = run_active(&cinnabar_bin());
    assert_eq!(want, got);
}

/// Notifications off (the default): a subscriber to every channel gets nothing from writes.
#[test]
fn off_by_default() {
    let srv = start(&cinnabar_bin());
    let mut c = srv.conn();
    let mut sub = subscriber(&srv);
    c.call(&["SET", "a", "1"]);
    c.call(&["LPUSH", "l", "x"]);
    c.call(&["DEL", "a", "l"]);
    c.call(&["GET", "missing"]);
    c.call(&["PUBLISH", MARK, "end"]);
    assert!(drain(&mut sub).is_empty());
    // K or E is needed for anything to be published.
    c.call(&["CONFIG", "SET", "notify-keyspace-events", "A"]);
    c.call(&["SET", "a", "1"]);
    c.call(&["PUBLISH", MARK, "end"]);
    assert!(drain(&mut sub).is_empty());
    c.call(&["CONFIG", "SET", "notify-keyspace-events", "E$"]);
    c.call(&["SET", "a", "1"]);
    c.call(&["PUBLISH", MARK, "end"]);
    assert_eq!(drain(&mut sub), [("__keyevent@0__:set".into(), "a".into())]);
}

/// A replica publishes the events of the commands its master sends (as Redis does), but a
/// read of a key past its TTL on the replica raises no `expired`: the master's DEL does, as
/// `del`.
#[test]
fn replica_publishes_replicated_events() {
    require_redis!();
    let run_repl = |bin: &Path| {
        let master = start(bin);
        let replica = start(bin);
        let mut m = master.conn();
        let mut r = replica.conn();
        r.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let port = master.port().to_string();
        r.call(&["REPLICAOF", "127.0.0.1", &port]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while r.info_field("master_link_status").as_deref() != Some("up") {
            assert!(std::time::Instant::now() < deadline, "replica never synced");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut sub = subscriber(&replica);
        m.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        m.call(&["SET", "a", "1"]);
        m.call(&["SET", "e", "1", "PX", "50"]);
        m.call(&["LPUSH", "l", "x"]);
        m.call(&["LPOP", "l"]);
        std::thread::sleep(Duration::from_millis(120));
        // Past its TTL: the replica hides it but does not expire it.
        assert_eq!(r.call(&["GET", "e"]), Reply::Nil);
        // The master's lazy expiry sends DEL.
        m.call(&["GET", "e"]);
        m.call(&["WAIT", "1", "2000"]);
        r.call(&["PUBLISH", MARK, "end"]);
        drain(&mut sub)
    };
    let want = run_repl(&redis_bin());
    let got = run_repl(&cinnabar_bin());
    assert_eq!(want, got);
    assert!(got.iter().all(|(_, m)| m != "expired"), "{got:?}");
}

/// Blocked clients served by a push: the pop (and `del`) come after the push that woke them,
/// BLMOVE's push on its destination before the pop on its source; a served XREAD raises no
/// `keymiss` for the keys it was also waiting on (Redis does not look them up again).
#[test]
fn served_blocked_clients() {
    require_redis!();
    let run_blocked = |bin: &Path| {
        let srv = start(bin);
        let mut c = srv.conn();
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEAnm"]);
        let mut sub = subscriber(&srv);
        let mut b1 = srv.conn();
        let mut b2 = srv.conn();
        let mut b3 = srv.conn();
        b1.send_cmd(&["BLPOP", "bl", "0"]);
        b2.send_cmd(&["BLMOVE", "bm", "bm2", "LEFT", "RIGHT", "0"]);
        b3.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "nostream", "xs", "0", "$"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while c.info_field("blocked_clients").as_deref() != Some("3") {
            assert!(
                std::time::Instant::now() < deadline,
                "clients never blocked"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Key misses raised before this point (the XREAD's own lookups) are not compared:
        // drop them with a first marker.
        c.call(&["PUBLISH", MARK, "end"]);
        drain(&mut sub);
        c.call(&["RPUSH", "bl", "a", "b"]);
        c.call(&["RPUSH", "bm", "x"]);
        c.call(&["XADD", "xs", "1-1", "f", "v"]);
        for b in [&mut b1, &mut b2, &mut b3] {
            let r = b.read_reply().expect("served");
            assert!(!r.is_error(), "{r}");
        }
        c.call(&["PUBLISH", MARK, "end"]);
        drain(&mut sub)
    };
    let want = run_blocked(&redis_bin());
    let got = run_blocked(&cinnabar_bin());
    assert_eq!(want, got);
}
