//! Round trips, hand-built payloads of every loadable type, and fuzz-ish damage tests.
#![allow(clippy::unwrap_used)]

use crate::encode::{write_len, write_raw_string};
use crate::legacy::{build_ziplist, build_zipmap};
use crate::listpack::Builder;
use crate::*;
use cinnabar_keyspace::types::hash::HashValue;
use cinnabar_keyspace::types::list::ListValue;
use cinnabar_keyspace::types::set::SetValue;
use cinnabar_keyspace::types::stream::{Consumer, Group, Nack, StreamId, StreamValue, Trim};
use cinnabar_keyspace::types::zset::ZSetValue;
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_keyspace::value::Value;

#[derive(Debug, PartialEq)]
enum Content {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(Box<cinnabar_keyspace::types::stream::StreamValue>),
}

fn content(v: &Value) -> Content {
    match v {
        Value::Str(s) => Content::Str(s.as_slice().to_vec()),
        Value::List(l) => Content::List(l.iter().map(|e| e.to_vec()).collect()),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            m.sort();
            Content::Set(m)
        }
        Value::ZSet(z) => {
            let mut out = Vec::new();
            z.for_each(|m, s| out.push((m.to_vec(), if s == 0.0 { 0 } else { s.to_bits() })));
            Content::ZSet(out)
        }
        Value::Hash(h) => {
            let mut p: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            p.sort();
            Content::Hash(p)
        }
        Value::Stream(s) => Content::Stream(s.clone()),
    }
}

fn small_limits() -> TypeLimits {
    TypeLimits {
        hash_max_listpack_entries: 4,
        hash_max_listpack_value: 8,
        list_max_listpack_size: 3,
        set_max_intset_entries: 4,
        zset_max_listpack_entries: 4,
        zset_max_listpack_value: 8,
        ..TypeLimits::default()
    }
}

fn bytes_list(n: usize, f: impl Fn(usize) -> String) -> Vec<Vec<u8>> {
    (0..n).map(|i| f(i).into_bytes()).collect()
}

/// Values of every type and encoding under `l`.
fn samples(l: &TypeLimits) -> Vec<Value> {
    let mut out = vec![
        Value::from_bytes(b"hello"),
        Value::from_bytes(b""),
        Value::from_bytes(b"0"),
        Value::from_bytes(b"-1"),
        Value::from_bytes(b"127"),
        Value::from_bytes(b"-32768"),
        Value::from_bytes(b"2147483647"),
        Value::from_bytes(b"-2147483649"),
        Value::from_bytes(b"9223372036854775807"),
        Value::from_bytes(b"01"),
        Value::from_bytes(&[0u8, 255, 1, 2, 3]),
        Value::from_bytes(&[b'a'; 300]),
        Value::from_bytes(&[b'q'; 70000]),
    ];
    let lists = [
        bytes_list(1, |_| "x".into()),
        bytes_list(10, |i| format!("{}", i as i64 - 5)),
        bytes_list(500, |i| format!("item-{i}")),
        vec![
            vec![],
            vec![b'z'; 5000],
            b"-9223372036854775808".to_vec(),
            vec![7; 64],
        ],
    ];
    for items in &lists {
        out.push(Value::List(Box::new(ListValue::from_elements(items))));
    }
    let sets = [
        bytes_list(3, |i| format!("{}", i * 1000)),
        bytes_list(3, |i| format!("{}", (i as i64 - 1) * 5_000_000_000)),
        bytes_list(20, |i| format!("{i}")),
        bytes_list(3, |i| format!("m{i}")),
        vec![b"".to_vec(), b"1".to_vec()],
    ];
    for items in &sets {
        let mut s = SetValue::new();
        for m in items {
            s.add(m, l.set_max_intset_entries);
        }
        out.push(Value::Set(Box::new(s)));
    }
    let zsets: Vec<Vec<(Vec<u8>, f64)>> = vec![
        vec![
            (b"a".to_vec(), 1.0),
            (b"b".to_vec(), -0.5),
            (b"".to_vec(), f64::INFINITY),
        ],
        vec![(b"n".to_vec(), f64::NEG_INFINITY), (b"12".to_vec(), 1e-300)],
        (0..50)
            .map(|i| (format!("m{i}").into_bytes(), f64::from(i) / 7.0))
            .collect(),
        vec![(vec![b'l'; 100], 3.0)],
    ];
    for items in &zsets {
        let mut z = ZSetValue::new_for(l, items[0].0.len());
        for (m, s) in items {
            z.set(m, *s, l);
        }
        out.push(Value::ZSet(Box::new(z)));
    }
    let hashes: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![
        vec![
            (b"f".to_vec(), b"v".to_vec()),
            (b"1".to_vec(), b"-2".to_vec()),
        ],
        vec![(b"".to_vec(), b"".to_vec())],
        (0..40)
            .map(|i| (format!("f{i}").into_bytes(), format!("{i}").into_bytes()))
            .collect(),
        vec![(b"long".to_vec(), vec![b'v'; 100])],
    ];
    for items in &hashes {
        let mut h = HashValue::new();
        for (f, v) in items {
            h.set(f, v, l);
        }
        out.push(Value::Hash(Box::new(h)));
    }
    out.extend(stream_samples(l));
    out
}

