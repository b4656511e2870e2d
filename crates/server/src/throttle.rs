//! `replica-output-buffer-throttling <low> <high> <rate> <delay-ms>` (alias
//! `slave-output-buffer-throttling`): when a replica still cannot keep up, the clients that
//! write are slowed down instead of the replica being cut off.
//!
//! For each replica, its full sync's completion is estimated from `<rate>` (bytes per
//! second) and the dataset's size when the sync began; the buffer it may hold grows with that
//! progress from `<low>` to `<high>` (a replica that finished its sync may hold `<high>`).
//! Past that, write replies are delayed in proportion to the excess, up to `<delay-ms>` (the
//! full delay at an excess of `high - low`). A connection's first command is never delayed.
//! The cron recomputes the delay ten times a second; INFO replication shows it.

use crate::server::Server;

#[derive(Default, Debug)]
pub struct Throttle {
    /// The delay applied to write replies now (ms).
    pub delay_ms: u64,
    /// What the replica that sets the delay may hold now, and what it holds.
    pub allowed: u64,
    pub held: u64,
    /// Replies delayed so far, and the time spent delaying them (ms).
    pub delayed_replies: u64,
    pub delayed_ms: u64,
}

/// The delay for a replica holding `held` bytes at sync `progress` (0..=1).
pub fn delay_for(held: u64, progress: f64, (low, high, max_delay): (u64, u64, u64)) -> (u64, u64) {
    let span = high.saturating_sub(low);
    let allowed = low + (span as f64 * progress.clamp(0.0, 1.0)) as u64;
    if held <= allowed || max_delay == 0 {
        return (0, allowed);
    }
    let excess = held - allowed;
    let frac = if span == 0 {
        1.0
    } else {
        (excess as f64 / span as f64).min(1.0)
    };
    (((max_delay as f64) * frac).ceil() as u64, allowed)
}

/// Recomputes the delay from every replica's buffer and sync progress.
pub fn cron(s: &mut Server) {
    let params = s
        .cfg
        .get_value("replica-output-buffer-throttling")
        .and_then(|v| cinnabar_config::parse_throttling(v.as_bytes()));
    let Some((low, high, rate, max_delay)) = params.filter(|p| p.3 > 0 && p.1 > 0) else {
        s.throttle.delay_ms = 0;
        s.throttle.allowed = 0;
        s.throttle.held = 0;
        return;
    };
    let end = s.repl_buf.end_offset();
    let mut worst = (0u64, 0u64, 0u64);
    for id in &s.replicas {
        let Some(h) = s.clients.get(id) else {
            continue;
        };
        let held = end.saturating_sub(h.repl_off.get());
        // An rdb-channel stream connection: its snapshot connection tells the progress.
        let sync = match h.rdbchan_peer.get() {
            0 => h,
            p => s
                .clients
                .get(&p)
                .filter(|p| p.snapshot_only.get())
                .unwrap_or(h),
        };
        let progress = if matches!(sync.sync_phase.get(), 1..=3) {
            let est = sync.sync_est.get().max(1) as f64;
            if rate > 0 {
                let expected = est / rate as f64;
                sync.sync_start.get().elapsed().as_secs_f64() / expected.max(0.001)
            } else {
                sync.sync_sent.get() as f64 / est
            }
        } else {
            1.0
        };
        let (d, allowed) = delay_for(held, progress, (low, high, max_delay));
        if d > worst.0 || (worst.0 == 0 && held > worst.2) {
            worst = (d, allowed, held);
        }
    }
    s.throttle.delay_ms = worst.0;
    s.throttle.allowed = worst.1;
    s.throttle.held = worst.2;
}

/// INFO replication lines.
pub fn info(s: &Server) -> String {
    format!(
        "repl_throttle_delay_ms:{}\r\nrepl_throttle_allowed_buffer:{}\r\nrepl_throttle_held_buffer:{}\r\nrepl_throttle_delayed_replies:{}\r\nrepl_throttle_delayed_ms:{}\r\n",
        s.throttle.delay_ms,
        s.throttle.allowed,
        s.throttle.held,
        s.throttle.delayed_replies,
        s.throttle.delayed_ms
    )
}

#[cfg(test)]
mod tests {
    use super::delay_for;

    #[test]
    fn the_allowed_buffer_grows_with_progress_and_the_delay_with_the_excess() {
        let p = (1000, 11_000, 100);
        // At the start only `low` is allowed.
        assert_eq!(delay_for(1000, 0.0, p), (0, 1000));
        assert_eq!(delay_for(6000, 0.0, p), (50, 1000));
        // Half way, half the span more.
        assert_eq!(delay_for(6000, 0.5, p), (0, 6000));
        assert_eq!(delay_for(8500, 0.5, p), (25, 6000));
        // The delay is capped; progress past 1 counts as 1.
        assert_eq!(delay_for(1 << 30, 2.0, p), (100, 11_000));
        // No span: any excess is the full delay.
        assert_eq!(delay_for(11, 0.3, (10, 10, 7)), (7, 10));
    }
}
