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
    let st = &mut s.ks.stats;
    st.expire_cycle_time_used_us += start.elapsed().as_micros() as u64;
    if sampled > 0 {
        let cur = expired as f64 / sampled as f64;
        st.expired_stale_perc = cur * 0.05 + st.expired_stale_perc * 0.95;
    }
}

/// Runs forever on the engine thread.
/// Shrinks sparse tables, then gives 1 ms of incremental rehashing to the first database that
/// is rehashing (Redis's `databasesCron` with `activerehashing yes`).
fn databases_cron(s: &mut Server) {
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
        s.cron_loops += 1;
        let period_us = 1_000_000 / hz as u64;
        if s.active_expire_enabled {
            active_expire(&mut s, period_us / 4);
        }
        databases_cron(&mut s);
        for db in 0..s.ks.dbs.len() {
            crate::multi::drain_expired(&mut s, db);
        }
        let now = now_ms();
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
                })
                .cloned()
                .collect();
            for h in idle {
                crate::verbose!("Closing idle client");
                h.kill();
            }
        }
    }
}
