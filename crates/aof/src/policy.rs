//! When to rewrite: the `auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size` check and
//! the back-off after repeated rewrite failures (Redis's `aofRewriteLimited`), as plain state the
//! cron consults.

use crate::LogLevel;

/// Growth (percent over the base size) that triggers an automatic rewrite, if any: `Some(growth)`
/// when `auto-aof-rewrite-percentage` is set (non-zero), the AOF is bigger than
/// `auto-aof-rewrite-min-size` and it grew by at least that percentage. The caller logs
/// "Starting automatic rewriting of AOF on {growth}% growth" (after checking the limiter).
pub fn auto_rewrite_growth(
    current_size: u64,
    base_size: u64,
    perc: u64,
    min_size: u64,
) -> Option<i64> {
    if perc == 0 || current_size <= min_size {
        return None;
    }
    let base = base_size.max(1) as i128;
    let growth = (current_size as i128 * 100 / base - 100) as i64;
    (growth >= perc as i64).then_some(growth)
}

/// Consecutive failures before automatic rewrites get delayed.
const LIMIT_THRESHOLD: u64 = 3;
/// Longest delay, in minutes.
const LIMIT_MAX_MINUTES: i64 = 60;

/// Back-off for automatic rewrites after consecutive failures: 1, 2, 4 ... 60 minutes.
#[derive(Debug, Default, Clone)]
pub struct RewriteLimiter {
    /// `aof_rewrites_consecutive_failures`.
    pub consecutive_failures: u64,
    next_delay_minutes: i64,
    next_rewrite_time: i64,
}

impl RewriteLimiter {
    /// A limiter with no failures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of a rewrite.
    pub fn record(&mut self, success: bool) {
        if success {
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures += 1;
        }
    }

    /// BGREWRITEAOF when a rewrite is scheduled: resets the count so it can run at once.
    pub fn reset(&mut self) {
        self.consecutive_failures = 0;
    }

    /// True when an automatic rewrite must wait (Redis's `aofRewriteLimited`). May return a log
    /// line to print.
    pub fn limited(&mut self, now: i64) -> (bool, Option<(LogLevel, String)>) {
        if self.consecutive_failures < LIMIT_THRESHOLD {
            self.next_delay_minutes = 0;
            self.next_rewrite_time = 0;
            return (false, None);
        }
        if self.next_rewrite_time != 0 {
            if now < self.next_rewrite_time {
                return (true, None);
            }
            self.next_rewrite_time = 0;
            return (false, None);
        }
        self.next_delay_minutes = if self.next_delay_minutes == 0 {
            1
        } else {
            (self.next_delay_minutes * 2).min(LIMIT_MAX_MINUTES)
        };
        self.next_rewrite_time = now + self.next_delay_minutes * 60;
        let msg = format!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
            self.next_delay_minutes
        );
        (true, Some((LogLevel::Warning, msg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth() {
        assert_eq!(auto_rewrite_growth(200, 100, 100, 64), Some(100));
        assert_eq!(auto_rewrite_growth(199, 100, 100, 64), None);
        assert_eq!(auto_rewrite_growth(200, 100, 0, 64), None);
        assert_eq!(auto_rewrite_growth(60, 10, 100, 64), None);
        assert_eq!(auto_rewrite_growth(100, 0, 100, 64), Some(9900));
    }

    #[test]
    fn backoff() {
        let mut l = RewriteLimiter::new();
        assert!(!l.limited(0).0);
        for _ in 0..3 {
            l.record(false);
        }
        let (lim, log) = l.limited(1000);
        assert!(lim);
        assert!(log.is_some_and(|(_, m)| m.ends_with("will retry in 1 minutes")));
        assert!(l.limited(1059).0);
        assert!(!l.limited(1060).0);
        l.record(false);
        let (_, log) = l.limited(2000);
        assert!(log.is_some_and(|(_, m)| m.ends_with("will retry in 2 minutes")));
        l.record(true);
        assert!(!l.limited(2001).0);
    }
}
