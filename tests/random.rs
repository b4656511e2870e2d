//! Seeded random differential test: for each data type, a generator draws thousands of
//! commands (valid and invalid: wrong arity, bad numbers, wrong types, edge ranges) over a
//! small key and member space, so keys grow, shrink, convert between encodings and vanish. The
//! same sequence goes to the reference redis-server and to Cinnabar, and every reply must be
//! byte-identical (replies whose order Redis leaves unspecified are compared sorted).
//!
//! Environment: `RANDOM_SEED=n` (default: a fixed list of seeds), `RANDOM_COMMANDS=n` per type
//! and seed (default 3000), `RANDOM_TYPES=hash,list,...` to run only some generators,
//! `CINNABAR_SERVER_BIN` / `REDIS_SERVER_BIN` as for the differential test.

use cinnabar_testkit::{
    cinnabar_bin, encode_command, escape, normalized_reply, redis_bin, require_redis, Conn, Server,
};
use std::time::Duration;

/// xorshift64*: small, seedable, good enough to pick commands.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How a reply is compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Exact,
    Sorted,
    /// Only the RESP type (random picks).
    TypeOnly,
}

struct Cmd {
    args: Vec<Vec<u8>>,
    cmp: Cmp,
}

fn cmd(args: Vec<String>) -> Cmd {
    Cmd {
        args: args.into_iter().map(String::into_bytes).collect(),
        cmp: Cmp::Exact,
    }
}

fn sorted(args: Vec<String>) -> Cmd {
    Cmd {
        cmp: Cmp::Sorted,
        ..cmd(args)
    }
}

macro_rules! v {
    ($($x:expr),* $(,)?) => { vec![$($x.to_string()),*] };
}

/// A member/field/element: mostly from a small alphabet (so operations collide), sometimes an
/// integer (intsets, numeric fields), sometimes long (encoding conversions).
fn member(r: &mut Rng) -> String {
    match r.below(100) {
        0..=54 => format!("m{}", r.below(24)),
        55..=84 => format!("{}", r.range(-20, 300)),
        85..=94 => format!("{}", r.range(-5, 5)),
        95..=97 => format!("long{}-{}", r.below(6), "x".repeat(70)),
        _ => String::new(),
    }
}

fn index(r: &mut Rng) -> String {
    match r.below(10) {
        0 => r
            .pick(&[
                "abc",
                "1.5",
                "9223372036854775808",
                "-9223372036854775809",
                "",
            ])
            .to_string(),
        1 => format!("{}", r.range(-300, 300)),
        _ => format!("{}", r.range(-12, 12)),
    }
}

fn count(r: &mut Rng) -> String {
    match r.below(12) {
        0 => r
            .pick(&["-1", "abc", "0", "9223372036854775807"])
            .to_string(),
        1 => format!("{}", r.range(100, 400)),
        _ => format!("{}", r.range(1, 8)),
    }
}

fn score(r: &mut Rng) -> String {
    match r.below(20) {
        0 => r
            .pick(&["inf", "-inf", "+inf", "nan", "abc", "1e400", "0x10", ""])
            .to_string(),
        1 => format!("{}.{}", r.range(-50, 50), r.below(1000)),
        2 => format!("{}e{}", r.range(1, 9), r.range(-3, 3)),
        _ => format!("{}", r.range(-10, 10)),
    }
}

/// A score range bound: value, exclusive value, or infinity.
fn bound(r: &mut Rng) -> String {
    match r.below(10) {
        0 => r.pick(&["-inf", "+inf", "inf", "(abc", "x"]).to_string(),
        1..=3 => format!("({}", r.range(-10, 10)),
        _ => format!("{}", r.range(-10, 10)),
    }
}

fn lex_bound(r: &mut Rng) -> String {
    match r.below(10) {
        0 => r.pick(&["-", "+", "m", "bad"]).to_string(),
        1..=4 => format!("[m{}", r.below(24)),
        _ => format!("(m{}", r.below(24)),
    }
}

/// Keys: a few per type plus one shared by every generator (wrong-type errors).
fn key(r: &mut Rng, t: &str) -> String {
    if r.chance(4) {
        "shared".to_string()
    } else {
        format!("{t}{}", r.below(4))
    }
}

fn many(r: &mut Rng, n: u64, f: impl Fn(&mut Rng) -> Vec<String>) -> Vec<String> {
    let k = if r.chance(3) {
        r.range(100, 200) as u64
    } else {
        1 + r.below(n)
    };
    (0..k).flat_map(|_| f(r)).collect()
}

