//! Loading: files, `include` (relative, glob, nested errors), stdin, command-line options,
//! Redis's `save` accumulation rules, the rename-command / user hooks, module configs and
//! sentinel lines. Expected values were checked against redis-server 7.0.15.

use cinnabar_config::{Config, ConfigErrorKind, LoadOptions};
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cinnabar-config-load-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    std::fs::canonicalize(&d).expect("canonical temp dir")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn write(p: &Path, text: &str) {
    std::fs::write(p, text).expect("write");
}

fn get(c: &Config, name: &str) -> String {
    c.get_value(name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn file_then_options() {
    let d = temp_dir("basic");
    let f = d.join("a.conf");
    write(
        &f,
        "# c\n  port 7000  \nmaxmemory 1gb\nactive-defrag-cycle-min 2\nappendonly YES\nSLAVE-READ-ONLY no\nbind \"a b\" c\n",
    );
    let c = Config::load(
        Some(&f),
        &strings(&["--loglevel", "verbose", "--port 7001"]),
    )
    .expect("loads");
    assert_eq!(get(&c, "port"), "7001");
    assert_eq!(get(&c, "maxmemory"), "1073741824");
    assert_eq!(get(&c, "appendonly"), "yes");
    assert_eq!(get(&c, "replica-read-only"), "no");
    assert_eq!(get(&c, "loglevel"), "verbose");
    assert_eq!(c.bind_addrs(), vec!["a b".to_string(), "c".to_string()]);
    assert!(c.is_explicit("slave-read-only"));
    assert!(!c.is_explicit("hz"));
    let mut unimpl = c.unimplemented_set();
    unimpl.sort();
    assert_eq!(unimpl, vec!["active-defrag-cycle-min"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn multi_arg_single_argument_is_split() {
    let c = Config::load(
        None,
        &strings(&["--save", "10 1 20 2", "--bind", "1.2.3.4 ::1"]),
    )
    .expect("loads");
    assert_eq!(c.save_params(), vec![(10, 1), (20, 2)]);
    assert_eq!(get(&c, "bind"), "1.2.3.4 ::1");
    let c = Config::load(None, &strings(&["--save", ""])).expect("loads");
    assert!(c.save_params().is_empty());
    let c = Config::load(None, &strings(&["--save"])).expect("loads");
    assert_eq!(get(&c, "save"), "");
    let c = Config::load(None, &strings(&["--save", "--port", "5"])).expect("loads");
    assert_eq!(
        (get(&c, "save").as_str(), get(&c, "port").as_str()),
        ("", "5")
    );
}

#[test]
fn save_lines_add_up_until_an_include() {
    let d = temp_dir("save");
    let inc = d.join("inc.conf");
    write(&inc, "save 5 5\n");
    let f = d.join("b.conf");
    write(
        &f,
        &format!(
            "save 10 1\ninclude {}\nsave 20 2\nsave 30 3\n",
            inc.display()
        ),
    );
    let c = Config::load(
        Some(&f),
        &strings(&["--save", "40", "4", "--save", "50", "5"]),
    )
    .expect("loads");
    assert_eq!(get(&c, "save"), "50 5");
    write(&f, "save 10 1\nsave 20 2\n");
    let c = Config::load(Some(&f), &strings(&["--save", "40 4"])).expect("loads");
    assert_eq!(get(&c, "save"), "10 1 20 2 40 4");
    let c = Config::load(Some(&f), &strings(&["--save", ""])).expect("loads");
    assert_eq!(get(&c, "save"), "");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn includes() {
    let d = temp_dir("include");
    std::fs::create_dir_all(d.join("conf.d")).expect("conf.d");
    write(&d.join("conf.d/a.conf"), "hz 20\n");
    write(&d.join("conf.d/b.conf"), "hz 30\nmaxmemory 5mb\n");
    write(&d.join("conf.d/.hidden.conf"), "hz 99\n");
    let f = d.join("main.conf");
    write(
        &f,
        &format!(
            "include {}/conf.d/*.conf\ninclude {}/empty.d/*.conf\n",
            d.display(),
            d.display()
        ),
    );
    let c = Config::load(Some(&f), &[]).expect("loads");
    assert_eq!(get(&c, "hz"), "30");
    assert_eq!(get(&c, "maxmemory"), "5242880");

    // Relative includes are relative to the working directory, which `dir` changes.
    write(&f, &format!("dir {}\ninclude conf.d/a.conf\n", d.display()));
    let c = Config::load(Some(&f), &[]).expect("loads");
    assert_eq!(get(&c, "hz"), "20");
    assert_eq!(c.dir(), d);

    // Errors inside an included file name its own line.
    write(&d.join("bad.conf"), "\nloglevel bad\n");
    write(&f, &format!("port 0\ninclude {}/bad.conf\n", d.display()));
    let e = Config::load(Some(&f), &[]).expect_err("bad include");
    assert_eq!(e.kind, ConfigErrorKind::Fatal);
    assert!(
        e.to_string().contains("at line 2\n>>> 'loglevel bad'\n"),
        "{e}"
    );

    write(&f, "include /nonexistent/x.conf\n");
    let e = Config::load(Some(&f), &[]).expect_err("missing include");
    assert_eq!(e.kind, ConfigErrorKind::CantOpen);
    assert_eq!(
        e.to_string(),
        "Fatal error, can't open config file '/nonexistent/x.conf': No such file or directory"
    );
    let e = Config::load(Some(&d.join("nope.conf")), &[]).expect_err("missing file");
    assert_eq!(
        e.to_string(),
        format!(
            "Fatal error, can't open config file '{}/nope.conf': No such file or directory",
            d.display()
        )
    );

    // A file including itself ends with an error instead of a stack overflow.
    write(&f, &format!("include {}\n", f.display()));
    assert!(Config::load(Some(&f), &[]).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn stdin_and_line_numbers() {
    let opts = LoadOptions {
        stdin: Some(b"hz 20\nport 3\n"),
        ..LoadOptions::default()
    };
    let c = Config::load_with(None, &strings(&["-", "--port", "4"]), &opts).expect("loads");
    assert_eq!(
        (get(&c, "hz").as_str(), get(&c, "port").as_str()),
        ("20", "4")
    );
    assert_eq!(c.warnings(), ["Reading config from stdin"]);
    let opts = LoadOptions {
        stdin: Some(b"hz 20\nport 3\n"),
        ..LoadOptions::default()
    };
    let e = Config::load_with(None, &strings(&["--port", "x", "-"]), &opts).expect_err("bad port");
    // stdin's two lines, its final empty line, then the options.
    assert!(e.to_string().contains("at line 4\n>>> 'port \"x\"'"), "{e}");
}

#[test]
fn rename_and_user_hooks() {
    let d = temp_dir("hooks");
    let f = d.join("a.conf");
    let is_command = |n: &[u8]| matches!(n, b"get" | b"set" | b"keys");
    let check_user = |argv: &[Vec<u8>]| {
        if argv.iter().any(|a| a.as_slice() == b"bogus") {
            Err((2, "Syntax error".to_string()))
        } else {
            Ok(())
        }
    };
    let opts = LoadOptions {
        is_command: Some(&is_command),
        check_user: Some(&check_user),
        ..LoadOptions::default()
    };
    write(
        &f,
        "rename-command KEYS \"\"\nrename-command GET fetch\nuser alice on >x ~*\n",
    );
    let c = Config::load_with(Some(&f), &[], &opts).expect("loads");
    assert_eq!(c.rename_commands().len(), 2);
    assert_eq!(c.user_directives()[0].args[0], b"alice");
    for (text, err) in [
        (
            "rename-command nosuch x\n",
            "No such command in rename-command",
        ),
        (
            "rename-command get set\n",
            "Target command name already exists",
        ),
        (
            "rename-command get x\nrename-command get y\n",
            "No such command in rename-command",
        ),
        (
            "user alice bogus\n",
            "Error in user declaration 'bogus': Syntax error",
        ),
    ] {
        write(&f, text);
        let e = Config::load_with(Some(&f), &[], &opts).expect_err(text);
        assert!(e.to_string().ends_with(err), "{e}");
    }
    write(&f, "rename-command get x\nrename-command x get\n");
    assert!(Config::load_with(Some(&f), &[], &opts).is_ok());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn modules_and_sentinel() {
    let c = Config::load(
        None,
        &strings(&["--mod.opt", "1", "2", "--loadmodule", "/x.so", "a"]),
    )
    .expect("loads");
    assert_eq!(c.module_configs(), [(b"mod.opt".to_vec(), b"1 2".to_vec())]);
    assert_eq!(
        c.loadmodule_directives()[0].args,
        vec![b"/x.so".to_vec(), b"a".to_vec()]
    );
    let args = strings(&[
        "--sentinel",
        "--sentinel",
        "monitor",
        "m",
        "127.0.0.1",
        "6379",
        "2",
    ]);
    let e = Config::load(None, &args).expect_err("not sentinel");
    assert!(e
        .to_string()
        .ends_with("sentinel directive while not in sentinel mode"));
    let opts = LoadOptions {
        sentinel_mode: true,
        ..LoadOptions::default()
    };
    let c = Config::load_with(None, &args, &opts).expect("sentinel");
    assert_eq!(c.sentinel_directives().len(), 1);
    assert_eq!(c.sentinel_directives()[0].args[0], b"monitor");
}

#[test]
fn final_checks() {
    let d = temp_dir("final");
    let f = d.join("a.conf");
    write(&f, "hz 0\n");
    assert_eq!(get(&Config::load(Some(&f), &[]).expect("hz"), "hz"), "1");
    write(&f, "hz 100000\n");
    assert_eq!(get(&Config::load(Some(&f), &[]).expect("hz"), "hz"), "500");
    write(&f, &format!("dir {}\nlogfile rel.log\n", d.display()));
    Config::load(Some(&f), &[]).expect("logfile");
    assert!(
        d.join("rel.log").exists(),
        "the log file is created relative to dir"
    );
    let _ = std::fs::remove_dir_all(&d);
}
