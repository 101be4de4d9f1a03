//! Latency regression: is the new path slower than the baseline, for real?
//!
//! Per check, the target's latency histogram is compared with the baseline
//! target's on p50, p90, p99 and p99.9: a quantile regresses when it exceeds
//! both its ratio threshold and the absolute delta. A regression is only
//! reported when a Mann-Whitney U test (the rank test Kayenta uses, in
//! `stats.rs`) on the two whole histograms says the target is slower with
//! its two-sided p below the significance, so noise raises nothing while a
//! real 10 % shift with enough samples is caught. Everything works on the recorded HDR histograms (ties are the
//! histograms' buckets), so saved reports can be re-analysed.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::stats::mann_whitney;

/// Thresholds of the latency comparison.
///
/// Two levels per quantile: above its `allowed` ratio a significant
/// regression is a warning, above its `critical` ratio it fails the run.
/// Defaults: allowed p50 1.05, p90 1.1, p99 1.2, p99.9 1.5; critical p50 1.5,
/// p90 1.5, p99 2, p99.9 3; a quantile must also be `min_delta` (1 ms)
/// slower, and `critical_delta` (10 ms) to be critical, and is judged only with `min_tail_samples` (10) samples beyond it
/// on both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyRules {
    /// `(quantile, highest allowed ratio target/baseline)`: above, a warning.
    pub ratios: Vec<(f64, f64)>,
    /// `(quantile, critical ratio)`: above (and `critical_delta` slower),
    /// the run fails.
    pub critical: Vec<(f64, f64)>,
    /// A quantile is only critical when it is also this much slower.
    pub critical_delta: Duration,
    /// A quantile only regresses when it is also this much slower.
    pub min_delta: Duration,
    /// Mann-Whitney p-value below which the difference is real.
    pub significance: f64,
    /// Samples needed beyond a quantile, on both sides, to judge it.
    pub min_tail_samples: u64,
}

impl Default for LatencyRules {
    fn default() -> Self {
        LatencyRules {
            ratios: vec![(0.5, 1.05), (0.9, 1.1), (0.99, 1.2), (0.999, 1.5)],
            critical: vec![(0.5, 1.5), (0.9, 1.5), (0.99, 2.0), (0.999, 3.0)],
            critical_delta: Duration::from_millis(10),
            min_delta: Duration::from_millis(1),
            significance: 0.001,
            min_tail_samples: 10,
        }
    }
}

impl LatencyRules {
    /// Whether `(q, target ms, baseline ms)` crosses its critical ratio.
    pub fn is_critical(&self, (q, t, b): (f64, f64, f64)) -> bool {
        self.critical
            .iter()
            .find(|(cq, _)| (cq - q).abs() < 1e-9)
            .is_some_and(|(_, r)| t > b * r)
            && (t - b) * 1000.0 > self.critical_delta.as_micros() as f64
    }
}

/// The outcome of one comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// `(quantile, target ms, baseline ms)` for every quantile that regressed.
    pub regressed: Vec<(f64, f64, f64)>,
    /// Two-sided Mann-Whitney p-value.
    pub p_value: f64,
    /// True when the target's latencies rank higher than the baseline's.
    pub slower: bool,
    pub n: (u64, u64),
    /// Probability that a target request is slower than a baseline one
    /// (½ for ties): the effect size, 0.5 meaning no difference.
    pub superiority: f64,
}

impl Comparison {
    pub fn is_regression(&self, rules: &LatencyRules) -> bool {
        !self.regressed.is_empty() && self.slower && self.p_value < rules.significance
    }

    /// `gateway p99 182 ms vs ingress 121 ms (+50 %), p = 0.0003, n = 12,000 / 12,000`.
    pub fn describe(&self, target: &str, baseline: &str) -> String {
        let parts: Vec<String> = self
            .regressed
            .iter()
            .map(|(q, t, b)| {
                format!(
                    "{target} {} {} vs {baseline} {} ({:+.0} %)",
                    quantile_name(*q),
                    ms(*t),
                    ms(*b),
                    100.0 * (t / b - 1.0)
                )
            })
            .collect();
        format!(
            "{}, P(slower) = {:.2}, p = {:.2e}, n = {} / {}",
            parts.join("; "),
            self.superiority,
            self.p_value,
            thousands(self.n.0),
            thousands(self.n.1)
        )
    }
}

pub fn quantile_name(q: f64) -> String {
    match q {
        q if (q - 0.999).abs() < 1e-9 => "p99.9".into(),
        q => format!("p{}", (q * 100.0).round()),
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Compares `target` with `baseline` (latency histograms in µs).
pub fn compare(
    target: &Histogram<u64>,
    baseline: &Histogram<u64>,
    rules: &LatencyRules,
) -> Comparison {
    let mut regressed = Vec::new();
    if !target.is_empty() && !baseline.is_empty() {
        for &(q, ratio) in &rules.ratios {
            let t = target.value_at_quantile(q) as f64 / 1000.0;
            let b = baseline.value_at_quantile(q) as f64 / 1000.0;
            if t > b * ratio && (t - b) * 1000.0 > rules.min_delta.as_micros() as f64 {
                regressed.push((q, t, b));
            }
        }
    }
    let (p_value, slower) = mann_whitney(target, baseline);
    Comparison {
        regressed,
        p_value,
        slower,
        n: (target.len(), baseline.len()),
        superiority: super::stats::superiority(target, baseline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::histogram;

    /// Log-normal-ish latencies around `median_us`, from a fixed seed.
    fn sample(n: usize, median_us: f64, seed: u64) -> Histogram<u64> {
        let mut h = histogram();
        let mut x = seed;
        let mut uniform = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..n {
            // Box-Muller.
            let (u1, u2) = (uniform().max(1e-12), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let v = median_us * (0.3 * z).exp();
            h.saturating_record(v.max(1.0) as u64);
        }
        h
    }

    #[test]
    fn equal_distributions_raise_nothing() {
        let rules = LatencyRules::default();
        for seed in 1..=20u64 {
            let a = sample(12_000, 50_000.0, seed);
            let b = sample(12_000, 50_000.0, seed + 1000);
            let c = compare(&a, &b, &rules);
            assert!(!c.is_regression(&rules), "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn a_ten_percent_p50_shift_is_caught_and_described() {
        let rules = LatencyRules::default();
        let gateway = sample(12_000, 55_000.0, 7);
        let ingress = sample(12_000, 50_000.0, 8);
        let c = compare(&gateway, &ingress, &rules);
        assert!(c.is_regression(&rules), "{c:?}");
        assert!(c.p_value < 1e-6);
        let text = c.describe("gateway", "ingress");
        assert!(text.starts_with("gateway p50 5"), "{text}");
        assert!(
            text.contains("vs ingress p50") || text.contains("vs ingress"),
            "{text}"
        );
        assert!(text.ends_with("n = 12,000 / 12,000"), "{text}");
        // The faster direction is no regression.
        assert!(!compare(&ingress, &gateway, &rules).is_regression(&rules));
    }

    #[test]
    fn tiny_absolute_differences_are_not_regressions() {
        // +20 % at 100 µs is 20 µs: below the 1 ms minimum delta.
        let rules = LatencyRules::default();
        let c = compare(&sample(12_000, 120.0, 1), &sample(12_000, 100.0, 2), &rules);
        assert!(c.regressed.is_empty(), "{c:?}");
    }

    #[test]
    fn mann_whitney_on_identical_histograms_is_not_significant() {
        let a = sample(5_000, 1_000.0, 3);
        let (p, _) = mann_whitney(&a, &a);
        assert!(p > 0.99, "{p}");
    }
}
