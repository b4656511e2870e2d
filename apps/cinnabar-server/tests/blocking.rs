//! Blocked clients: BLPOP/BLMOVE/BZPOPMIN wait for data, are served first come first served
//! right after the write that fed them, time out with Redis's null, and can be unblocked with
//! CLIENT UNBLOCK. A blocked client that disconnects leaves nothing behind.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn info_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd(&["INFO", "clients"]);
    info.split("\r\n")
        .chain(info.split('\n'))
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn wait_blocked(c: &mut Conn, n: usize) {
    let t = Instant::now();
    while info_field(c, "blocked_clients") != n.to_string() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "never saw {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn blpop_is_served_by_a_later_push_fifo() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    let mut w = s.conn();
    a.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 1);
    b.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 2);
    // One push feeds the first waiter only, before the pusher's next command runs.
    w.send(b"*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$3\r\none\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nq\r\n");
    assert_eq!(w.read(), ":1");
    assert_eq!(w.read(), "(nil)");
    assert_eq!(a.read(), "[$q,$one]");
    assert_eq!(w.cmd(&["RPUSH", "q", "two"]), ":1");
    assert_eq!(b.read(), "[$q,$two]");
    assert_eq!(info_field(&mut w, "blocked_clients"), "0");
    assert_eq!(w.cmd(&["EXISTS", "q"]), ":0");
}

#[test]
fn blpop_times_out_with_null_and_keeps_pipelined_commands() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let t = Instant::now();
    a.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$3\r\n0.2\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(a.read(), "(nil)");
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(a.read(), "+PONG");
    assert_eq!(a.cmd(&["BLPOP", "q", "-1"]), "-ERR timeout is negative");
    assert_eq!(
        a.cmd(&["BLPOP", "q", "abc"]),
        "-ERR timeout is not a float or out of range"
    );
}

#[test]
fn wrong_type_does_not_wake_and_client_unblock_works() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut w = s.conn();
    let id = a.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').to_string();
    a.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 1);
    assert!(w.cmd(&["CLIENT", "LIST"]).contains("flags=b"));
    assert_eq!(w.cmd(&["SET", "q", "str"]), "+OK");
    assert_eq!(w.cmd(&["DEL", "q"]), ":1");
    assert_eq!(info_field(&mut w, "blocked_clients"), "1");
    assert_eq!(w.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1");
    assert_eq!(a.read(), "-UNBLOCKED client unblocked via CLIENT UNBLOCK");
    assert_eq!(w.cmd(&["CLIENT", "UNBLOCK", &id]), ":0");
    a.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), ":1");
    assert_eq!(a.read(), "(nil)");
}

#[test]
fn blmove_chain_and_disconnect_cleanup() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    let mut w = s.conn();
    // a moves src → mid; b waits on mid: one push feeds both, in order.
    a.send(
        b"*6\r\n$6\r\nBLMOVE\r\n$3\r\nsrc\r\n$3\r\nmid\r\n$4\r\nLEFT\r\n$5\r\nRIGHT\r\n$1\r\n0\r\n",
    );
    wait_blocked(&mut w, 1);
    b.send(b"*3\r\n$5\r\nBRPOP\r\n$3\r\nmid\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 2);
    assert_eq!(w.cmd(&["LPUSH", "src", "x"]), ":1");
    assert_eq!(a.read(), "$x");
    assert_eq!(b.read(), "[$mid,$x]");
    // A blocked client that goes away is forgotten.
    {
        let mut gone = s.conn();
        gone.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nz\r\n$1\r\n0\r\n");
        wait_blocked(&mut w, 1);
    }
    wait_blocked(&mut w, 0);
    assert_eq!(w.cmd(&["RPUSH", "z", "v"]), ":1");
    assert_eq!(w.cmd(&["LLEN", "z"]), ":1");
}
#[test]
fn bzpopmin_is_served_by_zadd() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut w = s.conn();
    a.send(b"*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nz\r\n$1\r\n0\r\n");
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["ZADD", "z", "2", "b", "1", "a"]), ":2");
    assert_eq!(a.read(), "[$z,$a,$1]");
    assert_eq!(w.cmd(&["ZCARD", "z"]), ":1");
}

#[test]
fn xread_block_dollar_is_served_by_a_later_xadd() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut w = s.conn();
    assert_eq!(w.cmd(&["XADD", "st", "1-1", "f", "old"]), "$1-1");
    a.send(
        b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$2\r\nst\r\n$1\r\n$\r\n",
    );
    wait_blocked(&mut w, 1);
    // Another key or a deletion does not serve it; the entry after the old last ID does.
    assert_eq!(w.cmd(&["XADD", "other", "5-0", "f", "v"]), "$5-0");
    assert_eq!(w.cmd(&["DEL", "st"]), ":1");
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["XADD", "st", "2-0", "f", "new"]), "$2-0");
    assert_eq!(a.read(), "[[$st,[[$2-0,[$f,$new]]]]]");
    assert_eq!(info_field(&mut w, "blocked_clients"), "0");
}

#[test]
fn xreadgroup_block_is_served_or_unblocked_when_the_key_goes() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut w = s.conn();
    assert_eq!(
        w.cmd(&["XGROUP", "CREATE", "st", "g", "$", "MKSTREAM"]),
        "+OK"
    );
    let block = b"*9\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$5\r\nalice\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$2\r\nst\r\n$1\r\n>\r\n";
    a.send(block);
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["XADD", "st", "7-0", "f", "v"]), "$7-0");
    assert_eq!(a.read(), "[[$st,[[$7-0,[$f,$v]]]]]");
    assert_eq!(
        w.cmd(&["XPENDING", "st", "g"]),
        "[:1,$7-0,$7-0,[[$alice,$1]]]"
    );
    a.send(block);
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["SET", "st", "x"]), "+OK");
    assert!(a
        .read()
        .contains("UNBLOCKED the stream key no longer exists"));
    assert_eq!(info_field(&mut w, "blocked_clients"), "0");
}
