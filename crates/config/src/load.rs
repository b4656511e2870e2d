//! Loading a configuration exactly as redis-server 7.0.15 does: the command line after the
//! config file is turned into config text (`--name` starts a line, following arguments are
//! its quoted values, the `--save` / `--sentinel` special cases, `-` for stdin), appended after
//! the file (and stdin) text, and the whole is read line by line: blank lines and `#` comments
//! skipped, table directives parsed by type, `include` (glob patterns allowed) read recursively,
//! `rename-command` / `user` / `loadmodule` / `sentinel` / `module.option` lines kept for the
//! server, Redis's deprecated directives ignored, and the final checks (log file can be
//! opened, no `replicaof` in cluster mode, `hz` clamped to 1..500).

use crate::split::{cstr, repr, split_args, split_lines, trim};
use crate::table::{lookup, DEPRECATED, DIRECTIVES};
use crate::value::Value;
use crate::{Config, ConfigError, FileLine};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Tells whether a command name (lowercase) exists.
pub type IsCommand<'a> = &'a dyn Fn(&[u8]) -> bool;
/// Checks a `user` line; the error is the index of the bad token and the reason.
pub type CheckUser<'a> = &'a dyn Fn(&[Vec<u8>]) -> Result<(), (usize, String)>;

/// Hooks and inputs for [`Config::load_with`]; all optional.
#[derive(Default)]
pub struct LoadOptions<'a> {
    /// Sentinel mode: `sentinel` lines are kept instead of being an error, and `save` is not
    /// rewritten.
    pub sentinel_mode: bool,
    /// Whether a command exists (for `rename-command`'s "No such command in rename-command" /
    /// "Target command name already exists"). Without it renames are not checked.
    pub is_command: Option<IsCommand<'a>>,
    /// Checks a `user` line (all tokens, `user` first); the error is the index of the bad
    /// token and the reason, reported as "Error in user declaration '<token>': <reason>".
    pub check_user: Option<CheckUser<'a>>,
    /// Text to use instead of the process's stdin when the command line asks for `-`.
    pub stdin: Option<&'a [u8]>,
}

/// Command renames seen so far while loading (for the rename checks).
#[derive(Default)]
struct Renames {
    removed: HashSet<Vec<u8>>,
    added: HashSet<Vec<u8>>,
}

struct Ctx<'o, 'a> {
    opts: &'o LoadOptions<'a>,
    renames: Renames,
    depth: usize,
}