fn generic(r: &mut Rng, t: &str) -> Cmd {
    let (a, b) = (key(r, t), key(r, t));
    match r.below(9) {
        0 => cmd(v!["TYPE", a]),
        1 => cmd(v!["EXISTS", a, b]),
        2 => cmd(v!["DEL", a]),
        3 => cmd(v!["RENAME", a, b]),
        4 => cmd(v!["COPY", a, b, "REPLACE"]),
        5 => cmd(v!["SET", "shared", member(r)]),
        6 => cmd(v!["OBJECT", "ENCODING", a]),
        7 => cmd(v!["RENAMENX", a, b]),
        _ => cmd(v!["DBSIZE"]),
    }
}

fn gen_hash(r: &mut Rng) -> Cmd {
    let k = key(r, "h");
    let f = member(r);
    match r.below(22) {
        0..=3 => {
            let mut a = v!["HSET", k];
            a.extend(many(r, 3, |r| vec![member(r), member(r)]));
            if r.chance(3) {
                a.pop();
            }
            cmd(a)
        }
        4 => cmd(v!["HSETNX", k, f, member(r)]),
        5 | 6 => cmd(v!["HGET", k, f]),
        7 => cmd(v!["HMGET", k, f, member(r), member(r)]),
        8 => {
            let mut a = v!["HDEL", k];
            a.extend(many(r, 3, |r| vec![member(r)]));
            cmd(a)
        }
        9 => cmd(v!["HLEN", k]),
        10 => cmd(v!["HSTRLEN", k, f]),
        11 => cmd(v!["HEXISTS", k, f]),
        12 => sorted(v!["HKEYS", k]),
        13 => sorted(v!["HVALS", k]),
        14 => sorted(v!["HGETALL", k]),
        15 => cmd(v!["HINCRBY", k, f, index(r)]),
        16 => cmd(v!["HINCRBYFLOAT", k, f, score(r)]),
        17 => cmd(v!["HMSET", k, f, member(r)]),
        18 => Cmd {
            cmp: Cmp::TypeOnly,
            ..cmd(v!["HRANDFIELD", k, "-5"])
        },
        19 => sorted(v!["HRANDFIELD", k, "1000", "WITHVALUES"]),
        _ => generic(r, "h"),
    }
}

fn gen_list(r: &mut Rng) -> Cmd {
    let k = key(r, "l");
    let k2 = key(r, "l");
    let dir = |r: &mut Rng| r.pick(&["LEFT", "RIGHT", "left", "UP"]).to_string();
    match r.below(24) {
        0..=2 => {
            let mut a = v![r.pick(&["LPUSH", "RPUSH"]), k];
            a.extend(many(r, 4, |r| vec![member(r)]));
            cmd(a)
        }
        3 => cmd(v![r.pick(&["LPUSHX", "RPUSHX"]), k, member(r)]),
        4 => cmd(v![r.pick(&["LPOP", "RPOP"]), k]),
        5 => cmd(v![r.pick(&["LPOP", "RPOP"]), k, count(r)]),
        6 => cmd(v!["LLEN", k]),
        7 => cmd(v!["LINDEX", k, index(r)]),
        8 => cmd(v!["LSET", k, index(r), member(r)]),
        9 | 10 => cmd(v!["LRANGE", k, index(r), index(r)]),
        11 => cmd(v!["LTRIM", k, index(r), index(r)]),
        12 => cmd(v!["LREM", k, index(r), member(r)]),
        13 => cmd(v![
            "LINSERT",
            k,
            r.pick(&["BEFORE", "AFTER", "x"]),
            member(r),
            member(r)
        ]),
        14 => {
            let mut a = v!["LPOS", k, member(r)];
            if r.chance(50) {
                a.extend(v!["RANK", index(r)]);
            }
            if r.chance(50) {
                a.extend(v!["COUNT", count(r)]);
            }
            if r.chance(30) {
                a.extend(v!["MAXLEN", count(r)]);
            }
            cmd(a)
        }
        15 => cmd(v!["LMOVE", k, k2, dir(r), dir(r)]),
        16 => cmd(v!["RPOPLPUSH", k, k2]),
        17 => {
            let mut a = v!["LMPOP", r.pick(&["1", "2", "0", "x"]), k, k2, dir(r)];
            if r.chance(50) {
                a.extend(v!["COUNT", count(r)]);
            }
            cmd(a)
        }
        18 => cmd(v![r.pick(&["BLPOP", "BRPOP"]), k, k2, "0.01"]),
        19 => cmd(v!["BLMOVE", k, k2, dir(r), dir(r), "0.01"]),
        _ => generic(r, "l"),
    }
}