/// Streams: several nodes, tombstones, a trimmed head, groups with PEL and consumers.
fn stream_samples(l: &TypeLimits) -> Vec<Value> {
    let lim = TypeLimits {
        stream_node_max_entries: 4,
        ..*l
    };
    let mut out = vec![Value::Stream(Box::default())];
    let mut s = StreamValue::new();
    for i in 1..=13u64 {
        let v = format!("{}", i * 1000);
        let fv: Vec<&[u8]> = if i % 5 == 0 {
            vec![b"other", v.as_bytes()]
        } else {
            vec![b"f", v.as_bytes(), b"g", b"text value"]
        };
        s.append(StreamId::new(1_700_000_000_000 + i, i % 3), &fv, &lim);
    }
    out.push(Value::Stream(Box::new(s.clone())));
    s.delete(StreamId::new(1_700_000_000_004, 1));
    s.max_deleted_entry_id = StreamId::new(1_700_000_000_004, 1);
    s.trim(Trim::MaxLen(9), false, 0);
    let mut g = Group::new(StreamId::new(1_700_000_000_009, 0), 9);
    for (id, who) in [(1_700_000_000_006u64, "alice"), (1_700_000_000_008, "bob")] {
        let id = StreamId::new(id, id % 3);
        g.pel.insert(
            id,
            Nack {
                delivery_time: 1_700_000_000_500,
                delivery_count: 2,
                consumer: who.as_bytes().to_vec(),
            },
        );
        g.consumers
            .entry(who.as_bytes().to_vec())
            .or_insert_with(|| Consumer {
                seen_time: 1_700_000_000_600,
                pel: Default::default(),
            })
            .pel
            .insert(id);
    }
    g.consumers.insert(b"idle".to_vec(), Consumer::default());
    s.groups.insert(b"grp".to_vec(), g);
    s.groups
        .insert(b"other".to_vec(), Group::new(StreamId::MIN, -1));
    out.push(Value::Stream(Box::new(s)));
    out
}

#[test]
fn payload_round_trip_every_type_and_encoding() {
    for l in [TypeLimits::default(), small_limits()] {
        for v in samples(&l) {
            for compress in [true, false] {
                let p = dump_payload(&v, &l, &EncodeOpts { compress });
                let back = restore_payload(&p, &l).unwrap_or_else(|e| panic!("{v:?}: {e}"));
                assert_eq!(content(&back), content(&v), "{v:?}");
                assert_eq!(back.encoding_name(), v.encoding_name(), "{v:?}");
                // A second dump is identical (where no hash-table order is involved).
                if v.encoding_name() != "hashtable" {
                    assert_eq!(dump_payload(&back, &l, &EncodeOpts { compress }), p);
                }
            }
        }
    }
}

#[test]
fn encodings_follow_the_limits_on_load() {
    let big = TypeLimits::default();
    let small = small_limits();
    for v in samples(&big) {
        let p = dump_payload(&v, &big, &EncodeOpts::default());
        let back = restore_payload(&p, &small).unwrap();
        assert_eq!(content(&back), content(&v));
        let len = match &v {
            Value::Hash(h) => h.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
            _ => 0,
        };
        if len > 4 {
            let want = match &v {
                Value::Hash(_) => "hashtable",
                Value::Set(_) => "hashtable",
                Value::ZSet(_) => "skiplist",
                _ => unreachable!(),
            };
            assert_eq!(back.encoding_name(), want, "{v:?}");
        }
    }
}

