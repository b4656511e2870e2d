//! The server cron, run `hz` times a second on the engine thread: active expiry (adaptive, with
//! a CPU budget like Redis's), client idle timeouts, and the samples behind the
//! instantaneous_* INFO fields.

use crate::server::{now_ms, Server};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const SAMPLES: usize = 16;

fn push_sample(v: &mut Vec<(i64, u64)>, t: i64, x: u64) {
    v.push((t, x));
    if v.len() > SAMPLES {
        v.remove(0);
    }
}

/// Active expiry over every database within a time budget of `budget_us` (Redis gives the
/// slow cycle 25% of a cron period by default, more with active-expire-effort).
pub fn active_expire(s: &mut Server, budget_us: u64) {
    let now = now_ms();
    let start = Instant::now();
    let effort = s.settings.active_expire_effort.saturating_sub(1) as usize;
    let per_loop = 20 + 20 / 4 * effort;
    let stale = 10usize.saturating_sub(effort);
    let mut sampled = 0;
    let mut expired = 0;
    for db in s.ks.dbs.iter_mut() {
        let deadline = Duration::from_micros(budget_us);
        let (a, b) = db.active_expire(now, per_loop, stale, || start.elapsed() < deadline);
        sampled += a;
        expired += b;
        if start.elapsed() >= deadline {
            break;
        }
    }
    let elapsed = start.elapsed();
    s.latency_sample("expire-cycle", elapsed.as_millis() as u64);
    let st = &mut s.ks.stats;
    st.expire_cycle_time_used_us += elapsed.as_micros() as u64;
    if sampled > 0 {
        let cur = expired as f64 / sampled as f64;
        st.expired_stale_perc = cur * 0.05 + st.expired_stale_perc * 0.95;
    }
}

/// Runs forever on the engine thread.
/// Shrinks sparse tables, then gives 1 ms of incremental rehashing to the first database that
/// is rehashing (Redis's `databasesCron` with `activerehashing yes`).
fn databases_cron(s: &mut Server) {
    if s.loading.is_some() {
        // Tables are sized for the whole file while it loads (RESIZEDB): shrinking them
        // back meanwhile would only rehash them again, as Redis does not resize then either.
        return;
    }
    for db in s.ks.dbs.iter_mut() {
        db.main.shrink_if_needed();
        db.expires.shrink_if_needed();
    }
    for db in s.ks.dbs.iter_mut() {
        if db.main.is_rehashing() {
            db.main.rehash_step_ms(1000);
            break;
        }
        if db.expires.is_rehashing() {
            db.expires.rehash_step_ms(1000);
            break;
        }
    }
}

pub async fn run(srv: Rc<RefCell<Server>>) {
    loop {
        let hz = srv.borrow().hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
        let mut s = srv.borrow_mut();
        if s.cron_paused {
            continue;
        }
        s.cron_loops += 1;
        crate::shutdown::cron(&mut s);
        crate::replica::failover_cron(&mut s);
        let period_us = 1_000_000 / hz as u64;
        crate::notify::sync(&mut s);
        // A replica leaves expiry to its master (which sends the DELs).
        if s.master.is_some() && s.loading.is_none() {
            // A writable replica expires the keys its own clients gave a TTL.
            let now = crate::server::now_ms();
            for db in s.ks.dbs.iter_mut() {
                db.expire_replica_keys(now);
            }
        }
        if s.active_expire_enabled && s.loading.is_none() && s.master.is_none() {
            active_expire(&mut s, period_us / 4);
        }
        databases_cron(&mut s);
        for db in 0..s.ks.dbs.len() {
            crate::multi::drain_expired(&mut s, db);
        }
        crate::notify::publish_pending(&mut s, None);
        // Each deletion by active expiry is a unit of its own (no MULTI around them).
        crate::propagate::end_unit(&mut s, true);
        let now = now_ms();
        // Eviction that ran out of its time budget goes on here; the cron also notices a limit
        // lowered by CONFIG SET without waiting for a command.
        if s.settings.maxmemory > 0 {
            let budget = if s.evict.pending {
                let tenacity = crate::evict::perform_budget(&s);
                Some(std::time::Duration::from_micros(period_us / 4).max(tenacity))
            } else {
                Some(crate::evict::perform_budget(&s))
            };
            crate::evict::perform_within(&mut s, now, budget);
        }
        if s.tracking.clients > 0 {
            crate::tracking::cron(&mut s);
        }
        let (ops, nin, nout) = (
            s.stats.total_commands_processed,
            s.stats.net_input_bytes,
            s.stats.net_output_bytes,
        );
        push_sample(&mut s.stats.ops_samples, now, ops);
        push_sample(&mut s.stats.net_in_samples, now, nin);
        push_sample(&mut s.stats.net_out_samples, now, nout);
        if s.pause.is_some_and(|p| p.until_ms <= now) {
            s.pause = None;
            s.pause_notify.notify_waiters();
        }
        obuf_cron(&mut s);
        resize_query_buffers(&mut s);
        crate::client_evict::evict_if_needed(&mut s);
        let timeout = s.settings.timeout;
        if timeout > 0 {
            let limit = Duration::from_secs(timeout as u64);
            let t = Instant::now();
            let idle: Vec<_> = s
                .clients
                .values()
                .filter(|h| {
                    t.duration_since(h.last_interaction.get()) > limit
                        && !s.blocked.waiters.contains_key(&h.id)
                        && !h.replica.get()
                        && Some(h.id) != s.master_client
                })
                .cloned()
                .collect();
            for h in idle {
                crate::verbose!("Closing idle client");
                h.kill();
            }
        }
        crate::aof::cron(&mut s);
        crate::migrate::cron(&mut s);
        replication_cron(&mut s);
        crate::throttle::cron(&mut s);
        crate::persist::start_pending_syncs(&mut s);
        drop(s);
        crate::persist::cron(&srv);
    }
}