fn gen_set(r: &mut Rng) -> Cmd {
    let k = key(r, "s");
    let k2 = key(r, "s");
    let k3 = key(r, "s");
    match r.below(22) {
        0..=3 => {
            let mut a = v!["SADD", k];
            a.extend(many(r, 4, |r| vec![member(r)]));
            cmd(a)
        }
        4 => {
            let mut a = v!["SREM", k];
            a.extend(many(r, 3, |r| vec![member(r)]));
            cmd(a)
        }
        5 => sorted(v!["SMEMBERS", k]),
        6 => cmd(v!["SISMEMBER", k, member(r)]),
        7 => cmd(v!["SMISMEMBER", k, member(r), member(r)]),
        8 => cmd(v!["SCARD", k]),
        9 => cmd(v!["SMOVE", k, k2, member(r)]),
        10 => sorted(v!["SINTER", k, k2]),
        11 => cmd(v![
            "SINTERCARD",
            r.pick(&["2", "1", "0", "3"]),
            k,
            k2,
            "LIMIT",
            r.range(0, 5)
        ]),
        12 => cmd(v!["SINTERSTORE", k3, k, k2]),
        13 => sorted(v!["SUNION", k, k2]),
        14 => cmd(v!["SUNIONSTORE", k3, k, k2]),
        15 => sorted(v!["SDIFF", k, k2]),
        16 => cmd(v!["SDIFFSTORE", k3, k, k2]),
        17 => sorted(v!["SRANDMEMBER", k, "100000"]),
        _ => generic(r, "s"),
    }
}

/// Lex ranges are only defined when every score is equal (Redis's answer otherwise depends on
/// its skiplist's random levels), so they get keys whose members all have score 0.
fn lex_key(r: &mut Rng) -> String {
    format!("zlex{}", r.below(3))
}

fn gen_zset(r: &mut Rng) -> Cmd {
    if r.chance(15) {
        let k = lex_key(r);
        return match r.below(7) {
            0 | 1 => {
                let mut a = v!["ZADD", k];
                a.extend(many(r, 4, |r| vec!["0".to_string(), member(r)]));
                cmd(a)
            }
            2 => cmd(v!["ZLEXCOUNT", k, lex_bound(r), lex_bound(r)]),
            3 => cmd(v!["ZRANGEBYLEX", k, lex_bound(r), lex_bound(r)]),
            4 => cmd(v![
                "ZREVRANGEBYLEX",
                k,
                lex_bound(r),
                lex_bound(r),
                "LIMIT",
                "0",
                count(r)
            ]),
            5 => cmd(v!["ZREMRANGEBYLEX", k, lex_bound(r), lex_bound(r)]),
            _ => cmd(v![
                "ZRANGE",
                k,
                lex_bound(r),
                lex_bound(r),
                "BYLEX",
                "REV",
                "LIMIT",
                "1",
                count(r)
            ]),
        };
    }
    let k = key(r, "z");
    let k2 = key(r, "z");
    let k3 = key(r, "z");
    match r.below(34) {
        0..=3 => {
            let mut a = v!["ZADD", k];
            for f in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if r.chance(8) {
                    a.push(f.to_string());
                }
            }
            a.extend(many(r, 3, |r| vec![score(r), member(r)]));
            cmd(a)
        }
        4 => cmd(v!["ZINCRBY", k, score(r), member(r)]),
        5 => cmd(v!["ZSCORE", k, member(r)]),
        6 => cmd(v!["ZMSCORE", k, member(r), member(r)]),
        7 => cmd(v!["ZCARD", k]),
        8 => cmd(v!["ZCOUNT", k, bound(r), bound(r)]),
        9 => cmd(v!["ZCARD", k2]),
        10 | 11 => {
            let mut a = v!["ZRANGE", k];
            match r.below(3) {
                0 => a.extend(v![index(r), index(r)]),
                _ => a.extend(v![bound(r), bound(r), "BYSCORE"]),
            }
            if r.chance(30) {
                a.push("REV".into());
            }
            if r.chance(30) {
                a.extend(v!["LIMIT", index(r), index(r)]);
            }
            if r.chance(40) {
                a.push("WITHSCORES".into());
            }
            cmd(a)
        }
        12 => cmd(v!["ZRANGESTORE", k3, k, index(r), index(r)]),
        13 => cmd(v!["ZREVRANGE", k, index(r), index(r), "WITHSCORES"]),
        14 => cmd(v![
            "ZRANGEBYSCORE",
            k,
            bound(r),
            bound(r),
            "WITHSCORES",
            "LIMIT",
            index(r),
            count(r)
        ]),
        15 => cmd(v!["ZREVRANGEBYSCORE", k, bound(r), bound(r)]),
        16 => cmd(v!["ZRANGEBYSCORE", k, bound(r), bound(r)]),
        17 => cmd(v![
            "ZREVRANGEBYSCORE",
            k,
            bound(r),
            bound(r),
            "LIMIT",
            "0",
            count(r)
        ]),
        18 => cmd(v![r.pick(&["ZRANK", "ZREVRANK"]), k, member(r)]),
        19 => {
            let mut a = v!["ZREM", k];
            a.extend(many(r, 3, |r| vec![member(r)]));
            cmd(a)
        }
        20 => cmd(v!["ZREMRANGEBYRANK", k, index(r), index(r)]),
        21 => cmd(v!["ZREMRANGEBYSCORE", k, bound(r), bound(r)]),
        22 => cmd(v!["ZREMRANGEBYSCORE", k, bound(r), bound(r)]),
        23 | 24 => {
            let op = r.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
            let mut a = v![op, k3, "2", k, k2];
            if op != "ZDIFFSTORE" && r.chance(40) {
                a.extend(v!["WEIGHTS", score(r), score(r)]);
            }
            if op != "ZDIFFSTORE" && r.chance(40) {
                a.extend(v!["AGGREGATE", r.pick(&["SUM", "MIN", "MAX", "AVG"])]);
            }
            cmd(a)
        }
        25 => {
            let op = r.pick(&["ZUNION", "ZINTER", "ZDIFF"]);
            cmd(v![op, "2", k, k2, "WITHSCORES"])
        }
        26 => cmd(v!["ZINTERCARD", "2", k, k2, "LIMIT", r.range(0, 4)]),
        27 => cmd(v![r.pick(&["ZPOPMIN", "ZPOPMAX"]), k]),
        28 => cmd(v![r.pick(&["ZPOPMIN", "ZPOPMAX"]), k, count(r)]),
        29 => cmd(v![
            "ZMPOP",
            "2",
            k,
            k2,
            r.pick(&["MIN", "MAX", "x"]),
            "COUNT",
            count(r)
        ]),
        30 => cmd(v![r.pick(&["BZPOPMIN", "BZPOPMAX"]), k, k2, "0.01"]),
        _ => generic(r, "z"),
    }
}

