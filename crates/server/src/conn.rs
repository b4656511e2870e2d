//! One client connection: read into the query buffer, parse and run every complete command in
//! it (pipelining), then write all replies in one go. The server state is borrowed only while
//! commands run, never across an await.

use crate::client::{Client, ClientHandle};
use crate::dispatch::{self, Exec};
use crate::server::{now_ms, Server};
use crate::sock::ClientSocket;
use crate::{notice, verbose};
use cinnabar_resp::parse::Source;
use cinnabar_resp::{Args, CommandParser, Limits};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const READ_CHUNK: usize = 16 * 1024;

enum Step {
    /// Everything parseable was run; read more.
    NeedInput,
    /// A command is waiting for CLIENT PAUSE to end.
    Paused,
    /// A blocking command is waiting for data (slot, deadline in unix ms or 0).
    Blocked(Rc<crate::blocking::Slot>, i64),
}

fn process(
    s: &mut Server,
    c: &mut Client,
    p: &mut CommandParser,
    buf: &[u8],
    rpos: &mut usize,
) -> Step {
    let now = now_ms();
    let mut clock = Instant::now();
    while *rpos < buf.len() && !c.close_after_reply && !c.handle.killed.get() {
        let limits = Limits {
            max_bulk: s.settings.proto_max_bulk_len,
            authenticated: c.authenticated,
        };
        match p.parse(&buf[*rpos..], limits) {
            Ok(Some((n, src))) => {
                let args = match src {
                    Source::Buffer => Args::new(&buf[*rpos..], &p.spans),
                    Source::Inline => Args::new(&p.inline_buf, &p.spans),
                };
                if !args.is_empty() {
                    match dispatch::execute(s, c, args, now, &mut clock) {
                        Exec::Paused => return Step::Paused,
                        Exec::Blocked(slot, deadline) => {
                            *rpos += n;
                            return Step::Blocked(slot, deadline);
                        }
                        Exec::Done => {}
                    }
                }
                *rpos += n;
            }
            Ok(None) => break,
            Err(e) => {
                verbose!(
                    "Protocol error ({}) from client: id={} addr={}",
                    e,
                    c.handle.id,
                    c.handle.addr
                );
                c.reply.error(&format!("ERR {e}"));
                c.close_after_reply = true;
                break;
            }
        }
    }
    Step::NeedInput
}

