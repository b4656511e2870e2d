//! Encoding of what goes into an AOF: commands as RESP multibulk (`*N\r\n$len\r\narg\r\n...`),
//! the `SELECT` Redis emits when the target database changes, and `#TS:<unix>\r\n` timestamp
//! annotations. Byte for byte what Redis 7.0 writes.

/// Appends `*N\r\n` then `$len\r\narg\r\n` for each argument to `out`.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let total: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    out.reserve(total + 16);
    push_header(out, b'*', args.len());
    for a in args {
        let a = a.as_ref();
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the `SELECT <db>` command exactly as Redis's `feedAppendOnlyFile` writes it.
pub fn encode_select(out: &mut Vec<u8>, db: usize) {
    let n = db.to_string();
    encode_command(out, &[b"SELECT".as_slice(), n.as_bytes()]);
}

/// Appends a timestamp annotation `#TS:<unix>\r\n`.
pub fn encode_timestamp(out: &mut Vec<u8>, unix_secs: i64) {
    out.extend_from_slice(b"#TS:");
    out.extend_from_slice(unix_secs.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn select_and_ts() {
        let mut out = Vec::new();
        encode_select(&mut out, 12);
        encode_timestamp(&mut out, 1_700_000_000);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n#TS:1700000000\r\n");
    }
}
