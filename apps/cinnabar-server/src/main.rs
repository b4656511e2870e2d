//! `cinnabar-server`: wiring only. Parses nothing itself; the server crate does the work, or the
//! sentinel crate when started as a Sentinel (`--sentinel`, or a name containing
//! "redis-sentinel").

/// jemalloc, with the byte count `maxmemory` and INFO `used_memory` read.
#[global_allocator]
static GLOBAL: cinnabar_server_core::memory::Counting<tikv_jemallocator::Jemalloc> =
    cinnabar_server_core::memory::Counting(tikv_jemallocator::Jemalloc);

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let info_only = argv
        .get(1)
        .is_some_and(|a| matches!(a.as_str(), "-v" | "--version" | "-h" | "--help"));
    let code = if argv.get(1).map(String::as_str) == Some(cinnabar_server_core::persist::WRITER_ARG)
    {
        cinnabar_server_core::persist::writer_child_main(&argv[2..])
    } else if !info_only && cinnabar_sentinel::is_sentinel_invocation(&argv) {
        cinnabar_sentinel::main_entry(argv)
    } else {
        cinnabar_server_core::main_entry(argv)
    };
    std::process::exit(code);
}