/// Turns the command-line arguments that follow the config file into the config text Redis
/// appends after the file, exactly like redis-server's `main()`. `no_config_file` tells
/// whether `args` starts right after the program name (then a leading `-` means stdin).
/// Returns the text and whether the configuration is also read from stdin.
pub fn options_text(args: &[String], no_config_file: bool) -> (Vec<u8>, bool) {
    let mut options: Vec<u8> = Vec::new();
    let mut handled_last = true;
    let mut stdin = false;
    let n = args.len();
    for (k, a) in args.iter().enumerate() {
        let ab = a.as_bytes();
        let next_is_option = args.get(k + 1).is_some_and(|x| x.starts_with("--"));
        let last = k + 1 == n;
        if ab == b"-" && ((no_config_file && k == 0) || last) {
            stdin = true;
        } else if handled_last && ab.starts_with(b"--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&ab[2..]);
            options.push(b' ');
            let tokens = split_args(ab).map_or(0, |t| t.len());
            if tokens == 1 {
                handled_last = false;
                let save = a.eq_ignore_ascii_case("--save");
                let sentinel = a.eq_ignore_ascii_case("--sentinel");
                if save && !last && next_is_option {
                    options.extend_from_slice(b"\"\"");
                    handled_last = true;
                } else if save && last {
                    options.extend_from_slice(b"\"\"");
                } else if sentinel && !last && next_is_option {
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.extend_from_slice(repr(ab).as_bytes());
            options.push(b' ');
            handled_last = true;
        }
    }
    (options, stdin)
}

/// Whether a path contains glob characters (then `include` expands it and tolerates no match).
fn has_glob(p: &[u8]) -> bool {
    p.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// Expands a glob pattern over the file system (sorted, hidden files only matched by a
/// pattern component starting with `.`), relative paths against `base`.
fn glob_paths(pattern: &[u8], base: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let absolute = pattern.first() == Some(&b'/');
    let mut found: Vec<(PathBuf, PathBuf)> = vec![(
        if absolute {
            PathBuf::from("/")
        } else {
            base.to_path_buf()
        },
        if absolute {
            PathBuf::from("/")
        } else {
            PathBuf::new()
        },
    )];
    let parts: Vec<&[u8]> = pattern
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    for (pi, part) in parts.iter().enumerate() {
        let last = pi + 1 == parts.len();
        let mut next = Vec::new();
        for (real, shown) in &found {
            if !has_glob(part) {
                let os = std::ffi::OsStr::from_bytes(part);
                let r = real.join(os);
                if (last && r.exists()) || (!last && r.is_dir()) {
                    next.push((r, shown.join(os)));
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(real) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().as_bytes().to_vec())
                .filter(|n| part.first() == Some(&b'.') || n.first() != Some(&b'.'))
                .filter(|n| crate::glob::stringmatch(part, n, false))
                .collect();
            names.sort();
            for nm in names {
                let os = std::ffi::OsStr::from_bytes(&nm);
                let r = real.join(os);
                if last || r.is_dir() {
                    next.push((r, shown.join(os)));
                }
            }
        }
        found = next;
    }
    found.into_iter().map(|(r, _)| r).collect()
}

/// Reads a whole file like Redis's fopen+fgets loop: an open failure is fatal, a read failure
/// (a directory, say) just ends the text.
fn read_file(real: &Path, shown: &str) -> Result<Vec<u8>, ConfigError> {
    let mut f = std::fs::File::open(real).map_err(|e| ConfigError::cant_open(shown, &e))?;
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    Ok(buf)
}

impl Config {
    /// Loads `path` (if any) followed by the command-line options, as `redis-server [path]
    /// [options]` does. `options` are the arguments after the config file (or all arguments
    /// when there is none); a `-` among them (first without a file, or last) also reads stdin.
    pub fn load(path: Option<&Path>, options: &[String]) -> Result<Config, ConfigError> {
        Config::load_with(path, options, &LoadOptions::default())
    }

    /// [`Config::load`] with hooks (sentinel mode, command and user checks, a stdin stand-in).
    pub fn load_with(
        path: Option<&Path>,
        options: &[String],
        opts: &LoadOptions<'_>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = Config {
            sentinel_mode: opts.sentinel_mode,
            ..Config::default()
        };
        if path.is_none() && options.is_empty() {
            return Ok(cfg);
        }
        let (opt_text, stdin) = options_text(options, path.is_none());
        let mut text = Vec::new();
        if let Some(p) = path {
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                cfg.dir().join(p)
            };
            text = cfg.read_maybe_glob(&abs, &abs.display().to_string())?;
        }
        if stdin {
            cfg.warnings.push("Reading config from stdin".into());
            match opts.stdin {
                Some(s) => text.extend_from_slice(s),
                None => {
                    let _ = std::io::stdin().read_to_end(&mut text);
                }
            }
        }
        text.push(b'\n');
        text.extend_from_slice(&opt_text);
        let mut ctx = Ctx {
            opts,
            renames: Renames::default(),
            depth: 0,
        };
        cfg.load_text(&text, &mut ctx)?;
        Ok(cfg)
    }

    /// Loads configuration text (as if it were a file's content) on top of this configuration.
    pub fn load_str(&mut self, text: &[u8]) -> Result<(), ConfigError> {
        let opts = LoadOptions {
            sentinel_mode: self.sentinel_mode,
            ..LoadOptions::default()
        };
        let mut ctx = Ctx {
            opts: &opts,
            renames: Renames::default(),
            depth: 0,
        };
        self.load_text(text, &mut ctx)
    }

    fn read_maybe_glob(&self, path: &Path, shown: &str) -> Result<Vec<u8>, ConfigError> {
        use std::os::unix::ffi::OsStrExt;
        let raw = path.as_os_str().as_bytes();
        if !has_glob(raw) {
            return read_file(path, shown);
        }
        let mut text = Vec::new();
        for p in glob_paths(raw, &self.dir()) {
            text.extend(read_file(&p, &p.display().to_string())?);
        }
        Ok(text)
    }

    fn include(&mut self, name: &[u8], ctx: &mut Ctx<'_, '_>) -> Result<(), ConfigError> {
        use std::os::unix::ffi::OsStrExt;
        let name = cstr(name);
        let shown = String::from_utf8_lossy(name).into_owned();
        let p = Path::new(std::ffi::OsStr::from_bytes(name));
        let real = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        };
        if ctx.depth > 64 {
            return Err(ConfigError::fatal("include nesting too deep"));
        }
        let text = if has_glob(name) {
            let mut t = Vec::new();
            for m in glob_paths(name, &self.dir()) {
                t.extend(read_file(&m, &m.display().to_string())?);
            }
            t
        } else {
            read_file(&real, &shown)?
        };
        ctx.depth += 1;
        let r = self.load_text(&text, ctx);
        ctx.depth -= 1;
        r
    }

    /// Redis's loadServerConfigFromString.
    fn load_text(&mut self, text: &[u8], ctx: &mut Ctx<'_, '_>) -> Result<(), ConfigError> {
        self.reading_file = true;
        for (n, raw) in split_lines(text).into_iter().enumerate() {
            let line_no = n + 1;
            let line = trim(raw, b" \t\r\n");
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let err = |m: &str| ConfigError::at_line(line_no, line, m);
            let Some(argv) = split_args(line) else {
                return Err(err("Unbalanced quotes in configuration line"));
            };
            let Some(first) = argv.first() else { continue };
            let name = first.to_ascii_lowercase();
            let argc = argv.len();
            if let Some((i, _)) = lookup(&name) {
                let d = &DIRECTIVES[i];
                if !d.multi_arg() && argc != 2 {
                    return Err(err("wrong number of arguments"));
                }
                let split;
                let args: Vec<&[u8]> = if d.multi_arg() && argc == 2 && !argv[1].is_empty() {
                    split = split_args(&argv[1]).unwrap_or_default();
                    split.iter().map(|a| a.as_slice()).collect()
                } else {
                    argv[1..].iter().map(|a| a.as_slice()).collect()
                };
                self.set_value(i, &args).map_err(|m| err(&m))?;
                self.explicit[i] = true;
                continue;
            }
            if DEPRECATED
                .iter()
                .any(|(d, lo, hi)| d.as_bytes() == name.as_slice() && (*lo..=*hi).contains(&argc))
            {
                continue;
            }
            let fl = || FileLine {
                args: argv[1..].to_vec(),
                line_no,
                line: line.to_vec(),
            };
            match name.as_slice() {
                b"include" if argc == 2 => {
                    self.include(&argv[1], ctx)?;
                }
                b"rename-command" if argc == 3 => {
                    self.rename(&argv[1], &argv[2], ctx).map_err(&err)?;
                }
                b"user" if argc >= 2 => {
                    if let Some(check) = ctx.opts.check_user {
                        if let Err((at, why)) = check(&argv) {
                            let tok = argv
                                .get(at)
                                .map(|t| String::from_utf8_lossy(t).into_owned());
                            return Err(err(&format!(
                                "Error in user declaration '{}': {why}",
                                tok.unwrap_or_default()
                            )));
                        }
                    }
                    self.users.push(fl());
                }
                b"loadmodule" if argc >= 2 => self.modules.push(fl()),
                _ if name.contains(&b'.') => {
                    if argc < 2 {
                        return Err(err("Module config specified without value"));
                    }
                    let value = argv[1..].join(&b' ');
                    match self.module_configs.iter_mut().find(|(k, _)| *k == name) {
                        Some(slot) => slot.1 = value,
                        None => self.module_configs.push((name.clone(), value)),
                    }
                }
                b"sentinel" => {
                    if argc != 1 {
                        if !self.sentinel_mode {
                            return Err(err("sentinel directive while not in sentinel mode"));
                        }
                        self.sentinel.push(fl());
                    }
                }
                _ => return Err(err("Bad directive or wrong number of arguments")),
            }
        }
        self.check_logfile()?;
        let cluster = self.flag("cluster-enabled");
        if cluster && self.replicaof().is_some() {
            return Err(ConfigError::fatal(
                "replicaof directive not allowed in cluster mode",
            ));
        }
        if let Some((i, _)) = lookup(b"hz") {
            if let Value::Num(h) = &mut self.values[i] {
                *h = (*h).clamp(1, 500);
            }
        }
        self.reading_file = false;
        Ok(())
    }

    fn rename(
        &mut self,
        from: &[u8],
        to: &[u8],
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), &'static str> {
        let from_l = from.to_ascii_lowercase();
        let to_l = to.to_ascii_lowercase();
        if let Some(is_command) = ctx.opts.is_command {
            let r = &mut ctx.renames;
            let exists = |r: &Renames, n: &Vec<u8>| {
                r.added.contains(n) || (!r.removed.contains(n) && is_command(n))
            };
            if !exists(r, &from_l) {
                return Err("No such command in rename-command");
            }
            r.added.remove(&from_l);
            r.removed.insert(from_l);
            if !to.is_empty() {
                if exists(r, &to_l) {
                    return Err("Target command name already exists");
                }
                r.added.insert(to_l);
            }
        }
        self.renames.push((from.to_vec(), to.to_vec()));
        Ok(())
    }

    /// Redis opens the log file once while loading to fail early.
    fn check_logfile(&self) -> Result<(), ConfigError> {
        use std::os::unix::ffi::OsStrExt;
        let lf = self.bytes("logfile");
        let lf = cstr(&lf);
        if lf.is_empty() {
            return Ok(());
        }
        let p = Path::new(std::ffi::OsStr::from_bytes(lf));
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        };
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(full)
            .map(|_| ())
            .map_err(|e| {
                ConfigError::fatal(&format!(
                    "Can't open the log file: {}",
                    crate::num::strerror(&e)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn text(args: &[&str], no_file: bool) -> (String, bool) {
        let (t, stdin) = options_text(&s(args), no_file);
        (String::from_utf8_lossy(&t).into_owned(), stdin)
    }

    #[test]
    fn command_line_to_text() {
        assert_eq!(text(&["--port", "7000"], true).0, "port \"7000\" ");
        assert_eq!(
            text(&["--port", "0", "--bind", "a", "b"], true).0,
            "port \"0\" \nbind \"a\" \"b\" "
        );
        assert_eq!(text(&["--save"], true).0, "save \"\"");
        assert_eq!(
            text(&["--save", "--port", "1"], true).0,
            "save \"\"\nport \"1\" "
        );
        assert_eq!(text(&["--port 7000"], true).0, "port 7000 ");
        assert_eq!(
            text(&["--masterauth", "--secret"], true).0,
            "masterauth \"--secret\" "
        );
        assert_eq!(
            text(&["--sentinel", "--port", "1"], true).0,
            "sentinel \nport \"1\" "
        );
        assert_eq!(
            text(&["--port", "0", "-", "--x", "y"], true).0,
            "port \"0\" \"-\" \nx \"y\" "
        );
        assert_eq!(
            text(&["-", "--port", "1"], true),
            ("port \"1\" ".into(), true)
        );
        assert_eq!(
            text(&["--port", "1", "-"], false),
            ("port \"1\" ".into(), true)
        );
        assert!(!text(&["-", "--port", "1"], false).1);
        assert_eq!(text(&["a b\"c"], true).0, "\"a b\\\"c\" ");
    }
}
