//! Compiles the small C shim (csrc/longdouble.c) that gives Rust C's `long double`, `strtold`,
//! `strtod` and printf float formatting, which Redis-exact number handling needs.

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .flag_if_supported("-std=c99")
        .warnings(true)
        .compile("cinnabar_longdouble");
}
