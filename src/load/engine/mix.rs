//! The check mix: which check each request of a target runs.
//!
//! A [`Mix`] holds a target's check weights as a running sum, built once per
//! worker; [`Mix::pick`] draws a uniform point under the total and returns
//! the first check whose running sum exceeds it, so check `c` is picked with
//! probability `weight_c / total`. The draws come from [`XorShift`]: one
//! generator per driver (seeded from the worker and the target) and one per
//! closed client (from the worker and the client), so the picks are the same
//! from run to run and no generator is shared between tasks. Weights are
//! positive (checks weighing 0 are left out of the mix), and a mix is only
//! picked from when it has at least one check.
//!
//! Open arrivals pick with [`Mix::pick_for`]: the draw is a hash of the
//! target and the arrival's number in the whole schedule, not the next draw
//! of a worker's generator, so arrival `k` runs the same check whichever
//! worker or shard (`--shard i/n`) sends it: shards and workers split the
//! load and its mix exactly as the unsharded run would.

/// A target's check weights, as a running sum in check order.
#[derive(Debug, Default)]
pub(super) struct Mix {
    cumulative: Vec<f64>,
}

impl Mix {
    /// Adds the next check, weighing `weight` (> 0).
    pub(super) fn push(&mut self, weight: f64) {
        let sum = self.cumulative.last().copied().unwrap_or(0.0) + weight;
        self.cumulative.push(sum);
    }

    /// The index of the next request's check.
    pub(super) fn pick(&self, rng: &mut XorShift) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.unit() * total;
        self.cumulative
            .iter()
            .position(|&c| x < c)
            .unwrap_or(self.cumulative.len() - 1)
    }
}

impl Mix {
    /// The check of arrival `index` of a target seeded `seed`: the same for
    /// every worker and shard.
    pub(super) fn pick_for(&self, seed: u64, index: u64) -> usize {
        let mut rng = XorShift::new(splitmix64(seed ^ splitmix64(index)));
        self.pick(&mut rng)
    }
}

/// SplitMix64's finaliser: spreads consecutive numbers over all 64 bits.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator for the check mix (xorshift64*).
pub(super) struct XorShift(u64);

impl XorShift {
    pub(super) fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::{Mix, XorShift};

    #[test]
    fn an_arrival_picks_the_same_check_whoever_sends_it_and_follows_the_weights() {
        let mut mix = Mix::default();
        for weight in [3.0, 1.0] {
            mix.push(weight);
        }
        let whole: Vec<usize> = (0..40_000).map(|k| mix.pick_for(7, k)).collect();
        // Three shards, each sending arrivals k ≡ i (mod 3), pick the same.
        for i in 0..3u64 {
            for k in (i..40_000).step_by(3) {
                assert_eq!(mix.pick_for(7, k), whole[k as usize]);
            }
        }
        let first = whole.iter().filter(|&&c| c == 0).count() as f64 / 40_000.0;
        assert!((first - 0.75).abs() < 0.01, "{first}");
    }

    #[test]
    fn picks_follow_the_weights() {
        let mut mix = Mix::default();
        for weight in [1.0, 3.0, 6.0] {
            mix.push(weight);
        }
        let mut rng = XorShift::new(42);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[mix.pick(&mut rng)] += 1;
        }
        // Expected 1,000 / 3,000 / 6,000; ±5 % of the total is far outside chance.
        for (count, expected) in counts.iter().zip([1_000, 3_000, 6_000]) {
            assert!(count.abs_diff(expected) < 500, "{counts:?}");
        }
    }

    #[test]
    fn a_single_check_is_always_picked() {
        let mut mix = Mix::default();
        mix.push(0.5);
        let mut rng = XorShift::new(7);
        assert!((0..100).all(|_| mix.pick(&mut rng) == 0));
    }
}
