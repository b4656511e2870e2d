//! Outgoing connections of the Sentinel to the instances it watches (masters, replicas, other
//! Sentinels). Each half of a link (the command connection, and for masters and replicas the
//! pub/sub connection subscribed to `__sentinel__:hello`) is one task: it connects, writes the
//! commands queued by the engine, and hands every reply back to the engine, tagged with what
//! the command was, through the one event channel. The engine closes a half by dropping its
//! sender; a half that fails reports `Closed`. Replies are parsed by the small RESP2 reader here.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A reply from an instance (RESP2 only: the Sentinel never sends HELLO 3 to them).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a status or error reply.
    pub fn line(&self) -> Option<&str> {
        match self {
            Reply::Status(s) | Reply::Error(s) => Some(s),
            _ => None,
        }
    }
}

/// What a queued command was, so its reply goes to the right handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Discard,
    Info,
    Ping,
    Publish,
    IsMasterDown,
    /// SUBSCRIBE on the pub/sub half: this reply and every message after it.
    Hello,
}

/// An event from a link task to the engine.
#[derive(Debug)]
pub struct LinkEvent {
    pub inst: u64,
    pub gen: u64,
    pub pubsub: bool,
    pub kind: LinkEventKind,
}

#[derive(Debug)]
pub enum LinkEventKind {
    /// Connected; our local address on that socket (the address announced in hellos).
    Connected(String),
    Reply(Tag, Reply),
    Closed,
}

/// A command for a link task: the encoded bytes and the tag of its reply.
pub type Outgoing = (Vec<u8>, Tag);

/// Encodes a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Largest bulk or array we accept from an instance (INFO is a few KB; this is generous).
const MAX_LEN: i64 = 64 << 20;

/// The stream from an instance is not RESP.
#[derive(Debug, PartialEq, Eq)]
pub struct BadReply;

/// Parses one reply from the start of `buf`: `Ok(Some((reply, consumed)))`, `Ok(None)` if
/// more bytes are needed, `Err` if the stream is not RESP.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, BadReply> {
    parse_at(buf, 0, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, BadReply> {
    if depth > 16 {
        return Err(BadReply);
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(end) = line_end(buf, at + 1) else {
        if buf.len() - at > 1 << 20 {
            return Err(BadReply);
        }
        return Ok(None);
    };
    let text = &buf[at + 1..end];
    let next = end + 2;
    let num = || -> Result<i64, BadReply> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(BadReply)
    };
    match kind {
        b'+' => Ok(Some((
            Reply::Status(String::from_utf8_lossy(text).into_owned()),
            next,
        ))),
        b'-' => Ok(Some((
            Reply::Error(String::from_utf8_lossy(text).into_owned()),
            next,
        ))),
        b':' => Ok(Some((Reply::Int(num()?), next))),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            if n > MAX_LEN {
                return Err(BadReply);
            }
            let n = n as usize;
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Reply::Bulk(Some(buf[next..next + n].to_vec())),
                next + n + 2,
            )))
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if n > MAX_LEN {
                return Err(BadReply);
            }
            let mut items = Vec::with_capacity((n as usize).min(64));
            let mut pos = next;
            for _ in 0..n {
                match parse_at(buf, pos, depth + 1)? {
                    Some((r, p)) => {
                        items.push(r);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), pos)))
        }
        _ => Err(BadReply),
    }
}

/// Runs one half of a link until the engine drops `rx` or the connection fails.
pub async fn run_link(
    host: String,
    port: u16,
    inst: u64,
    gen: u64,
    pubsub: bool,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    ev: mpsc::UnboundedSender<LinkEvent>,
) {
    let send = |kind: LinkEventKind| {
        let _ = ev.send(LinkEvent {
            inst,
            gen,
            pubsub,
            kind,
        });
    };
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect((host.as_str(), port)),
    )
    .await;
    let mut stream = match conn {
        Ok(Ok(s)) => s,
        _ => {
            send(LinkEventKind::Closed);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    send(LinkEventKind::Connected(local));
    let mut pending: VecDeque<Tag> = VecDeque::new();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some((bytes, tag)) = cmd else { return };
                if stream.write_all(&bytes).await.is_err() {
                    send(LinkEventKind::Closed);
                    return;
                }
                pending.push_back(tag);
            }
            n = stream.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => {
                        send(LinkEventKind::Closed);
                        return;
                    }
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut off = 0;
                loop {
                    match parse_reply(&buf[off..]) {
                        Ok(Some((reply, used))) => {
                            off += used;
                            let tag = if pubsub {
                                match pending.front() {
                                    Some(Tag::Hello) | None => Tag::Hello,
                                    Some(_) => pending.pop_front().unwrap_or(Tag::Discard),
                                }
                            } else {
                                pending.pop_front().unwrap_or(Tag::Discard)
                            };
                            send(LinkEventKind::Reply(tag, reply));
                        }
                        Ok(None) => break,
                        Err(BadReply) => {
                            send(LinkEventKind::Closed);
                            return;
                        }
                    }
                }
                buf.drain(..off);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_and_partial() {
        let b = b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n:5\r\n";
        let (r, n) = parse_reply(b).unwrap().unwrap();
        assert_eq!(n, b.len());
        assert_eq!(
            r,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"message".to_vec())),
                Reply::Bulk(Some(b"a".to_vec())),
                Reply::Int(5)
            ]))
        );
        assert_eq!(parse_reply(&b[..b.len() - 1]).unwrap(), None);
        assert!(parse_reply(b"?x\r\n").is_err());
        assert_eq!(
            parse_reply(b"+PONG\r\n").unwrap().unwrap().0,
            Reply::Status("PONG".into())
        );
    }
}
