//! Latency: per-command histograms (INFO latencystats, LATENCY HISTOGRAM) and the latency
//! monitor (LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR).
//!
//! The histogram is log-linear (powers of two, each split in 32 linear sub-buckets, so a
//! reported value is within ~3% of the truth), in nanoseconds, allocated the first time a
//! command is recorded.
//!
//! The monitor keeps, per event name (`command`, `fast-command`, `expire-cycle`,
//! `eviction-cycle`, ...), the last 160 samples of at least `latency-monitor-threshold` ms,
//! one per second at most (the worst of that second), and the all-time maximum, as Redis's
//! `latency.c`.

const SUB: usize = 32;
const MAJOR: usize = 64;

/// One command's latency histogram.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros() as usize; // >= 5
    let shift = msb - 5;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    (shift + 1) * SUB + sub
}

fn lowest(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB) as u128;
    (((SUB as u128) + sub) << shift.min(100)).min(u64::MAX as u128) as u64
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; MAJOR * SUB],
            total: 0,
        }
    }

    /// Records one value (ns).
    pub fn record(&mut self, ns: u64) {
        let i = index(ns).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at percentile `p` (0..=100), in ns: the upper edge of the bucket holding it.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let hi = lowest(i + 1).saturating_sub(1);
                return hi.max(lowest(i));
            }
        }
        lowest(self.counts.len() - 1)
    }
}

impl Histogram {
    /// The cumulative distribution LATENCY HISTOGRAM shows: for buckets doubling from 1024 ns,
    /// (upper edge in µs, values up to it), only where the count grew.
    pub fn cdf_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut edge: u64 = 1024;
        let mut seen = 0u64;
        let mut prev = 0u64;
        let mut i = 0;
        while seen < self.total {
            // Values in buckets whose lowest value is below `edge` count as up to it.
            while i < self.counts.len() && lowest(i) < edge {
                seen += self.counts[i];
                i += 1;
            }
            if seen > prev {
                out.push(((edge - 1) / 1000, seen));
                prev = seen;
            }
            if i >= self.counts.len() || edge > u64::MAX / 2 {
                break;
            }
            edge *= 2;
        }
        out
    }
}

/// Samples kept per event.
const TS_LEN: usize = 160;

/// One event's time series.
#[derive(Clone)]
pub struct Series {
    /// (unix seconds, ms); time 0 = empty slot.
    samples: [(i64, u64); TS_LEN],
    idx: usize,
    pub max: u64,
}

/// The latency monitor's events, in first-seen order.
#[derive(Default)]
pub struct Monitor {
    events: Vec<(String, Box<Series>)>,
}

impl Monitor {
    /// Records `ms` for `event` (the caller checked the threshold).
    pub fn add(&mut self, event: &str, ms: u64) {
        let now = crate::server::now_ms() / 1000;
        let ts = match self.events.iter().position(|(e, _)| e == event) {
            Some(i) => &mut self.events[i].1,
            None => {
                self.events.push((
                    event.to_string(),
                    Box::new(Series {
                        samples: [(0, 0); TS_LEN],
                        idx: 0,
                        max: 0,
                    }),
                ));
                let last = self.events.len() - 1;
                &mut self.events[last].1
            }
        };
        ts.max = ts.max.max(ms);
        let prev = (ts.idx + TS_LEN - 1) % TS_LEN;
        if ts.samples[prev].0 == now {
            ts.samples[prev].1 = ts.samples[prev].1.max(ms);
            return;
        }
        ts.samples[ts.idx] = (now, ms);
        ts.idx = (ts.idx + 1) % TS_LEN;
    }

    pub fn get(&self, event: &[u8]) -> Option<(&str, &Series)> {
        self.events
            .iter()
            .find(|(e, _)| e.as_bytes() == event)
            .map(|(e, t)| (e.as_str(), &**t))
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Drops every event (None) or those named `event` (any case); returns how many.
    pub fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(e, _)| event.is_some_and(|x| !e.as_bytes().eq_ignore_ascii_case(x)));
        before - self.events.len()
    }

    /// (event, time of its last sample, that sample, all-time max) per event.
    pub fn latest(&self) -> Vec<(&str, i64, u64, u64)> {
        self.events
            .iter()
            .map(|(e, t)| {
                let last = t.samples[(t.idx + TS_LEN - 1) % TS_LEN];
                (e.as_str(), last.0, last.1, t.max)
            })
            .collect()
    }

    pub fn events(&self) -> impl Iterator<Item = (&str, &Series)> {
        self.events.iter().map(|(e, t)| (e.as_str(), &**t))
    }
}

impl Series {
    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<(i64, u64)> {
        (0..TS_LEN)
            .map(|j| self.samples[(self.idx + j) % TS_LEN])
            .filter(|s| s.0 != 0)
            .collect()
    }

