//! Compares cinnabar-config with real redis-server 7.0.15, through fixtures captured by
//! `tests/data/gen_oracle.py`: CONFIG GET of a default server, a long CONFIG SET / GET
//! session, the fatal errors of bad configuration files and command lines, and CONFIG REWRITE
//! of a few files.

use cinnabar_config::{split_args, Config};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn data(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinnabar-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    std::fs::canonicalize(&d).expect("canonical temp dir")
}

fn one(line: &[u8]) -> Vec<u8> {
    let mut t = split_args(line).expect("quoted fixture token");
    assert_eq!(t.len(), 1, "{}", String::from_utf8_lossy(line));
    t.remove(0)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_config_get_matches_redis() {
    let text = data("redis-7.0.15-config-get-default.txt");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut redis: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for pair in lines.chunks(2) {
        if let [k, v] = pair {
            redis.insert(k.to_vec(), v.to_vec());
        }
    }
    assert_eq!(redis.len(), 192);
    let cfg = Config::load(
        None,
        &strings(&["--port", "0", "--unixsocket", "/tmp/rr/r.sock"]),
    )
    .expect("loads");
    let ours: BTreeMap<Vec<u8>, Vec<u8>> = cfg.get_raw(&["*"]).into_iter().collect();
    assert_eq!(ours.len(), redis.len());
    for (k, v) in &redis {
        let mine = ours
            .get(k)
            .unwrap_or_else(|| panic!("missing {}", String::from_utf8_lossy(k)));
        if k == b"dir" {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(mine),
            String::from_utf8_lossy(v),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
}

/// Renders a reply like the fixture: `+OK`, `-ERR ...` or `*` and quoted elements (pairs
/// sorted, since Redis's order is its hash table's).
fn render_pairs(mut pairs: Vec<(Vec<u8>, Vec<u8>)>) -> String {
    // `dir` is the server's working directory, which differs between the two.
    pairs.retain(|(k, _)| k != b"dir");
    pairs.sort();
    let mut s = String::from("*");
    for (k, v) in pairs {
        s.push(' ');
        s.push_str(&cinnabar_config::repr(&k));
        s.push(' ');
        s.push_str(&cinnabar_config::repr(&v));
    }
    s
}

#[test]
fn config_set_get_session_matches_redis() {
    let text = data("config-set-get.txt");
    let d = temp_dir("setget");
    let sock = d.join("r.sock").display().to_string();
    let mut cfg =
        Config::load(None, &strings(&["--port", "0", "--unixsocket", &sock])).expect("loads");
    let mut cmd: Option<Vec<Vec<u8>>> = None;
    let mut checked = 0;
    for line in text.split(|&b| b == b'\n') {
        if let Some(c) = line.strip_prefix(b"> ") {
            cmd = Some(split_args(c).expect("command"));
            continue;
        }
        let Some(expected) = line.strip_prefix(b"< ") else {
            continue;
        };
        let c = cmd.take().expect("command before reply");
        let shown: Vec<String> = c
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let got = match c[1].as_slice() {
            b"set" => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = c[2..]
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect();
                match cfg.set(&pairs) {
                    Ok(_) => "+OK".to_string(),
                    Err(e) => format!("-{e}"),
                }
            }
            _ => render_pairs(cfg.get_raw(&c[2..])),
        };
        let expected = String::from_utf8_lossy(expected).into_owned();
        let expected = if expected.starts_with('*') {
            let toks = split_args(&expected.as_bytes()[1..]).expect("reply tokens");
            render_pairs(
                toks.chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            )
        } else {
            expected
        };
        assert_eq!(got, expected, "{shown:?}");
        checked += 1;
    }
    assert!(checked > 300, "{checked}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn load_errors_match_redis() {
    let text = data("load-errors.txt");
    let d = temp_dir("loaderr");
    let conf = d.join("bad.conf");
    let mut lines = text.split(|&b| b == b'\n').peekable();
    let mut cases = 0;
    while let Some(line) = lines.next() {
        let Some(file) = line.strip_prefix(b"= ") else {
            continue;
        };
        let file = one(file);
        let args_line = lines
            .next()
            .and_then(|l| l.strip_prefix(b"+ "))
            .expect("args line");
        let args: Vec<String> = split_args(args_line)
            .expect("args")
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let mut stderr: Vec<&[u8]> = Vec::new();
        for l in lines.by_ref() {
            if l == b"." {
                break;
            }
            stderr.push(l);
        }
        let expected = String::from_utf8_lossy(&stderr.join(&b'\n')).into_owned();
        std::fs::write(&conf, &file).expect("write conf");
        let err = Config::load(Some(&conf), &args).expect_err(&expected);
        assert_eq!(
            format!("{err}\n"),
            expected,
            "{:?} {args:?}",
            String::from_utf8_lossy(&file)
        );
        cases += 1;
    }
    assert!(cases > 50, "{cases}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Lines of a rewritten file: the part both agree on must be the same, and what follows (the
/// appended directives, whose order in Redis is arbitrary) the same set of directive lines.
fn assert_same_rewrite(ours: &str, redis: &str, case: &str) {
    let a: Vec<&str> = ours.lines().collect();
    let b: Vec<&str> = redis.lines().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rest_a: Vec<&str> = a[common..].to_vec();
    let mut rest_b: Vec<&str> = b[common..].to_vec();
    for l in rest_a.iter().chain(&rest_b) {
        assert!(
            !l.is_empty() && !l.starts_with('#'),
            "{case}: differs before the appended part at {l:?}\nours:\n{ours}\nredis:\n{redis}"
        );
    }
    rest_a.sort();
    rest_b.sort();
    assert_eq!(rest_a, rest_b, "{case}\nours:\n{ours}\nredis:\n{redis}");
    assert_eq!(ours.ends_with('\n'), redis.ends_with('\n'));
}

#[test]
fn rewrite_matches_redis() {
    let text = data("rewrite.txt");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut i = 0;
    let mut cases = 0;
    while i < lines.len() {
        let Some(name) = lines[i].strip_prefix(b"@ ") else {
            i += 1;
            continue;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let d = temp_dir(&format!("rewrite-{name}"));
        let ds = d.display().to_string();
        let sub = |b: &[u8]| String::from_utf8_lossy(b).replace("@DIR@", &ds);
        i += 1;
        let start = sub(&one(lines[i].strip_prefix(b"= ").expect("start file")));
        i += 1;
        while let Some(f) = lines[i].strip_prefix(b"f ") {
            let toks = split_args(f).expect("file tokens");
            std::fs::write(
                d.join(String::from_utf8_lossy(&toks[0]).as_ref()),
                sub(&toks[1]),
            )
            .expect("extra file");
            i += 1;
        }
        let sets = split_args(lines[i].strip_prefix(b"> ").expect("sets")).expect("set tokens");
        i += 1;
        let after = sub(&one(lines[i].strip_prefix(b"+ ").expect("after")));
        i += 1;
        let expected = sub(&one(lines[i].strip_prefix(b"< ").expect("result")));
        i += 1;

        let conf = d.join("r.conf");
        std::fs::write(&conf, &start).expect("conf");
        let sock = d.join("r.sock").display().to_string();
        let extra = if start.contains("unixsocket") {
            vec![]
        } else {
            strings(&["--port", "0", "--unixsocket", &sock])
        };
        let mut cfg = Config::load(Some(&conf), &extra).expect("loads");
        cfg.set_dir(&d);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = sets
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        cfg.set(&pairs).expect("config set");
        if !after.is_empty() {
            let mut t = std::fs::read_to_string(&conf).expect("read conf");
            t.push_str(&after);
            std::fs::write(&conf, t).expect("append");
        }
        cfg.rewrite(&conf).expect("rewrite");
        let ours = std::fs::read_to_string(&conf).expect("rewritten");
        assert_same_rewrite(&ours, &expected, &name);
        let _ = std::fs::remove_dir_all(&d);
        cases += 1;
    }
    assert_eq!(cases, 4);
}

#[test]
fn loaded_files_match_redis() {
    let text = data("load-ok.txt");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut i = 0;
    let mut cases = 0;
    while i < lines.len() {
        let Some(name) = lines[i].strip_prefix(b"@ ") else {
            i += 1;
            continue;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let d = temp_dir(&format!("loadok-{name}"));
        let ds = d.display().to_string();
        let sub = |b: &[u8]| String::from_utf8_lossy(b).replace("@DIR@", &ds);
        let file = sub(&one(lines[i + 1].strip_prefix(b"= ").expect("file")));
        let args: Vec<String> = split_args(lines[i + 2].strip_prefix(b"+ ").expect("args"))
            .expect("arg tokens")
            .iter()
            .map(|a| sub(a))
            .collect();
        i += 3;
        let mut redis: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        while let Some(kv) = lines.get(i).and_then(|l| l.strip_prefix(b"< ")) {
            let t = split_args(kv).expect("pair");
            redis.insert(t[0].clone(), sub(&t[1]).into_bytes());
            i += 1;
        }
        let conf = d.join("r.conf");
        std::fs::write(&conf, &file).expect("conf");
        let cfg = Config::load(Some(&conf), &args).expect("loads");
        let ours: BTreeMap<Vec<u8>, Vec<u8>> = cfg.get_raw(&["*"]).into_iter().collect();
        assert_eq!(ours.len(), redis.len(), "{name}");
        for (k, v) in &redis {
            let mine = ours.get(k).expect("same names");
            assert_eq!(
                String::from_utf8_lossy(mine),
                String::from_utf8_lossy(v),
                "{name}: {}",
                String::from_utf8_lossy(k)
            );
        }
        let _ = std::fs::remove_dir_all(&d);
        cases += 1;
    }
    assert_eq!(cases, 2);
}