/// Redis's clientsCronResizeQueryBuffer over a slice of the clients per call (all of them
/// within a second, at least five per call): a query buffer that wastes more than 4 KB is
/// freed down to its content once the client has been idle for over 2 s, or trimmed to its
/// recent peak when it is over 32 KB and more than twice that peak. The task that owns the
/// buffer does the resizing, woken through its `Wake`.
pub fn resize_query_buffers(s: &mut Server) {
    const RESIZE_THRESHOLD: usize = 32 * 1024;
    let n = s.clients.len();
    if n == 0 {
        return;
    }
    let per_call = (n / s.hz.max(1) as usize).max(5).min(n);
    let start = s.clients_cron_cursor;
    let picked: Vec<_> = s
        .clients
        .range(start..)
        .chain(s.clients.range(..start))
        .take(per_call)
        .map(|(_, h)| h.clone())
        .collect();
    s.clients_cron_cursor = picked.last().map_or(0, |h| h.id + 1);
    let now = Instant::now();
    for h in picked {
        if h.fd < 0 || h.replica.get() || h.is_master_link.get() {
            continue;
        }
        let (len, free) = {
            let i = h.info.borrow();
            (i.qbuf, i.qbuf_free)
        };
        let size = len + free;
        let peak = h.qbuf_peak.get();
        if free > 4096 {
            let idle = now.duration_since(h.last_interaction.get()).as_secs();
            if idle > 2 {
                h.qbuf_target.set(len);
                h.wake.wake();
            } else if size > RESIZE_THRESHOLD && size / 2 > peak {
                h.qbuf_target.set(len.max(peak));
                h.wake.wake();
            }
        }
        h.qbuf_peak.set(len);
    }
}

/// A subscriber whose messages wait unread is closed once its soft `pubsub` output buffer
/// limit has run out, even when nothing more is published (as Redis's clientsCron checks).
fn obuf_cron(s: &mut Server) {
    let limit = s.settings.obuf_limits[cinnabar_config::ClientClass::Pubsub as usize];
    if limit.soft == 0 {
        return;
    }
    let now_s = now_ms() / 1000;
    let over: Vec<_> = s
        .clients
        .values()
        .filter(|h| {
            let i = h.info.borrow();
            i.sub + i.psub + i.ssub > 0
                && !h.replica.get()
                && !h.killed.get()
                && h.obuf_limit_reached(limit, h.pending_output() as u64, now_s)
        })
        .cloned()
        .collect();
    for h in over {
        h.log_obuf_close();
        h.outbox.borrow_mut().clear();
        h.kill();
        s.stats.client_obuf_limit_disconnections += 1;
    }
}

/// Once a second: PING the replicas every `repl-ping-replica-period` seconds (so they can tell
/// a quiet master from a dead link), and free the backlog after `repl-backlog-ttl` seconds
/// without replicas (a master only: a replica keeps it for a later promotion).
fn replication_cron(s: &mut Server) {
    let now = Instant::now();
    if now.duration_since(s.repl_cron_last) < Duration::from_secs(1) {
        return;
    }
    s.repl_cron_last = now;
    s.repl_cron_ticks += 1;
    let num = |s: &Server, k: &str, d: u64| {
        s.cfg
            .get_value(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(d)
    };
    let period = num(s, "repl-ping-replica-period", 10).max(1);
    if s.master.is_none()
        && !s.replicas.is_empty()
        && s.repl_cron_ticks.is_multiple_of(period)
        && !s.writes_paused(crate::server::now_ms())
    {
        crate::propagate::feed_replicas_only(s, &[b"PING"]);
    }
    // A replica that acknowledged before and has been silent for `repl-timeout` is gone
    // (its link died without a FIN): drop it, so it stops holding the buffer and it can
    // come back with a partial resync.
    let timeout = Duration::from_secs(num(s, "repl-timeout", 60).max(1));
    let silent: Vec<u64> = s
        .replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .filter(|h| h.repl_ack_off.get() >= 0 && h.repl_ack_time.get().elapsed() > timeout)
        .map(|h| h.id)
        .collect();
    for id in silent {
        if let Some(h) = s.clients.get(&id) {
            crate::warning!(
                "Disconnecting timedout replica (streaming sync): {}",
                h.addr
            );
            h.kill();
        }
        crate::propagate::detach_replica(s, id);
    }
    // A replica receiving its snapshot that has taken nothing for `repl-timeout` holds up
    // the snapshot shared with the others: drop it.
    let stalled: Vec<u64> = s
        .clients
        .values()
        .filter(|h| h.sync_phase.get() == 2 && h.sync_progress.get().elapsed() > timeout)
        .map(|h| h.id)
        .collect();
    for id in stalled {
        if let Some(h) = s.clients.get(&id) {
            crate::warning!("Disconnecting timedout replica (full sync): {}", h.addr);
            h.sync_phase.set(0);
            h.kill();
        }
        crate::propagate::detach_replica(s, id);
    }
    let ttl = num(s, "repl-backlog-ttl", 3600);
    if s.master.is_none() && ttl > 0 && s.repl_buf.active && s.replicas.is_empty() {
        if let Some(since) = s.repl_no_replicas_since {
            if now.duration_since(since) > Duration::from_secs(ttl) {
                crate::notice!(
                    "Replication backlog freed after {ttl} seconds without connected replicas."
                );
                s.repl_buf.deactivate();
                crate::propagate::refresh_enabled(s);
            }
        }
    }
}