    /// Count, average, mean absolute deviation, min, max and the seconds since the oldest.
    fn stats(&self, now: i64) -> (u64, u64, u64, i64) {
        let v = self.samples();
        if v.is_empty() {
            return (0, 0, 0, 0);
        }
        let n = v.len() as u64;
        let avg = v.iter().map(|s| s.1).sum::<u64>() / n;
        let mad = v.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
        let oldest = v.iter().map(|s| s.0).min().unwrap_or(now);
        (n, avg, mad, (now - oldest).max(1))
    }
}

/// LATENCY GRAPH's text: a header line, a rule, and columns of `#`/`|`/`_` scaled between
/// the lowest and highest sample, each labelled with how long ago it was.
pub fn graph(event: &str, ts: &Series) -> String {
    let v = ts.samples();
    let now = crate::server::now_ms() / 1000;
    let min = v.iter().map(|s| s.1).min().unwrap_or(0);
    let max = v.iter().map(|s| s.1).max().unwrap_or(0);
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        ts.max,
        "-".repeat(80)
    );
    const ROWS: u64 = 4;
    let height = |x: u64| -> u64 {
        if max == min {
            ROWS
        } else {
            1 + (x - min) * (ROWS - 1) / (max - min)
        }
    };
    let labels: Vec<String> = v
        .iter()
        .map(|s| {
            let e = now - s.0;
            if e < 60 {
                format!("{e}s")
            } else if e < 3600 {
                format!("{}m", e / 60)
            } else if e < 86400 {
                format!("{}h", e / 3600)
            } else {
                format!("{}d", e / 86400)
            }
        })
        .collect();
    for start in (0..v.len()).step_by(80) {
        let part = &v[start..(start + 80).min(v.len())];
        for row in (1..=ROWS).rev() {
            let line: String = part
                .iter()
                .map(|s| {
                    let h = height(s.1);
                    if h > row {
                        '|'
                    } else if h == row {
                        if row == ROWS {
                            '_'
                        } else {
                            '#'
                        }
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
        let width = labels[start..start + part.len()]
            .iter()
            .map(|l| l.len())
            .max()
            .unwrap_or(0);
        for r in 0..width {
            let line: String = labels[start..start + part.len()]
                .iter()
                .map(|l| l.as_bytes().get(r).map_or(' ', |&b| b as char))
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// LATENCY DOCTOR's report.
pub fn doctor(m: &Monitor, threshold: i64, slowlog_slower_than: i64) -> String {
    if m.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    if m.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string();
    }
    let now = crate::server::now_ms() / 1000;
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let mut advice: Vec<&str> = Vec::new();
    for (i, (e, ts)) in m.events().enumerate() {
        let (n, avg, mad, period) = ts.stats(now);
        out.push_str(&format!(
            "{}. {e}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            period as f64 / n.max(1) as f64,
            ts.max
        ));
        match e {
            "command" => {
                if slowlog_slower_than < 0 {
                    advice.push("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time at a constant rate. Fix the problem by enabling the slow log (CONFIG SET slowlog-log-slower-than) to find the slow commands.");
                }
                advice.push("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.");
                advice.push("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.");
            }
            "fast-command" => advice.push("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time at a constant rate. Fast commands taking a long time may be caused by the system scheduler or by a hypervisor."),
            "expire-cycle" => advice.push("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects."),
            "eviction-cycle" => advice.push("- Mass eviction of many keys at once is a blocking operation: keep used memory well below maxmemory, or lower maxmemory-eviction-tenacity."),
            _ => {}
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    advice.retain(|a| {
        let new = !seen.contains(a);
        seen.push(a);
        new
    });
    if advice.is_empty() {
        out.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return out;
    }
    out.push_str("\nI have a few advices for you:\n\n");
    for a in advice {
        out.push_str(a);
        out.push('\n');
    }
    out
}

/// One command's LATENCY HISTOGRAM entry: `calls` and `histogram_usec`.
fn histogram_entry(c: &mut crate::client::Client, name: &str, h: &Histogram) {
    c.reply.bulk(name.as_bytes());
    c.reply.map(2);
    c.reply.bulk(b"calls");
    c.reply.int(h.count() as i64);
    c.reply.bulk(b"histogram_usec");
    let cdf = h.cdf_usec();
    c.reply.map(cdf.len());
    for (us, n) in cdf {
        c.reply.int(us as i64);
        c.reply.int(n as i64);
    }
}

/// LATENCY DOCTOR | GRAPH event | HELP | HISTOGRAM [command ...] | HISTORY event | LATEST |
/// RESET [event ...]
pub fn command(
    s: &mut crate::server::Server,
    c: &mut crate::client::Client,
    a: cinnabar_resp::Args,
    sub: &str,
) {
    use cinnabar_commands::table;
    match sub {
        "latency|history" => match s.latency_events.get(a.get(2)) {
            None => c.reply.array(0),
            Some((_, ts)) => {
                let v = ts.samples();
                c.reply.array(v.len());
                for (t, ms) in v {
                    c.reply.array(2);
                    c.reply.int(t);
                    c.reply.int(ms as i64);
                }
            }
        },
        "latency|graph" => match s.latency_events.get(a.get(2)) {
            None => {
                let mut m = b"ERR No samples available for event '".to_vec();
                let e = a.get(2);
                m.extend_from_slice(&e[..e.iter().position(|&b| b == 0).unwrap_or(e.len())]);
                m.push(b'\'');
                c.reply.error_bytes(&m);
            }
            Some((name, ts)) => {
                let g = graph(name, ts);
                c.reply.verbatim(g.as_bytes(), "txt");
            }
        },
        "latency|latest" => {
            let l = s.latency_events.latest();
            c.reply.array(l.len());
            for (e, t, ms, max) in l {
                c.reply.array(4);
                c.reply.bulk(e.as_bytes());
                c.reply.int(t);
                c.reply.int(ms as i64);
                c.reply.int(max as i64);
            }
        }
        "latency|doctor" => {
            let r = doctor(
                &s.latency_events,
                s.settings.latency_monitor_threshold,
                s.settings.slowlog_slower_than,
            );
            c.reply.verbatim(r.as_bytes(), "txt");
        }
        "latency|reset" => {
            let n = if a.len() == 2 {
                s.latency_events.reset(None)
            } else {
                a.tail(2)
                    .iter()
                    .map(|e| s.latency_events.reset(Some(e)))
                    .sum()
            };
            c.reply.int(n as i64);
        }
        "latency|histogram" => {
            let mut picked: Vec<&'static table::CommandSpec> = Vec::new();
            if a.len() == 2 {
                let mut all = table::all_specs();
                all.sort_by(|x, y| x.fullname.cmp(&y.fullname));
                picked = all;
            } else {
                for name in a.tail(2).iter() {
                    let mut parts = name.splitn(2, |&b| b == b'|');
                    let top = parts.next().and_then(table::lookup);
                    let cmd = match (top, parts.next()) {
                        (Some(t), Some(sn)) => table::lookup_sub(t, sn),
                        (t, _) => t,
                    };
                    let Some(cmd) = cmd else { continue };
                    picked.push(cmd);
                    let mut subs: Vec<&'static table::CommandSpec> = table::all_specs()
                        .into_iter()
                        .filter(|x| {
                            x.fullname.len() > cmd.fullname.len() + 1
                                && x.fullname.starts_with(cmd.fullname.as_str())
                                && x.fullname.as_bytes()[cmd.fullname.len()] == b'|'
                        })
                        .collect();
                    subs.sort_by(|x, y| x.fullname.cmp(&y.fullname));
                    picked.extend(subs);
                }
            }
            let with: Vec<(&'static table::CommandSpec, Histogram)> = picked
                .into_iter()
                .filter_map(|cmd| match s.latency.get(cmd.index) {
                    Some(Some(h)) if h.count() > 0 => Some((cmd, (**h).clone())),
                    _ => None,
                })
                .collect();
            c.reply.map(with.len());
            for (cmd, h) in with {
                histogram_entry(c, &cmd.fullname, &h);
            }
        }
        _ => crate::cmds::help_reply(
            c,
            "LATENCY",
            &[
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_keeps_the_worst_sample_per_second() {
        let mut m = Monitor::default();
        m.add("command", 10);
        m.add("command", 30);
        m.add("command", 20);
        let l = m.latest();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].2, l[0].3), (30, 30));
        assert_eq!(m.get(b"command").map(|(_, t)| t.samples().len()), Some(1));
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert!(m.is_empty());
    }

    #[test]
    fn cdf_is_cumulative() {
        let mut h = Histogram::new();
        h.record(500);
        h.record(3000);
        h.record(3100);
        let c = h.cdf_usec();
        assert_eq!(c.last().map(|x| x.1), Some(3));
        assert_eq!(c[0], (1, 1));
        assert!(!graph(
            "x",
            &Series {
                samples: [(0, 0); TS_LEN],
                idx: 0,
                max: 0
            }
        )
        .is_empty());
    }

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for i in 0..=index(u64::MAX) {
            let l = lowest(i);
            assert!(l >= last);
            last = l;
            assert_eq!(index(l), i);
        }
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.percentile(50.0) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.04, "{p50}");
        let p100 = h.percentile(100.0) as f64;
        assert!((p100 - 1_000_000.0).abs() / 1_000_000.0 < 0.04, "{p100}");
    }
}