/// Waits while the client is blocked: until its slot is filled (served, CLIENT UNBLOCK) or its
/// deadline passes (then the timeout reply is put in the slot). Input that arrives meanwhile
/// is kept for later, as Redis does. False if the connection closed or broke its limits.
async fn wait_blocked(
    srv: &Rc<RefCell<Server>>,
    stream: &mut ClientSocket,
    qbuf: &mut Vec<u8>,
    handle: &Rc<ClientHandle>,
    slot: &Rc<crate::blocking::Slot>,
    deadline: i64,
) -> bool {
    loop {
        if slot.reply.borrow().is_some() {
            return true;
        }
        if deadline > 0 && now_ms() >= deadline {
            if !crate::blocking::unblock(&mut srv.borrow_mut(), handle.id, None) {
                return true;
            }
            continue;
        }
        let wait = if deadline > 0 {
            Duration::from_millis((deadline - now_ms()).max(0) as u64)
        } else {
            Duration::from_secs(3600)
        };
        if qbuf.capacity() - qbuf.len() < READ_CHUNK / 4 {
            qbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            _ = slot.notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            r = stream.read_some(qbuf) => {
                match r {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => {
                        let mut s = srv.borrow_mut();
                        s.stats.net_input_bytes += n as u64;
                        if qbuf.len() > s.settings.client_query_buffer_limit {
                            s.stats.client_qbuf_limit_disconnections += 1;
                            return false;
                        }
                    }
                }
            }
        }
        if handle.killed.get() {
            return false;
        }
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve(srv: Rc<RefCell<Server>>, mut stream: ClientSocket, handle: Rc<ClientHandle>) {
    let authenticated = srv.borrow().settings.requirepass.is_none();
    let mut c = Client::new(handle.clone(), authenticated);
    let mut qbuf: Vec<u8> = Vec::new();
    let mut parser = CommandParser::new();
    let mut rpos = 0usize;
    let mut need_read = true;
    loop {
        if need_read {
            if qbuf.capacity() - qbuf.len() < READ_CHUNK / 4 {
                qbuf.reserve(READ_CHUNK);
            }
            let subscribed = !c.subs.is_empty() || !c.psubs.is_empty();
            let got = if subscribed {
                tokio::select! {
                    biased;
                    _ = handle.outbox_notify.notified() => None,
                    r = stream.read_some(&mut qbuf) => Some(r),
                }
            } else {
                Some(stream.read_some(&mut qbuf).await)
            };
            let n = match got {
                None => {
                    // Messages from publishers: write them out, then read again.
                    let out = std::mem::take(&mut *handle.outbox.borrow_mut());
                    if !out.is_empty() && stream.write_all(&out).await.is_err() {
                        break;
                    }
                    continue;
                }
                Some(Ok(0) | Err(_)) => break,
                Some(Ok(n)) => n,
            };
            handle.last_interaction.set(Instant::now());
            let mut s = srv.borrow_mut();
            s.stats.net_input_bytes += n as u64;
            if qbuf.len() - rpos > s.settings.client_query_buffer_limit {
                s.stats.client_qbuf_limit_disconnections += 1;
                drop(s);
                notice!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                    handle.id,
                    handle.addr,
                    String::from_utf8_lossy(&qbuf[rpos..qbuf.len().min(rpos + 64)])
                );
                break;
            }
        }
        let step = {
            let mut s = srv.borrow_mut();
            {
                // Messages published before these commands ran go out first.
                let mut ob = handle.outbox.borrow_mut();
                if !ob.is_empty() {
                    c.reply.out.extend_from_slice(&ob);
                    ob.clear();
                }
            }
            let step = process(&mut s, &mut c, &mut parser, &qbuf, &mut rpos);
            s.stats.net_output_bytes += c.reply.out.len() as u64;
            let mut info = handle.info.borrow_mut();
            info.qbuf = qbuf.len() - rpos;
            info.qbuf_free = qbuf.capacity() - qbuf.len();
            info.resp = if c.reply.resp3 { 3 } else { 2 };
            handle.resp3.set(c.reply.resp3);
            info.name.clone_from(&c.name);
            step
        };
        if !c.reply.out.is_empty() {
            if stream.write_all(&c.reply.out).await.is_err() {
                break;
            }
            c.reply.out.clear();
            if c.reply.out.capacity() > 64 * 1024 {
                c.reply.out.shrink_to(16 * 1024);
            }
        }
        if c.close_after_reply || handle.killed.get() {
            break;
        }
        if rpos > 0 {
            qbuf.drain(..rpos);
            rpos = 0;
        }
        if qbuf.is_empty() && qbuf.capacity() > 64 * 1024 {
            qbuf = Vec::new();
        }
        match step {
            Step::NeedInput => need_read = true,
            Step::Paused => {
                let (notify, until) = {
                    let s = srv.borrow();
                    (s.pause_notify.clone(), s.pause.map(|p| p.until_ms))
                };
                let wait = until.map(|u| (u - now_ms()).max(1) as u64).unwrap_or(1);
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                }
                need_read = false;
            }
            Step::Blocked(slot, deadline) => {
                handle.blocked.set(true);
                let alive =
                    wait_blocked(&srv, &mut stream, &mut qbuf, &handle, &slot, deadline).await;
                handle.blocked.set(false);
                if !alive {
                    srv.borrow_mut().blocked.remove(handle.id);
                    break;
                }
                if let Some(out) = slot.reply.borrow_mut().take() {
                    c.reply.out.extend_from_slice(&out);
                }
                need_read = false;
            }
        }
    }
    stream.shutdown();
    let mut s = srv.borrow_mut();
    s.blocked.remove(handle.id);
    crate::multi::discard(&mut s, &mut c);
    crate::pubsub::drop_all(&mut s, &mut c);
    s.clients.remove(&handle.id);
}
