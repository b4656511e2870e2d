//! `cinnabar-server`: wiring only. Parses nothing itself; the server crate does the work, or the
//! sentinel crate when started as a Sentinel (`--sentinel`, or a name containing
//! "redis-sentinel").

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let info_only = argv
        .get(1)
        .is_some_and(|a| matches!(a.as_str(), "-v" | "--version" | "-h" | "--help"));
    let code = if !info_only && cinnabar_sentinel::is_sentinel_invocation(&argv) {
        cinnabar_sentinel::main_entry(argv)
    } else {
        cinnabar_server_core::main_entry(argv)
    };
    std::process::exit(code);
}
