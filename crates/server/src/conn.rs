//! One client connection: read into the query buffer, parse and run every complete command in
//! it (pipelining), then write all replies in one go. The server state is borrowed only while
//! commands run, never across an await.

use crate::client::{Client, ClientHandle};
use crate::dispatch::{self, Exec};
use crate::server::{now_ms, Server};
use crate::sock::ClientSocket;
use crate::{notice, verbose, warning};
use cinnabar_config::{ClientClass, ObufLimit};
use cinnabar_resp::parse::Source;
use cinnabar_resp::{Args, CommandParser, Limits};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::sock::READ_CHUNK;

/// A bulk this long gets a query buffer sized for it exactly (Redis's PROTO_MBULK_BIG_ARG).
const BIG_ARG: usize = 32 * 1024;

enum Step {
    /// Everything parseable was run; read more.
    NeedInput,
    /// A command is waiting for CLIENT PAUSE to end.
    Paused,
    /// A blocking command is waiting for data (slot, deadline in unix ms or 0).
    Blocked(Rc<crate::blocking::Slot>, i64),
    /// A snapshot is to be streamed to this connection (DUMPSAVE, SYNC).
    Stream,
    /// WAIT: until enough replicas acknowledge.
    Wait,
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
    while *rpos < buf.len() && !c.close_after_reply && !c.close_asap && !c.handle.killed.get() {
        let limits = Limits {
            max_bulk: s.settings.proto_max_bulk_len,
            authenticated: !crate::acl::auth_required(s, c),
        };
        match p.parse(&buf[*rpos..], limits) {
            Ok(Some((n, src))) => {
                let args = match src {
                    Source::Buffer => Args::new(&buf[*rpos..], &p.spans),
                    Source::Inline => Args::new(&p.inline_buf, &p.spans),
                };
                if !args.is_empty() {
                    let limit = obuf_limit(s, c);
                    c.reply.limit = if limit.hard > 0 {
                        limit.hard as usize + c.out_sent
                    } else {
                        0
                    };
                    let done = dispatch::execute(s, c, args, now, &mut clock);
                    if limit != ObufLimit::default()
                        && (c.reply.cut
                            || c.handle.obuf_limit_reached(
                                limit,
                                (c.reply.out.len() - c.out_sent) as u64,
                                now / 1000,
                            ))
                    {
                        c.reply.cut = false;
                        // Redis's CLIENT_CLOSE_ASAP: the reply is never sent and the rest of
                        // the pipeline is not run.
                        c.handle.log_obuf_close();
                        s.stats.client_obuf_limit_disconnections += 1;
                        c.close_asap = true;
                        *rpos += n;
                        return Step::NeedInput;
                    }
                    match done {
                        Exec::Paused => return Step::Paused,
                        Exec::Blocked(slot, deadline) => {
                            *rpos += n;
                            return Step::Blocked(slot, deadline);
                        }
                        Exec::Done => {
                            if c.stream.is_some() {
                                *rpos += n;
                                return Step::Stream;
                            }
                            if c.wait.is_some() {
                                *rpos += n;
                                return Step::Wait;
                            }
                            if let Some(slot) = c.block_slot.take() {
                                *rpos += n;
                                return Step::Blocked(slot, 0);
                            }
                        }
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

/// Resizes the query buffer as the cron asked (see `cron::resize_query_buffers`): to what it
/// holds or the size the cron named, whichever is larger; nothing at all when it is empty and
/// the client idle.
fn resize_qbuf(qbuf: &mut Vec<u8>, rpos: &mut usize, h: &ClientHandle, p: &CommandParser) {
    if *rpos > 0 {
        qbuf.drain(..*rpos);
        *rpos = 0;
    }
    // Never below what a big bulk still arriving announced.
    let bulk_end = p.pending_bulk().map_or(0, |(_, end)| end);
    let target = h.qbuf_target.get().max(qbuf.len()).max(bulk_end);
    if target == 0 {
        *qbuf = Vec::new();
    } else {
        qbuf.shrink_to(target);
    }
    account_qbuf(&mut h.info.borrow_mut(), qbuf, 0, p);
}

/// Shows the query buffer in CLIENT LIST. A command cut inside a bulk: what came before its
/// payload counts as arguments (Redis has moved it to argv by then), the payload as the query
/// buffer. A big payload gets room for exactly what it announced (Redis's
/// PROTO_MBULK_BIG_ARG) rather than a doubled buffer.
fn account_qbuf(
    info: &mut crate::client::ClientInfo,
    qbuf: &mut Vec<u8>,
    rpos: usize,
    p: &CommandParser,
) {
    let parsed = match p.pending_bulk() {
        Some((data, end)) => {
            if end - data >= BIG_ARG {
                let need = (rpos + end).saturating_sub(qbuf.len());
                let spare = qbuf.capacity() - qbuf.len();
                if spare < need {
                    qbuf.reserve_exact(need);
                }
            }
            data
        }
        None => 0,
    };
    info.argv_mem = parsed;
    info.qbuf = qbuf.len() - rpos - parsed;
    info.qbuf_free = qbuf.capacity() - (qbuf.len() - rpos);
}

/// The `client-output-buffer-limit` of the client's class (Redis's getClientType): a replica's
/// replies are never sent (its limit is on the replication stream, see propagate.rs), a
/// subscribed client is `pubsub`, any other (MONITOR included) is `normal`.
fn obuf_limit(s: &Server, c: &Client) -> ObufLimit {
    if c.repl.is_replica {
        ObufLimit::default()
    } else if c.subscribed() {
        s.settings.obuf_limits[ClientClass::Pubsub as usize]
    } else {
        s.settings.obuf_limits[ClientClass::Normal as usize]
    }
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

/// Writes a snapshot to the socket: as diskless replication frames it (`$EOF:<40 random
/// chars>\r\n`, the RDB, its CRC64, the same 40 chars) or, for a replica without `capa eof`,
/// as `$<length>\r\n` + the RDB (assembled in memory first). Returns the bytes written.
async fn stream_snapshot(
    stream: &mut ClientSocket,
    snap: crate::client::SnapshotStream,
    checksum: bool,
    qbuf: &mut Vec<u8>,
    qbuf_limit: usize,
    handle: &crate::client::ClientHandle,
    comp: &mut Option<crate::repl_link::Compressor>,
) -> Result<u64, SnapEnd> {
    let crate::client::SnapshotStream {
        mut rx, framing, ..
    } = snap;
    let eof = framing == crate::client::Framing::EofMark;
    let mark = crate::server::random_hex40();
    let mut total = 0u64;
    // The EOF-framing header goes out with the first snapshot bytes (after any preamble).
    let mut head = if eof {
        Some(format!("$EOF:{mark}\r\n").into_bytes())
    } else {
        None
    };
    let mut whole: Vec<u8> = Vec::new();
    // On a zstd link the snapshot is a frame of its own at the fastest level (it is large and
    // its strings are LZF-compressed already); the stream that follows starts a new frame at
    // the configured level.
    let mut snap_comp = match comp {
        Some(_) => Some(crate::repl_link::Compressor::new(1).map_err(|_| SnapEnd::Gone)?),
        None => None,
    };
    // The relay compressed the snapshot for this link (see `persist::spawn_relay`).
    let mut relay_frame = false;
    loop {
        // While waiting for the snapshot, notice a peer that goes away (its replica entry
        // and its share of the snapshot are released at once). What it sends meanwhile is
        // kept for after the snapshot, within the query buffer limit.
        if qbuf.capacity() - qbuf.len() < 4096 {
            qbuf.reserve(16 * 1024);
        }
        let msg = tokio::select! {
            m = rx.recv() => m,
            r = stream.read_some(qbuf) => {
                match r {
                    // A replica sends nothing but REPLCONF before its snapshot has loaded:
                    // another command is served now (and, making a reply, drops it).
                    Ok(n) if n > 0 && qbuf.len() <= qbuf_limit => {
                        if handle.replica.get()
                            && first_command_name(qbuf)
                                .is_some_and(|c| !c.eq_ignore_ascii_case(b"replconf"))
                        {
                            return Err(SnapEnd::Input);
                        }
                        continue;
                    }
                    _ => return Err(SnapEnd::Gone),
                }
            }
        };
        match msg {
            Some(crate::persist::Msg::Preamble(p)) => {
                // The `+FULLRESYNC` line is plain: compression starts after it.
                stream.write_all(&p).await.map_err(|_| SnapEnd::Gone)?;
                total += p.len() as u64;
            }
            Some(crate::persist::Msg::Data(b, packed)) => {
                if handle.sync_phase.get() == 1 {
                    handle.sync_phase.set(2);
                }
                // Taking the next chunk is progress (a replica stalled in a write is not).
                handle.sync_progress.set(std::time::Instant::now());
                if let (Some(z), true, true) = (packed, eof, snap_comp.is_some()) {
                    // The relay's frame: the header goes first as a small frame of its own.
                    if let Some(h) = head.take() {
                        total += put_snapshot(stream, handle, &mut snap_comp, &h, true)
                            .await
                            .map_err(|()| SnapEnd::Gone)?;
                    }
                    relay_frame = true;
                    total += put_packed(stream, handle, b.len(), &z)
                        .await
                        .map_err(|()| SnapEnd::Gone)?;
                    continue;
                }
                let mut out = head.take().unwrap_or_default();
                if eof {
                    out.extend_from_slice(&b);
                } else {
                    whole.extend_from_slice(&b);
                }
                total += put_snapshot(stream, handle, &mut snap_comp, &out, false)
                    .await
                    .map_err(|()| SnapEnd::Gone)?;
            }
            Some(crate::persist::Msg::Finish(crc, end)) => {
                let sum = if checksum { crc } else { 0 };
                if relay_frame {
                    // End the relay's frame; the tail is a small frame of its own.
                    if let Some(e) = end {
                        total += put_packed(stream, handle, 0, &e)
                            .await
                            .map_err(|()| SnapEnd::Gone)?;
                    }
                    snap_comp =
                        Some(crate::repl_link::Compressor::new(1).map_err(|_| SnapEnd::Gone)?);
                }
                let mut tail = head.take().unwrap_or_default();
                if eof {
                    tail.extend_from_slice(&sum.to_le_bytes());
                    tail.extend_from_slice(mark.as_bytes());
                } else {
                    whole.extend_from_slice(&sum.to_le_bytes());
                    tail = format!("${}\r\n", whole.len()).into_bytes();
                    tail.append(&mut whole);
                }
                total += put_snapshot(stream, handle, &mut snap_comp, &tail, true)
                    .await
                    .map_err(|()| SnapEnd::Gone)?;
                return Ok(total);
            }
            None => return Err(SnapEnd::Gone),
        }
    }
}

/// Why a snapshot stream stopped early.
enum SnapEnd {
    /// The peer went away, or the snapshot failed.
    Gone,
    /// The replica sent a command to serve now.
    Input,
}

/// The name of the first command in `q`, once it has arrived (RESP or inline).
fn first_command_name(q: &[u8]) -> Option<&[u8]> {
    let line_end = |b: &[u8]| b.windows(2).position(|w| w == b"\r\n");
    if q.first() == Some(&b'*') {
        let rest = &q[line_end(q)? + 2..];
        if rest.first() != Some(&b'$') {
            return None;
        }
        let e = line_end(rest)?;
        let len: usize = std::str::from_utf8(&rest[1..e]).ok()?.parse().ok()?;
        return rest.get(e + 2..e + 2 + len);
    }
    let e = q.iter().position(|&b| b == b'\n')?;
    q[..e]
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())
}

/// Writes bytes the relay compressed (`plain` bytes of the snapshot) and counts them.
async fn put_packed(
    stream: &mut ClientSocket,
    handle: &crate::client::ClientHandle,
    plain: usize,
    packed: &[u8],
) -> Result<u64, ()> {
    stream.write_all(packed).await.map_err(|_| ())?;
    handle.sync_sent.set(handle.sync_sent.get() + plain as u64);
    handle.sync_progress.set(std::time::Instant::now());
    let rb = &handle.repl_bytes;
    rb.raw.set(rb.raw.get() + plain as u64);
    rb.wire.set(rb.wire.get() + packed.len() as u64);
    Ok(packed.len() as u64)
}

/// Writes snapshot bytes (compressed on a zstd link) and counts them; returns the bytes
/// that went on the wire.
async fn put_snapshot(
    stream: &mut ClientSocket,
    handle: &crate::client::ClientHandle,
    comp: &mut Option<crate::repl_link::Compressor>,
    data: &[u8],
    last: bool,
) -> Result<u64, ()> {
    if data.is_empty() && !last {
        return Ok(0);
    }
    let wire = match comp.as_mut() {
        Some(z) => {
            let mut packed = Vec::new();
            z.compress(data, &mut packed).map_err(|_| ())?;
            if last {
                z.finish(&mut packed).map_err(|_| ())?;
            }
            stream.write_all(&packed).await.map_err(|_| ())?;
            packed.len() as u64
        }
        None => {
            stream.write_all(data).await.map_err(|_| ())?;
            data.len() as u64
        }
    };
    handle
        .sync_sent
        .set(handle.sync_sent.get() + data.len() as u64);
    let rb = &handle.repl_bytes;
    rb.raw.set(rb.raw.get() + data.len() as u64);
    rb.wire.set(rb.wire.get() + wire);
    Ok(wire)
}

/// Writes a replica's share of the replication buffer (from its offset to the end) and
/// advances its offset.
async fn send_repl_stream(
    srv: &Rc<RefCell<Server>>,
    stream: &mut ClientSocket,
    handle: &Rc<crate::client::ClientHandle>,
    comp: &mut Option<crate::repl_link::Compressor>,
) -> Result<(), ()> {
    if handle.snapshot_only.get() || handle.stream_armed.get() {
        // An rdb-channel sync: the stream goes on the other connection (or not yet here).
        return Ok(());
    }
    loop {
        let (blocks, start, end) = {
            let s = srv.borrow();
            let off = handle.repl_off.get();
            if off < s.repl_buf.first_offset() {
                // Its history is gone (cannot happen while it is registered): resync.
                return Err(());
            }
            let (b, st) = s.repl_buf.read_from(off);
            (b, st, s.repl_buf.end_offset())
        };
        if blocks.is_empty() {
            return Ok(());
        }
        let mut sent = 0u64;
        let mut wire = 0u64;
        let mut packed = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let part = if i == 0 { &b[start..] } else { &b[..] };
            match comp.as_mut() {
                Some(z) => z.compress(part, &mut packed).map_err(|_| ())?,
                None => {
                    stream.write_all(part).await.map_err(|_| ())?;
                    wire += part.len() as u64;
                }
            }
            sent += part.len() as u64;
        }
        if !packed.is_empty() {
            stream.write_all(&packed).await.map_err(|_| ())?;
            wire += packed.len() as u64;
        }
        let rb = &handle.repl_bytes;
        rb.raw.set(rb.raw.get() + sent);
        rb.wire.set(rb.wire.get() + wire);
        let mut s = srv.borrow_mut();
        s.stats.net_output_bytes += wire;
        let now_at = handle.repl_off.get() + sent;
        handle.repl_off.set(now_at.min(end));
        crate::propagate::trim(&mut s);
    }
}

/// Logs a reply a replica's command produced (it is not sent; the replica is dropped).
fn replica_replied(c: &Client, reply: &[u8]) {
    let cmd = c.handle.info.borrow().last_cmd.clone();
    if reply.first() == Some(&b'-') {
        let end = reply
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(reply.len());
        warning!(
            "== CRITICAL == This master is sending an error to its replica: '{}' after processing the command '{cmd}'",
            String::from_utf8_lossy(&reply[1..end])
        );
    }
    warning!(
        "Replica generated a reply to command '{cmd}', disconnecting it: {}",
        c.handle.list_line(Instant::now(), None)
    );
}

/// Serves one accepted connection until it closes.
pub async fn serve(srv: Rc<RefCell<Server>>, mut stream: ClientSocket, handle: Rc<ClientHandle>) {
    // As Redis's createClient: authenticated when the default user needs no password.
    let (authenticated, user) = {
        let s = srv.borrow();
        (s.acl.default_open, s.acl.default.clone())
    };
    let mut c = Client::new(handle.clone(), authenticated);
    crate::acl::set_client_user(&mut c, user);
    let mut qbuf: Vec<u8> = Vec::new();
    let mut parser = CommandParser::new();
    let mut rpos = 0usize;
    let mut need_read = true;
    let mut served_before = false;
    // A replica's snapshot abandoned for a command it sent: it goes after that batch.
    let mut abandoned = false;
    let mut throttle_ms = 0u64;
    let mut read_while_writing = false;
    loop {
        if need_read {
            // A big bulk arriving has exactly the room it announced: no more is made for it.
            let min_spare = if parser
                .pending_bulk()
                .is_some_and(|(data, end)| end - data >= BIG_ARG)
            {
                1
            } else {
                READ_CHUNK / 4
            };
            // RESP3 clients may get pushes (client-side caching invalidations) at any time.
            let subscribed =
                c.subscribed() || c.repl.is_replica || handle.monitor.get() || c.reply.resp3;
            let got = if subscribed {
                tokio::select! {
                    biased;
                    _ = handle.outbox_notify.notified() => None,
                    r = stream.read_or_wake(&mut qbuf, &handle.wake, min_spare) => Some(r),
                }
            } else {
                Some(
                    stream
                        .read_or_wake(&mut qbuf, &handle.wake, min_spare)
                        .await,
                )
            };
            let n = match got {
                None => {
                    if c.repl.is_replica {
                        // The replication stream: what the shared buffer holds past our offset.
                        if send_repl_stream(&srv, &mut stream, &handle, &mut c.repl.comp)
                            .await
                            .is_err()
                        {
                            break;
                        }
                        continue;
                    }
                    // Messages from publishers: write them out, then read again.
                    let out = std::mem::take(&mut *handle.outbox.borrow_mut());
                    if !out.is_empty() {
                        handle.info.borrow_mut().omem = out.len();
                        if stream.write_all(&out).await.is_err() {
                            break;
                        }
                        handle.info.borrow_mut().omem = 0;
                    }
                    continue;
                }
                Some(Ok(None)) => {
                    resize_qbuf(&mut qbuf, &mut rpos, &handle, &parser);
                    continue;
                }
                Some(Ok(Some(0)) | Err(_)) => break,
                Some(Ok(Some(n))) => n,
            };
            handle
                .qbuf_peak
                .set(handle.qbuf_peak.get().max(qbuf.len() - rpos));
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
            let base = c.reply.out.len();
            {
                // Messages published before these commands ran go out first.
                let mut ob = handle.outbox.borrow_mut();
                if !ob.is_empty() {
                    c.reply.out.extend_from_slice(&ob);
                    ob.clear();
                }
            }
            let was_replica = c.repl.is_replica;
            let keep = c.reply.out.len();
            let dirty_before = s.dirty;
            let step = process(&mut s, &mut c, &mut parser, &qbuf, &mut rpos);
            // replica-output-buffer-throttling: writes wait while a replica's buffer is over
            // what its sync's progress allows (never a connection's first command).
            if s.throttle.delay_ms > 0 && served_before && s.dirty != dirty_before && !was_replica {
                throttle_ms = s.throttle.delay_ms;
                s.throttle.delayed_replies += 1;
                s.throttle.delayed_ms += throttle_ms;
            }
            served_before = true;
            // `appendfsync always`: what these replies acknowledge is on disk first.
            crate::aof::before_reply(&mut s);
            if was_replica {
                // A replica gets the stream, never replies to what it sends (REPLCONF ACK has
                // none): a command that made one is a misbehaving replica, dropped as Redis.
                if c.reply.out.len() > keep {
                    replica_replied(&c, &c.reply.out[keep..]);
                    c.close_after_reply = true;
                }
                c.reply.out.truncate(keep);
            }
            s.stats.net_output_bytes += (c.reply.out.len() - base) as u64;
            let mut info = handle.info.borrow_mut();
            // While replies wait for the socket they are this client's output buffer (CLIENT
            // LIST omem, INFO mem_clients_normal).
            info.omem = c.reply.out.len() - c.out_sent;
            info.multi_mem = c.multi.as_ref().map_or(0, |m| m.mem);
            info.other_mem = c.watched.len() * crate::client::WATCH_MEM
                + (c.subs.len() + c.psubs.len() + c.ssubs.len()) * crate::client::SUB_MEM
                + handle.tracking_prefixes.borrow().len() * crate::client::PREFIX_MEM;
            account_qbuf(&mut info, &mut qbuf, rpos, &parser);
            info.resp = if c.reply.resp3 { 3 } else { 2 };
            handle.resp3.set(c.reply.resp3);
            info.name.clone_from(&c.name);
            drop(info);
            if c.close_asap {
                crate::client_evict::forget(&mut s, &handle);
            } else {
                crate::client_evict::update_and_check(&mut s, &handle);
            }
            step
        };
        if c.close_asap {
            break;
        }
        if throttle_ms > 0 {
            tokio::time::sleep(Duration::from_millis(throttle_ms)).await;
            throttle_ms = 0;
        }
        if c.reply.out.len() > c.out_sent {
            // Reading goes on while the socket is full (a pipelining client may write all its
            // commands before reading any reply). Commands that arrive meanwhile are run and
            // their replies queued behind the pending output, as Redis does: this output is
            // then bounded by `client-output-buffer-limit` and `maxmemory-clients`.
            let max_q = srv.borrow().settings.client_query_buffer_limit;
            let early = matches!(step, Step::NeedInput) && !c.close_after_reply;
            let w = match stream
                .write_all_reading(&c.reply.out[c.out_sent..], &mut qbuf, rpos + max_q, early)
                .await
            {
                Err(_) => break,
                Ok(w) => w,
            };
            if w.read > 0 {
                srv.borrow_mut().stats.net_input_bytes += w.read as u64;
                handle.last_interaction.set(Instant::now());
                read_while_writing = true;
            }
            c.out_sent += w.written;
            if c.out_sent < c.reply.out.len() {
                // Returned early: what was written goes once it is half the buffer.
                if c.out_sent * 2 > c.reply.out.len() {
                    c.reply.out.drain(..c.out_sent);
                    c.out_sent = 0;
                }
                handle.info.borrow_mut().omem = c.reply.out.len() - c.out_sent;
                crate::client_evict::update(&mut srv.borrow_mut(), &handle);
                if handle.killed.get() {
                    break;
                }
                need_read = false;
                read_while_writing = false;
                continue;
            }
            c.out_sent = 0;
            handle.info.borrow_mut().omem = 0;
            crate::client_evict::update(&mut srv.borrow_mut(), &handle);
            c.reply.out.clear();
            if c.reply.out.capacity() > 64 * 1024 {
                c.reply.out.shrink_to(16 * 1024);
            }
        }
        if c.close_after_reply || handle.killed.get() || abandoned {
            break;
        }
        if rpos > 0 {
            qbuf.drain(..rpos);
            rpos = 0;
        }
        match step {
            // Input read while the reply was written is parsed before waiting for more.
            Step::NeedInput => need_read = !std::mem::take(&mut read_while_writing),
            Step::Paused => {
                // A postponed client counts as blocked (INFO blocked_clients), as in Redis.
                let (notify, until) = {
                    let mut s = srv.borrow_mut();
                    s.paused_clients += 1;
                    (s.pause_notify.clone(), s.pause.map(|p| p.until_ms))
                };
                // No deadline (a shutdown or a FAILOVER): their end wakes us through the notify.
                let wait = until.map(|u| (u - now_ms()).max(1) as u64).unwrap_or(100);
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                }
                srv.borrow_mut().paused_clients -= 1;
                need_read = false;
            }
            Step::Wait => {
                let Some(w) = c.wait.take() else {
                    continue;
                };
                let notify = srv.borrow().repl_ack_notify.clone();
                loop {
                    let n = crate::cmds::count_acked(&srv.borrow(), w.target);
                    let now = now_ms();
                    if n >= w.numreplicas || (w.deadline_ms > 0 && now >= w.deadline_ms) {
                        c.reply.int(n);
                        break;
                    }
                    let wait = if w.deadline_ms > 0 {
                        Duration::from_millis((w.deadline_ms - now).max(1) as u64)
                    } else {
                        Duration::from_secs(1)
                    };
                    tokio::select! {
                        _ = notify.notified() => {}
                        _ = tokio::time::sleep(wait.min(Duration::from_millis(100))) => {}
                    }
                    if handle.killed.get() {
                        break;
                    }
                }
                need_read = false;
            }
            Step::Stream => {
                let Some(snap) = c.stream.take() else {
                    continue;
                };
                let close = snap.close_after;
                let (checksum, limit) = {
                    let s = srv.borrow();
                    (s.settings.rdbchecksum, s.settings.client_query_buffer_limit)
                };
                match stream_snapshot(
                    &mut stream,
                    snap,
                    checksum,
                    &mut qbuf,
                    limit,
                    &handle,
                    &mut c.repl.comp,
                )
                .await
                {
                    Ok(n) => srv.borrow_mut().stats.net_output_bytes += n,
                    Err(SnapEnd::Gone) => break,
                    Err(SnapEnd::Input) => {
                        // Served now; the snapshot is abandoned, so the replica goes after it
                        // (with the log of the reply it made).
                        abandoned = true;
                        need_read = false;
                        continue;
                    }
                }
                if handle.sync_phase.get() >= 1 {
                    handle.sync_phase.set(3);
                }
                // An rdb-channel sync decides here: its stream moved to the second
                // connection, or (still armed) that one is closed and the stream follows the
                // snapshot on this one.
                let peer = handle.rdbchan_peer.get();
                if peer != 0 && !handle.snapshot_only.get() {
                    handle.rdbchan_peer.set(0);
                    if let Some(b) = srv.borrow().clients.get(&peer) {
                        if b.stream_armed.get() {
                            b.kill();
                        }
                    }
                }
                if close {
                    break;
                }
                if c.repl.is_replica
                    && send_repl_stream(&srv, &mut stream, &handle, &mut c.repl.comp)
                        .await
                        .is_err()
                {
                    break;
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
    if c.repl.is_replica {
        crate::propagate::detach_replica(&mut s, handle.id);
        notice!("Connection with replica {} lost.", handle.addr);
    }
    crate::multi::discard(&mut s, &mut c);
    crate::pubsub::drop_all(&mut s, &mut c);
    crate::monitor::stop(&mut s, &c);
    crate::tracking::disable(&mut s, &handle);
    crate::client_evict::forget(&mut s, &handle);
    s.clients.remove(&handle.id);
}