fn gen_bits(r: &mut Rng) -> Cmd {
    let k = key(r, "b");
    let k2 = key(r, "b");
    let bit_off = |r: &mut Rng| format!("{}", r.range(0, 300));
    let range_unit = |r: &mut Rng| r.pick(&["", "BYTE", "BIT", "bit", "x"]).to_string();
    match r.below(16) {
        0..=2 => cmd(v!["SETBIT", k, bit_off(r), r.pick(&["0", "1", "1", "2"])]),
        3 => cmd(v!["GETBIT", k, bit_off(r)]),
        4 | 5 => {
            let mut a = v!["BITCOUNT", k];
            if r.chance(70) {
                a.extend(v![index(r), index(r)]);
                let u = range_unit(r);
                if !u.is_empty() {
                    a.push(u);
                }
            }
            cmd(a)
        }
        6 | 7 => {
            let mut a = v!["BITPOS", k, r.pick(&["0", "1", "2"])];
            if r.chance(70) {
                a.push(index(r));
                if r.chance(60) {
                    a.push(index(r));
                    let u = range_unit(r);
                    if !u.is_empty() {
                        a.push(u);
                    }
                }
            }
            cmd(a)
        }
        8 => {
            let op = r.pick(&["AND", "OR", "XOR", "NOT", "and", "NAND"]);
            let mut a = v!["BITOP", op, key(r, "b"), k];
            if op != "NOT" || r.chance(20) {
                a.push(k2);
            }
            cmd(a)
        }
        9..=11 => {
            let mut a = v![r.pick(&["BITFIELD", "BITFIELD", "BITFIELD_RO"]), k];
            for _ in 0..1 + r.below(3) {
                let t = format!(
                    "{}{}",
                    r.pick(&["i", "u", "x"]),
                    r.pick(&["1", "4", "8", "16", "63", "64", "0"])
                );
                let off = if r.chance(30) {
                    format!("#{}", r.range(0, 20))
                } else {
                    bit_off(r)
                };
                match r.below(5) {
                    0 => a.extend(v!["GET", t, off]),
                    1 => a.extend(v!["SET", t, off, index(r)]),
                    2 => a.extend(v!["INCRBY", t, off, index(r)]),
                    3 => a.extend(v!["OVERFLOW", r.pick(&["WRAP", "SAT", "FAIL", "x"])]),
                    _ => a.extend(v!["GET", t, off]),
                }
            }
            cmd(a)
        }
        12 => cmd(v!["SET", k, member(r)]),
        13 => cmd(v!["GET", k]),
        _ => generic(r, "b"),
    }
}

