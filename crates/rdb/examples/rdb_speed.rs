//! Rough throughput of the writer and the loader (1M string keys, 10k hashes, a big list).
#![allow(clippy::unwrap_used)]
use cinnabar_keyspace::types::hash::HashValue;
use cinnabar_keyspace::types::list::ListValue;
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_keyspace::value::Value;
use cinnabar_rdb::*;
use std::time::Instant;

fn main() {
    let l = TypeLimits::default();
    let o = EncodeOpts::default();
    let t = Instant::now();
    let mut out = Vec::new();
    write_header(&mut out, &[]);
    write_select_db(&mut out, 0);
    for i in 0..1_000_000u32 {
        let k = format!("key:{i}");
        let v = Value::from_bytes(format!("value-{i}-{}-{:0>80}", i * 7, i).as_bytes());
        write_key(&mut out, k.as_bytes(), &v, None, None, None, &l, &o);
    }
    for i in 0..10_000u32 {
        let mut h = HashValue::new();
        for f in 0..20 {
            h.set(
                format!("f{f}").as_bytes(),
                format!("{}", i * f).as_bytes(),
                &l,
            );
        }
        write_key(
            &mut out,
            format!("h:{i}").as_bytes(),
            &Value::Hash(Box::new(h)),
            None,
            None,
            None,
            &l,
            &o,
        );
    }
    let items: Vec<Vec<u8>> = (0..1_000_000)
        .map(|i| format!("e{i}").into_bytes())
        .collect();
    write_key(
        &mut out,
        b"biglist",
        &Value::List(Box::new(ListValue::from_elements(&items))),
        None,
        None,
        None,
        &l,
        &o,
    );
    write_eof(&mut out);
    let c = crc64(&out);
    out.extend_from_slice(&c.to_le_bytes());
    let w = t.elapsed();
    let t = Instant::now();
    let n = load_all(&out, &l).unwrap().len();
    let r = t.elapsed();
    println!("{} bytes; write {w:?}; load {r:?} ({n} items)", out.len());
}
