//! Differential test: every command in `tests/corpus/*.txt` goes to the reference redis-server
//! and to Cinnabar, and the raw reply bytes must be identical. Each file runs twice, once over
//! RESP2 and once after `HELLO 3` on fresh connections.
//!
//! Corpus format, one item per line:
//! - a command, split like redis-cli input (`"..."` with `\xHH`/`\n` escapes, `'...'`);
//! - `# ...` a comment, blank lines ignored;
//! - `@reset` sends FLUSHALL to both; `@sleep MS` sleeps;
//! - modifiers before a command (may be combined, e.g. `@resp3 @type TIME`):
//!   `@type` compares only the reply's RESP type (first byte), for replies that vary (TIME,
//!   CLIENT ID, RANDOMKEY ...); `@ok` sends the command and ignores both replies; `@sorted`
//!   compares aggregates with their elements sorted, at every level (KEYS, SCAN order);
//!   `@resp2` / `@resp3` run the line only in that pass.
//!
//! Environment: `CINNABAR_SERVER_BIN` (the binary under test; point it at redis-server to check
//! the corpus itself), `REDIS_SERVER_BIN`, `CORPUS=name[,name]` to run only some files,
//! `DIFF_TRACE=1` to print every command and redis-server's reply (with `--nocapture`).

use cinnabar_testkit::{
    cinnabar_bin, escape, normalized_reply, redis_bin, require_redis, split_args,
};
use cinnabar_testkit::{Conn, Server};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Exact,
    Type,
    Ignore,
    Sorted,
}

#[derive(Debug)]
enum Step {
    Cmd {
        line: usize,
        text: String,
        mode: Mode,
        only: Option<u8>,
        args: Vec<Vec<u8>>,
    },
    Sleep(u64),
    Reset,
}

fn parse_corpus(path: &Path) -> Vec<Step> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let at = || format!("{}:{line}", path.display());
        let mut rest = raw.trim();
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if rest == "@reset" {
            steps.push(Step::Reset);
            continue;
        }
        if let Some(ms) = rest.strip_prefix("@sleep ") {
            let ms = ms
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad @sleep", at()));
            steps.push(Step::Sleep(ms));
            continue;
        }
        let mut mode = Mode::Exact;
        let mut only = None;
        while rest.starts_with('@') {
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            match word {
                "@type" => mode = Mode::Type,
                "@ok" => mode = Mode::Ignore,
                "@sorted" => mode = Mode::Sorted,
                "@resp2" => only = Some(2),
                "@resp3" => only = Some(3),
                other => panic!("{}: unknown directive {other}", at()),
            }
            rest = tail.trim_start();
        }
        let args = split_args(rest).unwrap_or_else(|e| panic!("{}: {e}", at()));
        assert!(!args.is_empty(), "{}: directive without a command", at());
        steps.push(Step::Cmd {
            line,
            text: rest.to_string(),
            mode,
            only,
            args,
        });
    }
    steps
}

/// One side of the comparison: a server and the test's connection to it.
struct Side {
    name: &'static str,
    port: u16,
    conn: Option<Conn>,
    proto: u8,
}

impl Side {
    fn connect(&mut self) -> Result<&mut Conn, String> {
        if self.conn.is_none() {
            let mut c = Conn::connect_port(self.port)
                .map_err(|e| format!("<{} connect failed: {e}>", self.name))?;
            c.set_read_timeout(Duration::from_secs(5));
            if self.proto == 3 {
                let r = c
                    .try_cmd(&["HELLO", "3"])
                    .map_err(|e| format!("<HELLO 3 failed: {e}>"))?;
                if !r.starts_with(b"%") {
                    return Err(format!("<HELLO 3 replied {}>", escape(&r)));
                }
            }
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "<no connection>".to_string())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let c = self.connect()?;
        if let Err(e) = c.try_send_raw(bytes) {
            self.conn = None;
            return Err(format!("<write failed: {e}>"));
        }
        Ok(())
    }

    /// The raw reply, or a `<...>` description of what went wrong (then the connection is
    /// dropped and the next command reconnects).
    fn recv(&mut self) -> Vec<u8> {
        let Some(c) = self.conn.as_mut() else {
            return b"<not connected>".to_vec();
        };
        match c.read_reply_raw() {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                format!("<{e}>").into_bytes()
            }
        }
    }

    fn exchange(&mut self, bytes: &[u8]) -> Vec<u8> {
        match self.send(bytes) {
            Ok(()) => self.recv(),
            Err(e) => e.into_bytes(),
        }
    }
}

fn same(mode: Mode, a: &[u8], b: &[u8]) -> bool {
    match mode {
        Mode::Exact => a == b,
        Mode::Ignore => true,
        Mode::Type => a.first() == b.first() && !a.starts_with(b"<") && !b.starts_with(b"<"),
        Mode::Sorted => normalized_reply(a) == normalized_reply(b),
    }
}

fn shown(raw: &[u8]) -> String {
    let mut s = escape(raw);
    if s.len() > 600 {
        s.truncate(600);
        s.push_str("...(truncated)");
    }
    s
}

