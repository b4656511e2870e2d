//! Per-command latency histograms for INFO latencystats: a log-linear histogram (powers of two,
//! each split in 32 linear sub-buckets, so a reported value is within ~3% of the truth), in
//! nanoseconds, allocated the first time a command is recorded.

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

#[cfg(test)]
mod tests {
    use super::*;

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
