//! `cinnabar-server`: wiring only. Parses nothing itself; the server crate does the work.

/// jemalloc, with the byte count `maxmemory` and INFO `used_memory` read.
#[global_allocator]
static GLOBAL: cinnabar_server_core::memory::Counting<tikv_jemallocator::Jemalloc> =
    cinnabar_server_core::memory::Counting(tikv_jemallocator::Jemalloc);

fn main() {
    let code = cinnabar_server_core::main_entry(std::env::args().collect());
    std::process::exit(code);
}
