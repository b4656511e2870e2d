//! `cinnabar-server`: wiring only. Parses nothing itself; the server crate does the work.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let code = cinnabar_server_core::main_entry(std::env::args().collect());
    std::process::exit(code);
}