fn file_with(body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(
        &mut out,
        &[
            (b"redis-ver", AuxValue::Str(b"7.0.15".to_vec())),
            (b"redis-bits", AuxValue::Int(64)),
        ],
    );
    body(&mut out);
    write_eof(&mut out);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn file_round_trip_with_opcodes() {
    let l = TypeLimits::default();
    let vals = samples(&l);
    let f = file_with(|out| {
        write_select_db(out, 0);
        write_resize_db(out, vals.len() as u64, 1);
        for (i, v) in vals.iter().enumerate() {
            let exp = (i == 3).then_some(1_700_000_000_123i64);
            let idle = (i == 4).then_some(1234u64);
            let freq = (i == 5).then_some(200u8);
            write_key(
                out,
                format!("k{i}").as_bytes(),
                v,
                exp,
                idle,
                freq,
                &l,
                &EncodeOpts::default(),
            );
        }
        write_select_db(out, 15);
        write_function(
            out,
            b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        );
        write_key(
            out,
            b"x",
            &Value::from_bytes(b"y"),
            None,
            None,
            None,
            &l,
            &EncodeOpts::default(),
        );
    });
    assert!(f.starts_with(b"REDIS0010"));
    let items = load_all(&f, &l).unwrap();
    let mut keys = 0;
    for it in &items {
        if let Item::Key {
            key,
            value,
            expire_ms,
            idle,
            freq,
        } = it
        {
            if key == b"x" {
                assert_eq!(content(value), Content::Str(b"y".to_vec()));
                continue;
            }
            let i: usize = std::str::from_utf8(&key[1..]).unwrap().parse().unwrap();
            assert_eq!(content(value), content(&vals[i]));
            assert_eq!(*expire_ms, (i == 3).then_some(1_700_000_000_123i64));
            assert_eq!(*idle, (i == 4).then_some(1234u64));
            assert_eq!(*freq, (i == 5).then_some(200u8));
            keys += 1;
        }
    }
    assert_eq!(keys, vals.len());
    assert!(
        matches!(&items[0], Item::Aux { key, value } if key == b"redis-ver" && value == b"7.0.15")
    );
    assert!(
        matches!(&items[1], Item::Aux { key, value } if key == b"redis-bits" && value == b"64")
    );
    assert!(items.iter().any(|i| matches!(i, Item::SelectDb(15))));
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::Function(c) if c.starts_with(b"#!lua"))));
    assert!(matches!(items.last(), Some(Item::Eof)));
    // After Eof: None forever.
    let mut ld = Loader::new(&f[..]);
    while ld.next(&l).unwrap().is_some() {}
    assert!(ld.next(&l).unwrap().is_none());
}

#[test]
fn crc_is_checked_unless_zero() {
    let l = TypeLimits::default();
    let good = file_with(|out| {
        write_key(
            out,
            b"k",
            &Value::from_bytes(b"v"),
            None,
            None,
            None,
            &l,
            &EncodeOpts::default(),
        )
    });
    assert!(load_all(&good, &l).is_ok());
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(load_all(&bad, &l), Err(RdbError::Checksum { .. })));
    let mut zero = good.clone();
    zero[n - 8..].fill(0);
    assert!(load_all(&zero, &l).is_ok());
    // A flipped body byte in the key name (still parseable) is caught by the CRC.
    let mut body = good.clone();
    let at = body.windows(2).position(|w| w == [1, b'k']).unwrap() + 1;
    body[at] = b'j';
    assert!(matches!(
        load_all(&body, &l),
        Err(RdbError::Checksum { .. })
    ));
    // Missing CRC.
    assert!(matches!(
        load_all(&good[..n - 3], &l),
        Err(RdbError::UnexpectedEof)
    ));
}

#[test]
fn header_checks() {
    let l = TypeLimits::default();
    assert!(matches!(
        load_all(b"RADIS0010\xff", &l),
        Err(RdbError::Signature)
    ));
    assert!(matches!(
        load_all(b"REDIS0011\xff", &l),
        Err(RdbError::WrongVersion(11))
    ));
    assert!(matches!(
        load_all(b"REDIS0000\xff", &l),
        Err(RdbError::WrongVersion(0))
    ));
    assert!(matches!(
        load_all(b"REDIS", &l),
        Err(RdbError::UnexpectedEof)
    ));
    // Version 4 has no checksum.
    let items = load_all(b"REDIS0004\xfe\x00\x00\x01k\x01v\xff", &l).unwrap();
    assert!(matches!(&items[1], Item::Key { key, .. } if key == b"k"));
    assert!(matches!(
        load_all(b"REDIS0010\x08\x01k\x01v\xff", &l),
        Err(RdbError::BadType(8))
    ));
    assert!(matches!(
        load_all(b"REDIS0010\xf0", &l),
        Err(RdbError::BadType(0xf0))
    ));
}

