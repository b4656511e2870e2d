//! A minimal harness for this crate's tests: start the cinnabar-server binary cargo built on a
//! free port in a temp dir, talk raw RESP to it, stop it on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Srv {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Srv {
    pub fn start(extra: &[&str]) -> Srv {
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("cinnabar-test-{}-{}", std::process::id(), port));
            let _ = std::fs::create_dir_all(&dir);
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                "".into(),
                "--dir".into(),
                dir.display().to_string(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let log = std::fs::File::create(dir.join("stdout.log")).expect("log file");
            let child = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
                .args(&args)
                .current_dir(&dir)
                .stdout(Stdio::from(log))
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn server");
            let mut s = Srv { child, port, dir };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                // Ready means our process logged it: a connection alone could reach another
                // process that took the port first (ours then exits on its bind error).
                if s.log().contains("Ready to accept connections")
                    && TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    return s;
                }
                if let Ok(Some(_)) = s.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.child.kill();
        }
        panic!("server did not start");
    }

    pub fn conn(&self) -> Conn {
        Conn::new(self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log();
        let _ = std::fs::remove_dir_all(&self.dir);
        if log.contains("panicked at") && !std::thread::panicking() {
            panic!("server panicked:\n{log}");
        }
    }
}

pub struct Conn {
    pub r: BufReader<TcpStream>,
}

impl Conn {
    pub fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        Conn {
            r: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        let _ = self.r.get_mut().write_all(raw);
    }

    pub fn cmd(&mut self, args: &[&str]) -> String {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
        }
        self.send(&b);
        self.read()
    }

    /// Reads one reply and renders it compactly: `+OK`, `:1`, `$hello`, `(nil)`, `-ERR ..`,
    /// arrays as `[a,b]`; `<closed>` when the server closed the connection.
    pub fn read(&mut self) -> String {
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) | Err(_) => return "<closed>".into(),
            Ok(_) => {}
        }
        let line = line.trim_end_matches("\r\n").to_string();
        if line.is_empty() {
            return "<empty>".into();
        }
        let (t, rest) = line.split_at(1);
        match t {
            "+" | "-" | ":" => line,
            "$" | "=" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    return "(nil)".into();
                }
                let mut buf = vec![0u8; n as usize + 2];
                if self.r.read_exact(&mut buf).is_err() {
                    return "<closed>".into();
                }
                format!("${}", String::from_utf8_lossy(&buf[..n as usize]))
            }
            "*" | "%" | "~" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    return "(nil)".into();
                }
                let n = if t == "%" { n * 2 } else { n };
                let items: Vec<String> = (0..n).map(|_| self.read()).collect();
                format!("[{}]", items.join(","))
            }
            _ => format!("?{line}"),
        }
    }
}
