//! `maxmemory-clients`: client eviction, as Redis 7.0 does it.
//!
//! Each connection's memory (`ClientHandle::tot_mem`: its state, query and output buffers,
//! queued MULTI commands, watches, subscriptions, tracking prefixes) is kept in one running
//! total, `Server::clients_mem`, re-counted whenever the client's task has run commands or
//! read, and whenever another client queues output for it (Pub/Sub messages, tracking
//! invalidations, MONITOR lines). Replicas and the master link are not counted (Redis counts
//! the normal and pubsub classes only).
//!
//! When the total exceeds the limit (bytes, or a percentage of `maxmemory`), the largest
//! clients are closed first until it is under again; clients with CLIENT NO-EVICT on are
//! counted but never closed. The check also runs when the limit is lowered (CONFIG SET) and in
//! the cron. INFO `evicted_clients` counts the closed ones.

use crate::client::ClientHandle;
use crate::server::Server;

/// The limit in bytes (0: none).
pub fn limit(s: &Server) -> u64 {
    match s.settings.maxmemory_clients {
        m if m > 0 => m as u64,
        m if m < 0 => s.settings.maxmemory.saturating_mul(m.unsigned_abs()) / 100,
        _ => 0,
    }
}

/// Whether the client's memory counts towards the limit (and it can be evicted).
fn counted(h: &ClientHandle) -> bool {
    h.fd >= 0 && !h.replica.get() && !h.is_master_link.get() && !h.killed.get()
}

/// Re-counts `h`'s memory in the total.
pub fn update(s: &mut Server, h: &ClientHandle) {
    let now = if counted(h) { h.tot_mem() } else { 0 };
    let before = h.mem_counted.replace(now);
    s.clients_mem = (s.clients_mem + now).saturating_sub(before);
}

/// Takes a closing client's memory out of the total.
pub fn forget(s: &mut Server, h: &ClientHandle) {
    let before = h.mem_counted.replace(0);
    s.clients_mem = s.clients_mem.saturating_sub(before);
}

/// [`update`], then evicts if the total is at the limit.
pub fn update_and_check(s: &mut Server, h: &ClientHandle) {
    update(s, h);
    evict_if_needed(s);
}

/// Closes the largest evictable clients until the total is within the limit.
pub fn evict_if_needed(s: &mut Server) {
    let lim = limit(s);
    if lim == 0 || (s.clients_mem as u64) <= lim {
        return;
    }
    let mut victims: Vec<_> = s
        .clients
        .values()
        .filter(|h| counted(h) && !h.info.borrow().no_evict)
        .map(|h| (h.tot_mem(), h.clone()))
        .collect();
    victims.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (_, h) in victims {
        if (s.clients_mem as u64) <= lim {
            break;
        }
        crate::notice!(
            "Evicting client: {}",
            h.list_line(std::time::Instant::now(), None)
        );
        forget(s, &h);
        h.kill();
        s.stats.evicted_clients += 1;
    }
}