#[test]
fn old_opcodes_and_module_aux() {
    let l = TypeLimits::default();
    let mut body = Vec::new();
    // EXPIRETIME (seconds) then a key.
    body.push(opcodes::EXPIRETIME);
    body.extend_from_slice(&1_800_000_000i32.to_le_bytes());
    body.push(types::STRING);
    write_raw_string(&mut body, b"k", false);
    write_raw_string(&mut body, b"v", false);
    // MODULE_AUX: id, when_opcode UINT, when, then a module value: uint, float, double,
    // string, EOF.
    body.push(opcodes::MODULE_AUX);
    write_len(&mut body, 12345);
    write_len(&mut body, 2);
    write_len(&mut body, 2);
    write_len(&mut body, 2);
    write_len(&mut body, 99);
    write_len(&mut body, 3);
    body.extend_from_slice(&1.5f32.to_le_bytes());
    write_len(&mut body, 4);
    body.extend_from_slice(&2.5f64.to_le_bytes());
    write_len(&mut body, 5);
    write_raw_string(&mut body, b"module string", false);
    write_len(&mut body, 0);
    // The pre-GA FUNCTION opcode: name, engine, has-description, description, code.
    body.push(opcodes::FUNCTION);
    write_raw_string(&mut body, b"mylib", false);
    write_raw_string(&mut body, b"LUA", false);
    write_len(&mut body, 1);
    write_raw_string(&mut body, b"desc", false);
    write_raw_string(&mut body, b"return 1", false);
    let f = file_with(|out| out.extend_from_slice(&body));
    let items = load_all(&f, &l).unwrap();
    assert!(items.iter().any(|i| matches!(
        i,
        Item::Key {
            expire_ms: Some(1_800_000_000_000),
            ..
        }
    )));
    assert!(items.iter().any(|i| matches!(i, Item::ModuleAux)));
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::Function(c) if c == b"#!LUA name=mylib\nreturn 1")));
}

/// A DUMP-style payload of type `t` and raw body `body`.
fn payload(t: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![t];
    p.extend_from_slice(body);
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let c = crc64(&p);
    p.extend_from_slice(&c.to_le_bytes());
    p
}

fn blob(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_raw_string(&mut out, b, false);
    out
}

fn strings(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    write_len(&mut out, items.len() as u64);
    for i in items {
        write_raw_string(&mut out, i, false);
    }
    out
}

fn lp(items: &[&[u8]]) -> Vec<u8> {
    let mut b = Builder::new();
    for i in items {
        b.push(i);
    }
    b.finish()
}