fn run_file(path: &Path, steps: &[Step], proto: u8, redis: &Server, cin: &Server) -> Vec<String> {
    let mut r = Side {
        name: "redis",
        port: redis.port(),
        conn: None,
        proto,
    };
    let mut c = Side {
        name: "cinnabar",
        port: cin.port(),
        conn: None,
        proto,
    };
    let mut bad = Vec::new();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let flush = cinnabar_testkit::encode_command(&["FLUSHALL"]);
    for side in [&mut r, &mut c] {
        let reply = side.exchange(&flush);
        if reply != b"+OK\r\n" {
            bad.push(format!(
                "{name} [RESP{proto}] setup: FLUSHALL on {} replied {}",
                side.name,
                shown(&reply)
            ));
        }
    }
    for step in steps {
        match step {
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Reset => {
                let a = r.exchange(&flush);
                let b = c.exchange(&flush);
                if a != b {
                    bad.push(format!(
                        "{name} [RESP{proto}] @reset: redis {} cinnabar {}",
                        shown(&a),
                        shown(&b)
                    ));
                }
            }
            Step::Cmd {
                line,
                text,
                mode,
                only,
                args,
            } => {
                if only.is_some_and(|p| p != proto) {
                    continue;
                }
                let bytes = cinnabar_testkit::encode_command(args);
                // Both servers get the command before either reply is read, so they see it at
                // (almost) the same moment.
                let sa = r.send(&bytes);
                let sb = c.send(&bytes);
                let a = match sa {
                    Ok(()) => r.recv(),
                    Err(e) => e.into_bytes(),
                };
                let b = match sb {
                    Ok(()) => c.recv(),
                    Err(e) => e.into_bytes(),
                };
                if trace() {
                    println!("{name}:{line} [RESP{proto}] {text}\n    -> {}", shown(&a));
                }
                if !same(*mode, &a, &b) {
                    let how = match mode {
                        Mode::Type => " (type only)",
                        Mode::Sorted => " (sorted)",
                        _ => "",
                    };
                    bad.push(format!(
                        "{name}:{line} [RESP{proto}]{how} {text}\n      redis:    {}\n      cinnabar: {}",
                        shown(&a),
                        shown(&b)
                    ));
                }
            }
        }
    }
    bad
}

/// `DIFF_TRACE=1` prints every command with redis-server's reply (run with `--nocapture`).
fn trace() -> bool {
    std::env::var_os("DIFF_TRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let filter: Option<Vec<String>> = std::env::var("CORPUS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            filter
                .as_ref()
                .is_none_or(|f| stem.is_some_and(|s| f.contains(&s)))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_matches_redis_byte_for_byte() {
    require_redis!();
    let files = corpus_files();
    assert!(!files.is_empty(), "no corpus files selected");
    let parsed: Vec<(PathBuf, Vec<Step>)> = files
        .into_iter()
        .map(|p| {
            let steps = parse_corpus(&p);
            (p, steps)
        })
        .collect();

    let redis = Server::start(&redis_bin(), &[]);
    let cin = Server::start(&cinnabar_bin(), &[]);
    let mut bad = Vec::new();
    let mut commands = 0;
    for (path, steps) in &parsed {
        commands += steps
            .iter()
            .filter(|s| matches!(s, Step::Cmd { .. }))
            .count();
        for proto in [2, 3] {
            bad.extend(run_file(path, steps, proto, &redis, &cin));
            cin.assert_alive();
        }
    }
    println!(
        "differential: {} files, {commands} commands x 2 protocols, {} mismatches ({} vs {})",
        parsed.len(),
        bad.len(),
        redis.bin().display(),
        cin.bin().display()
    );
    if !bad.is_empty() {
        panic!(
            "{} replies differ from redis-server:\n  {}",
            bad.len(),
            bad.join("\n  ")
        );
    }
}

#[test]
fn corpus_parser() {
    let dir = std::env::temp_dir().join(format!("corpus-parser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = dir.join("x.txt");
    std::fs::write(
        &p,
        "# comment\n\n@reset\n@sleep 5\nSET \"a b\" '\\x41'\n@resp3 @type TIME\n@sorted KEYS *\n@ok DEBUG\n",
    )
    .expect("write");
    let steps = parse_corpus(&p);
    std::fs::remove_dir_all(&dir).expect("rmdir");
    assert_eq!(steps.len(), 6);
    assert!(matches!(steps[0], Step::Reset));
    assert!(matches!(steps[1], Step::Sleep(5)));
    match &steps[2] {
        Step::Cmd {
            line, args, mode, ..
        } => {
            assert_eq!(*line, 5);
            assert_eq!(*mode, Mode::Exact);
            assert_eq!(
                args,
                &vec![b"SET".to_vec(), b"a b".to_vec(), b"\\x41".to_vec()]
            );
        }
        s => panic!("{s:?}"),
    }
    assert!(matches!(
        steps[3],
        Step::Cmd {
            mode: Mode::Type,
            only: Some(3),
            ..
        }
    ));
    assert!(matches!(
        steps[4],
        Step::Cmd {
            mode: Mode::Sorted,
            ..
        }
    ));
    assert!(matches!(
        steps[5],
        Step::Cmd {
            mode: Mode::Ignore,
            ..
        }
    ));
    assert!(same(
        Mode::Sorted,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"
    ));
    assert!(!same(
        Mode::Sorted,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
    ));
    assert!(same(
        Mode::Sorted,
        b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
        b"%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n"
    ));
    assert!(!same(
        Mode::Sorted,
        b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
        b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n"
    ));
    assert!(same(
        Mode::Sorted,
        b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n",
        b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\ny\r\n$1\r\nx\r\n"
    ));
    assert!(same(Mode::Type, b":1\r\n", b":2\r\n"));
    assert!(!same(Mode::Type, b":1\r\n", b"$1\r\n1\r\n"));
}