fn gen_hll(r: &mut Rng) -> Cmd {
    let k = key(r, "p");
    match r.below(12) {
        0..=4 => {
            let mut a = v!["PFADD", k];
            a.extend(many(r, 6, |r| vec![member(r)]));
            if r.chance(5) {
                a.extend((0..r.range(200, 600)).map(|i| format!("e{}", i * 7 + r.range(0, 5))));
            }
            cmd(a)
        }
        5 | 6 => cmd(v!["PFCOUNT", k]),
        7 => cmd(v!["PFCOUNT", k, key(r, "p")]),
        8 => cmd(v!["PFMERGE", key(r, "p"), k, key(r, "p")]),
        9 | 10 => cmd(v!["GET", k]),
        _ => generic(r, "p"),
    }
}

type Generator = fn(&mut Rng) -> Cmd;

const GENERATORS: &[(&str, Generator)] = &[
    ("hash", gen_hash),
    ("list", gen_list),
    ("set", gen_set),
    ("zset", gen_zset),
    ("bits", gen_bits),
    ("hll", gen_hll),
];

fn same(cmp: Cmp, a: &[u8], b: &[u8]) -> bool {
    match cmp {
        Cmp::TypeOnly => a.first() == b.first(),
        Cmp::Exact => a == b,
        Cmp::Sorted => normalized_reply(a) == normalized_reply(b),
    }
}

fn run(
    kind: &str,
    gen: Generator,
    seed: u64,
    n: usize,
    redis: &Server,
    cin: &Server,
) -> Vec<String> {
    let mut rc = Conn::connect_port(redis.port()).expect("connect redis");
    let mut cc = Conn::connect_port(cin.port()).expect("connect cinnabar");
    rc.set_read_timeout(Duration::from_secs(10));
    cc.set_read_timeout(Duration::from_secs(10));
    let resp3 = seed.is_multiple_of(2);
    for c in [&mut rc, &mut cc] {
        c.cmd(&["FLUSHALL"]);
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
    }
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut bad = Vec::new();
    let mut history: Vec<String> = Vec::new();
    for i in 0..n {
        let c = gen(&mut r);
        let text: Vec<String> = c.args.iter().map(|a| escape(a)).collect();
        let text = text.join(" ");
        let bytes = encode_command(&c.args);
        rc.send_raw(&bytes);
        cc.send_raw(&bytes);
        let a = rc
            .read_reply_raw()
            .unwrap_or_else(|e| format!("<{e}>").into_bytes());
        let b = cc
            .read_reply_raw()
            .unwrap_or_else(|e| format!("<{e}>").into_bytes());
        history.push(text.clone());
        if !same(c.cmp, &a, &b) {
            let from = history.len().saturating_sub(12);
            bad.push(format!(
                "{kind} seed {seed} (RESP{}) command #{i}: {text}\n      redis:    {}\n      cinnabar: {}\n      preceding: {}",
                if resp3 { 3 } else { 2 },
                escape(&a),
                escape(&b),
                history[from..history.len() - 1].join(" | ")
            ));
            if bad.len() >= 5 {
                break;
            }
            // Resynchronise: the states may have diverged.
            rc.cmd(&["FLUSHALL"]);
            cc.cmd(&["FLUSHALL"]);
        }
    }
    bad
}

#[test]
fn random_commands_match_redis() {
    require_redis!();
    let seeds: Vec<u64> = match std::env::var("RANDOM_SEED") {
        Ok(s) if !s.is_empty() => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        _ => vec![1, 2, 3, 4],
    };
    let n: usize = std::env::var("RANDOM_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let only: Vec<String> = std::env::var("RANDOM_TYPES")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hash,list,set,zset,bits,hll".to_string())
        .split(',')
        .map(|x| x.trim().to_string())
        .collect();
    let redis = Server::start(&redis_bin(), &[]);
    let cin = Server::start(&cinnabar_bin(), &[]);
    let mut bad = Vec::new();
    let mut total = 0;
    for (kind, gen) in GENERATORS {
        if !only.iter().any(|x| x == kind) {
            continue;
        }
        for &seed in &seeds {
            bad.extend(run(kind, *gen, seed, n, &redis, &cin));
            total += n;
            cin.assert_alive();
        }
    }
    println!(
        "random differential: {total} commands, {} mismatches",
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}