#[test]
fn legacy_types_load() {
    let l = TypeLimits::default();
    let s = |v: &[&[u8]]| v.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
    // LIST (1)
    let v = restore_payload(&payload(types::LIST, &strings(&[b"a", b"12", b""])), &l).unwrap();
    assert_eq!(content(&v), Content::List(s(&[b"a", b"12", b""])));
    // SET (2): integers give an intset, strings a hashtable.
    let v = restore_payload(&payload(types::SET, &strings(&[b"3", b"1", b"2"])), &l).unwrap();
    assert_eq!(v.encoding_name(), "intset");
    assert_eq!(content(&v), Content::Set(s(&[b"1", b"2", b"3"])));
    let v = restore_payload(&payload(types::SET, &strings(&[b"3", b"x"])), &l).unwrap();
    assert_eq!(v.encoding_name(), "hashtable");
    // ZSET (3) with text doubles (and the inf/-inf/nan length codes).
    let mut body = Vec::new();
    write_len(&mut body, 3);
    write_raw_string(&mut body, b"a", false);
    body.extend_from_slice(&[3, b'1', b'.', b'5']);
    write_raw_string(&mut body, b"b", false);
    body.push(254);
    write_raw_string(&mut body, b"c", false);
    body.push(255);
    let v = restore_payload(&payload(types::ZSET, &body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::ZSet(vec![
            (b"c".to_vec(), f64::NEG_INFINITY.to_bits()),
            (b"a".to_vec(), 1.5f64.to_bits()),
            (b"b".to_vec(), f64::INFINITY.to_bits())
        ])
    );
    let mut nan = Vec::new();
    write_len(&mut nan, 1);
    write_raw_string(&mut nan, b"a", false);
    nan.push(253);
    assert!(matches!(
        restore_payload(&payload(types::ZSET, &nan), &l),
        Err(RdbError::Corrupt(_))
    ));
    // HASH_ZIPMAP (9)
    let zm = build_zipmap(&[(b"f", b"v"), (b"g", b"12")]);
    let v = restore_payload(&payload(types::HASH_ZIPMAP, &blob(&zm)), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::Hash(vec![
            (b"f".to_vec(), b"v".to_vec()),
            (b"g".to_vec(), b"12".to_vec())
        ])
    );
    assert_eq!(v.encoding_name(), "listpack");
    // LIST_ZIPLIST (10)
    let zl = build_ziplist(&[b"x", b"5", b"-70000"]);
    let v = restore_payload(&payload(types::LIST_ZIPLIST, &blob(&zl)), &l).unwrap();
    assert_eq!(content(&v), Content::List(s(&[b"x", b"5", b"-70000"])));
    // ZSET_ZIPLIST (12): member, score pairs (scores as ints or text).
    let zl = build_ziplist(&[b"b", b"2", b"a", b"1.5"]);
    let v = restore_payload(&payload(types::ZSET_ZIPLIST, &blob(&zl)), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::ZSet(vec![
            (b"a".to_vec(), 1.5f64.to_bits()),
            (b"b".to_vec(), 2f64.to_bits())
        ])
    );
    // HASH_ZIPLIST (13)
    let zl = build_ziplist(&[b"f", b"1", b"g", b"two"]);
    let v = restore_payload(&payload(types::HASH_ZIPLIST, &blob(&zl)), &l).unwrap();
    assert_eq!(v.encoding_name(), "listpack");
    assert_eq!(
        content(&v),
        Content::Hash(vec![
            (b"f".to_vec(), b"1".to_vec()),
            (b"g".to_vec(), b"two".to_vec())
        ])
    );
    // LIST_QUICKLIST (14): ziplist nodes; an empty node is skipped.
    let mut body = Vec::new();
    write_len(&mut body, 3);
    body.extend_from_slice(&blob(&build_ziplist(&[b"a", b"b"])));
    body.extend_from_slice(&blob(&build_ziplist(&[])));
    body.extend_from_slice(&blob(&build_ziplist(&[b"3"])));
    let v = restore_payload(&payload(types::LIST_QUICKLIST, &body), &l).unwrap();
    assert_eq!(content(&v), Content::List(s(&[b"a", b"b", b"3"])));
    // LIST_QUICKLIST_2 (18) with a plain node.
    let mut body = Vec::new();
    write_len(&mut body, 2);
    write_len(&mut body, 1);
    body.extend_from_slice(&blob(b"plain element"));
    write_len(&mut body, 2);
    body.extend_from_slice(&blob(&lp(&[b"p1", b"2"])));
    let v = restore_payload(&payload(types::LIST_QUICKLIST_2, &body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::List(s(&[b"plain element", b"p1", b"2"]))
    );
    // A bad container.
    let mut body = Vec::new();
    write_len(&mut body, 1);
    write_len(&mut body, 3);
    body.extend_from_slice(&blob(&lp(&[b"p1"])));
    assert!(restore_payload(&payload(types::LIST_QUICKLIST_2, &body), &l).is_err());
    // Conversions at load: a 6-pair ziplist hash under a limit of 4 becomes a hashtable.
    let small = small_limits();
    let zl = build_ziplist(&[
        b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4", b"e", b"5", b"f", b"6",
    ]);
    let v = restore_payload(&payload(types::HASH_ZIPLIST, &blob(&zl)), &small).unwrap();
    assert_eq!(v.encoding_name(), "hashtable");
}

#[test]
fn duplicates_empties_and_unsupported_are_refused() {
    let l = TypeLimits::default();
    let dup_cases = [
        payload(types::SET, &strings(&[b"1", b"1"])),
        payload(types::SET, &strings(&[b"a", b"a"])),
        payload(types::HASH, &strings(&[b"f", b"1", b"f", b"2"])),
        payload(types::HASH_LISTPACK, &blob(&lp(&[b"f", b"1", b"f", b"2"]))),
        payload(types::ZSET_LISTPACK, &blob(&lp(&[b"m", b"1", b"m", b"2"]))),
        payload(
            types::HASH_ZIPMAP,
            &blob(&build_zipmap(&[(b"f", b"1"), (b"f", b"2")])),
        ),
        payload(
            types::HASH_ZIPLIST,
            &blob(&build_ziplist(&[b"f", b"1", b"f", b"2"])),
        ),
        payload(types::HASH_LISTPACK, &blob(&lp(&[b"f", b"1", b"g"]))),
        payload(types::ZSET_LISTPACK, &blob(&lp(&[b"m", b"nan"]))),
    ];
    for p in &dup_cases {
        assert!(
            matches!(restore_payload(p, &l), Err(RdbError::Corrupt(_))),
            "{p:?}"
        );
    }
    let mut zdup = Vec::new();
    write_len(&mut zdup, 2);
    for _ in 0..2 {
        write_raw_string(&mut zdup, b"m", false);
        zdup.extend_from_slice(&1.0f64.to_le_bytes());
    }
    assert!(matches!(
        restore_payload(&payload(types::ZSET_2, &zdup), &l),
        Err(RdbError::Corrupt(_))
    ));
    let empties = [
        payload(types::LIST, &[0]),
        payload(types::SET, &[0]),
        payload(types::HASH, &[0]),
        payload(types::ZSET_2, &[0]),
        payload(types::LIST_QUICKLIST_2, &[0]),
        payload(types::HASH_LISTPACK, &blob(&lp(&[]))),
        payload(types::ZSET_LISTPACK, &blob(&lp(&[]))),
        payload(types::LIST_ZIPLIST, &blob(&build_ziplist(&[]))),
    ];
    for p in &empties {
        assert!(
            matches!(restore_payload(p, &l), Err(RdbError::EmptyKey)),
            "{p:?}"
        );
    }
    // In a file, an empty key is skipped and counted.
    let f = file_with(|out| {
        out.push(types::SET);
        write_raw_string(out, b"empty", false);
        out.push(0);
        write_key(
            out,
            b"k",
            &Value::from_bytes(b"v"),
            None,
            None,
            None,
            &l,
            &EncodeOpts::default(),
        );
    });
    let mut ld = Loader::new(&f[..]);
    let mut keys = Vec::new();
    let mut empty = Vec::new();
    while let Some(it) = ld.next(&l).unwrap() {
        match it {
            Item::Key { key, .. } => keys.push(key),
            Item::EmptyKey(key) => empty.push(key),
            _ => {}
        }
    }
    assert_eq!(keys, vec![b"k".to_vec()]);
    assert_eq!(empty, vec![b"empty".to_vec()]);
    assert_eq!(ld.empty_keys_skipped(), 1);
    for t in [types::MODULE, types::MODULE_2] {
        assert!(matches!(
            restore_payload(&payload(t, &[1, 2, 3]), &l),
            Err(RdbError::Unsupported(_))
        ));
    }
    assert!(matches!(
        restore_payload(&payload(8, &[]), &l),
        Err(RdbError::BadType(8))
    ));
    assert!(matches!(
        restore_payload(&payload(200, &[]), &l),
        Err(RdbError::BadType(200))
    ));
}

#[test]
fn footer_checks() {
    let l = TypeLimits::default();
    let p = dump_payload(&Value::from_bytes(b"abc"), &l, &EncodeOpts::default());
    assert!(restore_payload(&p, &l).is_ok());
    for n in 0..10 {
        assert!(matches!(
            restore_payload(&p[..n], &l),
            Err(RdbError::Footer)
        ));
    }
    let mut v11 = p.clone();
    let n = v11.len();
    v11[n - 10] = 11;
    let c = crc64(&v11[..n - 8]);
    v11[n - 8..].copy_from_slice(&c.to_le_bytes());
    assert!(matches!(restore_payload(&v11, &l), Err(RdbError::Footer)));
    let mut badcrc = p.clone();
    badcrc[n - 1] ^= 0x40;
    assert!(matches!(
        restore_payload(&badcrc, &l),
        Err(RdbError::Footer)
    ));
    // A zero CRC is not special for DUMP payloads.
    let mut zero = p.clone();
    zero[n - 8..].fill(0);
    assert!(matches!(restore_payload(&zero, &l), Err(RdbError::Footer)));
    // Older versions are accepted.
    let mut v9 = p.clone();
    v9[n - 10] = 9;
    let c = crc64(&v9[..n - 8]);
    v9[n - 8..].copy_from_slice(&c.to_le_bytes());
    assert!(restore_payload(&v9, &l).is_ok());
}

#[test]
fn huge_lengths_fail_without_allocating() {
    let l = TypeLimits::default();
    let huge = |prefix: &[u8]| {
        let mut b = prefix.to_vec();
        b.push(0x81);
        b.extend_from_slice(&(1u64 << 60).to_be_bytes());
        b
    };
    // A string of 2^60 bytes, a list / set / hash / zset / quicklist of 2^60 elements.
    for t in [
        types::STRING,
        types::LIST,
        types::SET,
        types::HASH,
        types::ZSET_2,
        types::LIST_QUICKLIST_2,
    ] {
        let r = restore_payload(&payload(t, &huge(&[])), &l);
        assert!(matches!(r, Err(RdbError::UnexpectedEof)), "type {t}: {r:?}");
    }
    // LZF: clen small, declared length 2^60.
    let mut b = vec![0xC3, 2];
    b.push(0x81);
    b.extend_from_slice(&(1u64 << 60).to_be_bytes());
    b.extend_from_slice(&[0, b'a']);
    assert!(matches!(
        restore_payload(&payload(types::STRING, &b), &l),
        Err(RdbError::Lzf)
    ));
    // LZF whose output is shorter than declared.
    let b = [0xC3, 2, 5, 0, b'a'];
    assert!(matches!(
        restore_payload(&payload(types::STRING, &b), &l),
        Err(RdbError::Lzf)
    ));
    // Same in a file: a key name of 2^60 bytes.
    let mut f = b"REDIS0010".to_vec();
    f.push(types::STRING);
    f.extend_from_slice(&huge(&[]));
    assert!(matches!(load_all(&f, &l), Err(RdbError::UnexpectedEof)));
    // Unknown length / string encodings.
    assert!(matches!(
        restore_payload(&payload(types::STRING, &[0x82]), &l),
        Err(RdbError::BadLength(0x82))
    ));
    assert!(matches!(
        restore_payload(&payload(types::STRING, &[0xC4]), &l),
        Err(RdbError::BadStringEncoding(4))
    ));
}

/// Re-signs a damaged payload so that the damage reaches the decoder.
fn resign(p: &mut [u8]) {
    let n = p.len();
    if n >= 10 {
        let c = crc64(&p[..n - 8]);
        p[n - 8..].copy_from_slice(&c.to_le_bytes());
    }
}

#[test]
fn damaged_payloads_never_panic() {
    let l = TypeLimits::default();
    let small = small_limits();
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for lim in [&l, &small] {
        for v in samples(lim) {
            inputs.push(dump_payload(&v, lim, &EncodeOpts { compress: true }));
        }
    }
    inputs.push(payload(
        types::HASH_ZIPMAP,
        &blob(&build_zipmap(&[(b"f", b"v"), (b"g", b"12")])),
    ));
    inputs.push(payload(
        types::LIST_ZIPLIST,
        &blob(&build_ziplist(&[b"x", b"5", b"-70000", &[b'q'; 300]])),
    ));
    inputs.push(payload(
        types::ZSET_ZIPLIST,
        &blob(&build_ziplist(&[b"b", b"2", b"a", b"1.5"])),
    ));
    inputs.push(payload(
        types::HASH_ZIPLIST,
        &blob(&build_ziplist(&[b"f", b"1", b"g", b"two"])),
    ));
    let mut checked = 0usize;
    for p in &inputs {
        if p.len() > 3000 {
            // Big ones: truncations only at a stride, flips in the first 3000 bytes.
            for n in (0..p.len()).step_by(97) {
                let mut t = p[..n].to_vec();
                resign(&mut t);
                let _ = restore_payload(&t, &l);
            }
        } else {
            for n in 0..p.len() {
                let mut t = p[..n].to_vec();
                assert!(restore_payload(&t, &l).is_err());
                resign(&mut t);
                let _ = restore_payload(&t, &small);
                checked += 1;
            }
        }
        let body = p.len().saturating_sub(10).min(3000);
        for i in 0..body {
            for x in [0x01u8, 0x02, 0x10, 0x40, 0x80, 0xff] {
                let mut d = p.clone();
                d[i] ^= x;
                resign(&mut d);
                if let Ok(v) = restore_payload(&d, &l) {
                    // Whatever loads is a sane value that dumps and reloads.
                    let again = dump_payload(&v, &l, &EncodeOpts::default());
                    assert!(restore_payload(&again, &l).is_ok());
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
}

#[test]
fn damaged_files_never_panic() {
    let l = TypeLimits::default();
    let vals = samples(&small_limits());
    let f = file_with(|out| {
        write_select_db(out, 0);
        write_resize_db(out, 3, 1);
        for (i, v) in vals.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            write_key(
                out,
                format!("k{i}").as_bytes(),
                v,
                Some(1),
                None,
                None,
                &l,
                &EncodeOpts::default(),
            );
        }
    });
    let n = f.len();
    for cut in (0..n).step_by(7) {
        assert!(load_all(&f[..cut], &l).is_err());
    }
    for i in 9..n.saturating_sub(8).min(4000) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut d = f.clone();
            d[i] ^= x;
            let m = d.len();
            d[m - 8..].fill(0); // no CRC: the damage reaches the parser
            let _ = load_all(&d, &l);
        }
    }
}

#[test]
fn stream_payload_checks() {
    let l = TypeLimits::default();
    let v = stream_samples(&l).pop().unwrap();
    let p = dump_payload(&v, &l, &EncodeOpts::default());
    let back = restore_payload(&p, &l).unwrap();
    assert_eq!(content(&back), content(&v));
    // The same consumer twice, a PEL entry nobody owns, a consumer PEL entry unknown to the
    // group: each refused with Redis's reason.
    let Value::Stream(s) = v else { unreachable!() };
    let mut dup = (*s).clone();
    dup.groups
        .get_mut(&b"grp"[..])
        .unwrap()
        .consumers
        .insert(b"alicf".to_vec(), Consumer::default());
    let mut bytes = dump_payload(&Value::Stream(Box::new(dup)), &l, &EncodeOpts::default());
    let at = bytes.windows(5).rposition(|w| w == b"alicf").unwrap();
    bytes[at + 4] = b'e';
    resign(&mut bytes);
    match restore_payload(&bytes, &l) {
        Err(RdbError::Corrupt(m)) => assert!(m.contains("Duplicate stream consumer detected")),
        other => panic!("{other:?}"),
    }
    let mut orphan = (*s).clone();
    orphan
        .groups
        .get_mut(&b"grp"[..])
        .unwrap()
        .consumers
        .remove(&b"bob"[..]);
    let bytes = dump_payload(&Value::Stream(Box::new(orphan)), &l, &EncodeOpts::default());
    assert!(matches!(
        restore_payload(&bytes, &l),
        Err(RdbError::Corrupt("Stream CG PEL entry without consumer"))
    ));
    let mut stray = (*s).clone();
    stray.groups.get_mut(&b"grp"[..]).unwrap().pel.clear();
    let bytes = dump_payload(&Value::Stream(Box::new(stray)), &l, &EncodeOpts::default());
    assert!(restore_payload(&bytes, &l).is_err());
    let mut short = (*s).clone();
    short.length += 1;
    let bytes = dump_payload(&Value::Stream(Box::new(short)), &l, &EncodeOpts::default());
    assert!(restore_payload(&bytes, &l).is_err());
}

#[test]
fn display_messages() {
    assert_eq!(
        RdbError::UnexpectedEof.to_string(),
        "Unexpected EOF reading RDB file"
    );
    assert_eq!(RdbError::BadType(42).to_string(), "Bad RDB type 42");
    assert_eq!(
        RdbError::WrongVersion(11).to_string(),
        "Can't handle RDB format version 11"
    );
    assert!(RdbError::Checksum {
        expected: 1,
        found: 2
    }
    .to_string()
    .contains("CRC mismatch"));
    assert_eq!(RdbError::Lzf.to_string(), "Invalid LZF compressed string");
}

#[test]
fn deferred_compression_writes_the_same_bytes() {
    use crate::{compress_deferred, write_key_deferred};
    for l in [TypeLimits::default(), small_limits()] {
        let mut vals = samples(&l);
        // Strings around every length-header boundary, compressible and not.
        for n in [20usize, 21, 63, 64, 16383, 16384, 70_000] {
            vals.push(Value::from_bytes(&vec![b'a'; n]));
            let noisy: Vec<u8> = (0..n).map(|i| (i * 7919 % 251) as u8).collect();
            vals.push(Value::from_bytes(&noisy));
        }
        let mut direct = Vec::new();
        let mut raw = Vec::new();
        let spans = std::cell::RefCell::new(Vec::new());
        for (i, v) in vals.iter().enumerate() {
            let key = format!("key:{i}:{}", "k".repeat(i % 30));
            let exp = (i % 3 == 0).then_some(1_700_000_000_000 + i as i64);
            let opts = EncodeOpts { compress: true };
            write_key(&mut direct, key.as_bytes(), v, exp, None, None, &l, &opts);
            write_key_deferred(&mut raw, &spans, key.as_bytes(), v, exp, &l);
        }
        let mut finished = Vec::new();
        compress_deferred(&raw, &spans.borrow(), &mut finished);
        assert_eq!(finished, direct);
    }
}
