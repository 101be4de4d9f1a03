//! The statistics behind the analyzers' verdicts: p-values and intervals
//! that `dns.rs` (is the split the weights?) and `latency.rs` (is the new
//! path slower?) turn into findings. Pure functions of numbers and recorded
//! histograms; no I/O, no panics on any input.
//!
//! - **Chi-square upper tail** [`chi_square_p`]: P(X ≥ χ²) for `df` degrees
//!   of freedom, as the regularized upper incomplete gamma Q(df/2, χ²/2)
//!   (`gamma_q`: the power series of P = 1 − Q when x < a + 1, Lentz's
//!   continued fraction for Q otherwise; ln Γ by Lanczos, g = 7, 9 terms).
//!   With [`chi_square_statistic`] it is Pearson's goodness-of-fit test,
//!   which assumes independent observations and expected counts that are not
//!   small (the usual rule: at least 5 per cell); below that p is approximate.
//! - **Normal two-sided tail** [`normal_two_sided_p`]: P(|Z| ≥ |z|) =
//!   erfc(|z|/√2) = Q(1/2, z²/2), so it shares the gamma code.
//! - **Wilson score interval** [`wilson`]: the 95 % interval of a binomial
//!   proportion k/n (z = Φ⁻¹(0.975)), without continuity correction. Unlike
//!   the Wald interval it stays inside [0, 1] and is not empty at k = 0 or
//!   k = n. n = 0 gives the whole range (0, 1): no evidence either way.
//! - **Mann-Whitney U** [`mann_whitney`]: the two-sided rank-sum test of two
//!   HDR histograms, normal approximation with the tie-corrected variance
//!   and **no continuity correction**; the histograms' buckets are the ties.
//!   It assumes independent samples and enough of them for the normal
//!   approximation (a few dozen each; latency histograms hold thousands).
//!
//! Invariants: for finite arguments within each function's domain (df > 0,
//! k ≤ n) every p-value is in [0, 1] and every interval inside [0, 1];
//! "no evidence" (χ² ≤ 0, an empty histogram, every value tied) is p = 1,
//! never NaN.
//!
//! Accuracy, checked in the tests below against scipy 1.17 (and mpmath at
//! 60 digits where scipy itself rounds): relative error ≤ 1e-14 near the
//! centre; in the tails the error is the rounding of the exponent
//! a·ln x − x − ln Γ(a) of the gamma prefactor, about ε times its terms'
//! size: ≤ 1e-13 for df ≤ 100 and χ² ≤ 1,500 (p down to 1e-306), ≤ 1e-12
//! at df = 10³, ≤ 1e-11 at df = 10⁴, ~1e-10 at df = 10⁵ and ~1e-9 at
//! df = 10⁶. Mann-Whitney p-values inherit the normal tail's accuracy
//! (U is exact up to ~10⁷ values per side). Tails below f64's normal range
//! (p < 2.2e-308) come out subnormal and below 5e-324 as 0 (scipy gives 0
//! there already).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Pearson's statistic Σ (O − E)² / E over `(observed, expected)` cells
/// (every E > 0); its p-value is [`chi_square_p`] with `cells − 1` degrees
/// of freedom when the expected counts come from fixed shares.
pub fn chi_square_statistic(cells: &[(f64, f64)]) -> f64 {
    cells
        .iter()
        .fold(0.0, |chi, (o, e)| chi + (o - e).powi(2) / e)
}

/// P(X ≥ chi) for a chi-square distribution with `df` > 0 degrees of
/// freedom; 1 for `chi` ≤ 0. Equals `scipy.stats.chi2.sf(chi, df)`.
pub fn chi_square_p(chi: f64, df: f64) -> f64 {
    if chi <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, chi / 2.0)
}

/// P(|Z| ≥ |z|) for a standard normal Z: `2 · scipy.stats.norm.sf(|z|)`.
pub fn normal_two_sided_p(z: f64) -> f64 {
    // erfc(|z| / √2) = Q(1/2, z² / 2).
    chi_square_p(z * z, 1.0)
}

/// P(X ≥ k) for X ~ Poisson(λ): `scipy.stats.poisson.sf(k - 1, λ)`.
///
/// Computed as the regularized lower incomplete gamma P(k, λ) by its series
/// where that is accurate (λ < k + 1, the small tail a spike test needs),
/// else as 1 − Q(k, λ).
pub fn poisson_at_least(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    let a = k as f64;
    if lambda < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..max_terms(a) {
            ap += 1.0;
            term *= lambda / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum * (-lambda + a * lambda.ln() - ln_gamma(a)).exp()).clamp(0.0, 1.0)
    } else {
        (1.0 - gamma_q(a, lambda)).clamp(0.0, 1.0)
    }
}

/// Two-sided p-value that two proportions `k1/n1` and `k2/n2` are equal
/// (pooled z-test, no continuity correction).
pub fn two_proportions_p(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let pooled = (k1 + k2) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return if p1 == p2 { 1.0 } else { 0.0 };
    }
    normal_two_sided_p((p1 - p2) / se)
}

/// Regularized upper incomplete gamma Q(a, x) (series below a+1, continued fraction above).
fn gamma_q(a: f64, x: f64) -> f64 {
    let cap = max_terms(a);
    if x < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..cap {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * (-x + a * x.ln() - ln_gamma(a)).exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..cap {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

/// How many terms the series or the continued fraction may take before
/// giving up. Both need about 8·√a terms when x is near a (measured up to
/// a = 5·10⁷), so a flat cap stops them early for large a: at df = 10⁵
/// (a = 5·10⁴) a cap of 500 gave Q = 0.512 for 0.499. Capped at 10⁶ terms
/// so that an absurd `a` cannot spin.
fn max_terms(a: f64) -> usize {
    500 + (10.0 * a.sqrt()).min(1e6) as usize
}

/// ln Γ(x), Lanczos approximation (g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// 95 % Wilson score interval for `k` successes out of `n` (no continuity
/// correction): `scipy.stats.binomtest(k, n).proportion_ci(method='wilson')`.
/// `n = 0` gives `(0, 1)`; scipy rejects it. Needs `k ≤ n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Two-sided Mann-Whitney U test of `x` against `y` (values in µs, both
/// histograms made with the same precision): returns the p-value and
/// whether `x` ranks higher (U of x above its mean nx·ny/2, i.e. x slower).
///
/// Normal approximation with the tie-corrected variance
/// nx·ny/12 · ((n + 1) − Σ(t³ − t) / (n(n − 1))) and no continuity
/// correction: the same p as `scipy.stats.mannwhitneyu(x, y,
/// alternative='two-sided', method='asymptotic', use_continuity=False)` on
/// the values rounded to their buckets (values that share a bucket are
/// ties). Half the p is the one-sided p in the direction observed (scipy's
/// `alternative='greater'` when x ranks higher), so asking for "slower and
/// p < α" is a one-sided test at α/2. Rank sums are exact in f64 up to
/// about 10⁷ values per side. An empty side, or all values in one bucket
/// (variance 0, where scipy gives NaN), is `(1.0, false)`.
pub fn mann_whitney(x: &Histogram<u64>, y: &Histogram<u64>) -> (f64, bool) {
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    if nx == 0.0 || ny == 0.0 {
        return (1.0, false);
    }
    // Both histograms share their precision, so equal values land in equal
    // buckets: one group per bucket, with the counts from x and from y.
    let mut groups: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for v in x.iter_recorded() {
        groups.entry(v.value_iterated_to()).or_default().0 += v.count_at_value();
    }
    for v in y.iter_recorded() {
        groups.entry(v.value_iterated_to()).or_default().1 += v.count_at_value();
    }
    let n = nx + ny;
    let mut rank_sum_x = 0.0;
    let mut below = 0.0;
    let mut ties = 0.0;
    for (a, b) in groups.values() {
        let t = (*a + *b) as f64;
        let mean_rank = below + (t + 1.0) / 2.0;
        rank_sum_x += *a as f64 * mean_rank;
        below += t;
        ties += t * t * t - t;
    }
    let u = rank_sum_x - nx * (nx + 1.0) / 2.0;
    let mean = nx * ny / 2.0;
    let var = nx * ny / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    if var <= 0.0 {
        return (1.0, false);
    }
    let z = (u - mean) / var.sqrt();
    (normal_two_sided_p(z), z > 0.0)
}

/// Probability of superiority: P(X > Y) + ½ P(X = Y) for a random value of
/// `x` against one of `y` (values sharing a bucket are ties). It is U / (nx·ny)
/// of the Mann-Whitney test, Kayenta's effect size: 0.5 is no difference, 1.0
/// means every `x` is above every `y`. An empty side is 0.5.
pub fn superiority(x: &Histogram<u64>, y: &Histogram<u64>) -> f64 {
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    if nx == 0.0 || ny == 0.0 {
        return 0.5;
    }
    let mut groups: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for v in x.iter_recorded() {
        groups.entry(v.value_iterated_to()).or_default().0 += v.count_at_value();
    }
    for v in y.iter_recorded() {
        groups.entry(v.value_iterated_to()).or_default().1 += v.count_at_value();
    }
    // For each x value: the y values below it, and half of those equal.
    let (mut wins, mut y_below) = (0.0, 0.0);
    for (a, b) in groups.values() {
        wins += *a as f64 * (y_below + *b as f64 / 2.0);
        y_below += *b as f64;
    }
    wins / (nx * ny)
}

#[cfg(test)]
mod tests {
    //! Reference values are scipy 1.17.1 (numpy 2.4), printed with `repr`
    //! and pasted as literals; the comment on each gives the exact call.
    //! Where scipy itself rounds in a far tail, mpmath (60 digits) agrees
    //! with these values to better than the tolerance asserted.

    use super::*;
    use crate::record::histogram;

    /// Asserts |got − want| ≤ rel · |want| (exact equality when want is 0).
    fn assert_rel(got: f64, want: f64, rel: f64, call: &str) {
        let err = if want == 0.0 {
            got.abs()
        } else {
            ((got - want) / want).abs()
        };
        assert!(
            err <= rel,
            "{call}: got {got:e}, scipy {want:e}, relative error {err:e} > {rel:e}"
        );
    }

    /// A histogram holding `values`, as the recorder makes them.
    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = histogram();
        for &v in values {
            h.record(v)
                .expect("test values are within the histogram's bounds");
        }
        h
    }

    /// A histogram holding `count` copies of each value of `values`.
    fn hist_n(values: impl IntoIterator<Item = u64>, count: u64) -> Histogram<u64> {
        let mut h = histogram();
        for v in values {
            h.record_n(v, count)
                .expect("test values are within the histogram's bounds");
        }
        h
    }

    // Near the centre only the rounding of the series or the continued
    // fraction and of ln Γ remains: 1e-13 relative (observed ≤ 3e-15).
    #[test]
    fn chi_square_p_matches_scipy_at_table_values() {
        for (chi, df, want, call) in [
            (3.841, 1.0, 0.050013683763956804, "chi2.sf(3.841, 1)"),
            (13.816, 2.0, 0.0009997553089238827, "chi2.sf(13.816, 2)"),
            (0.5, 3.0, 0.9188914116546758, "chi2.sf(0.5, 3)"),
            (0.001, 1.0, 0.9747728793699604, "chi2.sf(0.001, 1)"),
            (1e-10, 1.0, 0.9999920211543921, "chi2.sf(1e-10, 1)"),
        ] {
            assert_rel(chi_square_p(chi, df), want, 1e-13, call);
        }
        // chi2.sf(0, 1) == 1.0; no evidence is p = 1, also for a negative χ².
        assert_eq!(chi_square_p(0.0, 1.0), 1.0);
        assert_eq!(chi_square_p(-1.0, 3.0), 1.0);
    }

    // Far tails: the relative error is ε times the size of the prefactor's
    // exponent terms a·ln x, x and ln Γ(a) (~1e3 at df = 1 and χ² = 1400,
    // ~1e5 at df = 10⁴), plus scipy's own rounding there (8.7e-14 at
    // chi2.sf(1400, 1) against mpmath). Hence 1e-12, and 1e-10 at df = 10⁴.
    #[test]
    fn chi_square_p_matches_scipy_in_the_far_tail() {
        for (chi, df, want, rel, call) in [
            (500.0, 1.0, 9.505397766554137e-111, 1e-12, "chi2.sf(500, 1)"),
            (
                1400.0,
                1.0,
                2.1010145162644003e-306,
                1e-12,
                "chi2.sf(1400, 1)",
            ),
            (
                1000.0,
                10.0,
                1.870290720915977e-208,
                1e-12,
                "chi2.sf(1000, 10)",
            ),
            (
                1200.0,
                100.0,
                6.390680383682146e-188,
                1e-12,
                "chi2.sf(1200, 100)",
            ),
            (
                3000.0,
                1000.0,
                1.6436845843568014e-198,
                1e-11,
                "chi2.sf(3000, 1000)",
            ),
            (
                15000.0,
                10000.0,
                5.915868829058352e-208,
                1e-10,
                "chi2.sf(15000, 10000)",
            ),
        ] {
            assert_rel(chi_square_p(chi, df), want, rel, call);
        }
        // chi2.sf(2000, 100) == 0.0 (true value ~1e-347, below f64's range).
        assert_eq!(chi_square_p(2000.0, 100.0), 0.0);
    }

    // Regression: with a flat cap of 500 terms the series stopped early for
    // large df and chi2.sf(1e5, 1e5) came out 0.512 (it is 0.499). Tolerance
    // as in the far tail: ε × a·ln x ≈ 1e-10 at df = 10⁵, 1e-9 at 10⁶.
    #[test]
    fn chi_square_p_converges_with_many_degrees_of_freedom() {
        for (chi, df, want, rel, call) in [
            (1e4, 1e4, 0.49811936596618267, 1e-10, "chi2.sf(1e4, 1e4)"),
            (
                99000.0,
                1e5,
                0.9875216843619172,
                1e-9,
                "chi2.sf(99000, 1e5)",
            ),
            (1e5, 1e5, 0.4994052918952067, 1e-9, "chi2.sf(1e5, 1e5)"),
            (1e6, 1e6, 0.4998119368033945, 1e-8, "chi2.sf(1e6, 1e6)"),
        ] {
            assert_rel(chi_square_p(chi, df), want, rel, call);
        }
    }

    // The series (x < a + 1) and the continued fraction (x ≥ a + 1) meet at
    // x = a + 1: both sides must agree with scipy there. 1e-13 relative
    // (observed ≤ 8e-15); 1e-12 in the tail of a = 100, where the exponent's
    // terms are ~1e3 (observed 6e-14; scipy itself is 2e-14 off mpmath).
    #[test]
    fn gamma_q_matches_scipy_gammaincc_on_both_sides_of_the_switch() {
        for (a, x, want, rel, call) in [
            (
                0.5,
                1.4999999,
                0.08326452694224003,
                1e-13,
                "gammaincc(0.5, 1.4999999)",
            ),
            (0.5, 1.5, 0.08326451666355042, 1e-13, "gammaincc(0.5, 1.5)"),
            (
                0.5,
                1.5000001,
                0.08326450638486231,
                1e-13,
                "gammaincc(0.5, 1.5000001)",
            ),
            (2.5, 3.5, 0.22064030793671066, 1e-13, "gammaincc(2.5, 3.5)"),
            (
                10.0,
                10.999,
                0.34061917784016676,
                1e-13,
                "gammaincc(10, 10.999)",
            ),
            (10.0, 11.0, 0.3405106424656608, 1e-13, "gammaincc(10, 11)"),
            (
                10.0,
                11.001,
                0.34040212682306537,
                1e-13,
                "gammaincc(10, 11.001)",
            ),
            (0.5, 0.01, 0.887537083981715, 1e-13, "gammaincc(0.5, 0.01)"),
            (3.0, 0.01, 0.9999998345783472, 1e-13, "gammaincc(3, 0.01)"),
            (100.0, 50.0, 0.9999999996799934, 1e-13, "gammaincc(100, 50)"),
            (
                100.0,
                200.0,
                1.8438936497115418e-15,
                1e-12,
                "gammaincc(100, 200)",
            ),
            (1.0, 30.0, 9.357622968840163e-14, 1e-13, "gammaincc(1, 30)"),
        ] {
            assert_rel(gamma_q(a, x), want, rel, call);
        }
    }

    // Lanczos (g = 7, 9 terms) is good to a few ε: 1e-15 absolute near the
    // zeros at 1 and 2, 1e-15 relative elsewhere.
    #[test]
    fn ln_gamma_matches_scipy_gammaln() {
        for (x, want, call) in [
            (0.5, 0.5723649429247, "gammaln(0.5)"),
            (1.0, 0.0, "gammaln(1.0)"),
            (1.5, -0.12078223763524526, "gammaln(1.5)"),
            (2.0, 0.0, "gammaln(2.0)"),
            (10.0, 12.801827480081469, "gammaln(10.0)"),
            (100.5, 361.43554046777757, "gammaln(100.5)"),
            (1e5, 1051287.7089736569, "gammaln(100000.0)"),
        ] {
            let got = ln_gamma(x);
            let err = (got - want).abs();
            assert!(
                err <= 1e-15 * want.abs().max(1.0),
                "{call}: got {got:e}, scipy {want:e}"
            );
        }
    }

    // The statistic is exact arithmetic on small integers (1e-15); its p as
    // in chi_square_p_matches_scipy_at_table_values.
    #[test]
    fn goodness_of_fit_matches_scipy_chisquare() {
        for (cells, stat, p, call) in [
            (
                vec![(905.0, 900.0), (95.0, 100.0)],
                0.2777777777777778,
                0.5981614526835279,
                "chisquare([905, 95], [900, 100])",
            ),
            (
                vec![(800.0, 900.0), (200.0, 100.0)],
                111.11111111111111,
                5.59455723619152e-26,
                "chisquare([800, 200], [900, 100])",
            ),
            (
                vec![(30.0, 25.0), (52.0, 50.0), (18.0, 25.0)],
                3.04,
                0.21871188695221477,
                "chisquare([30, 52, 18], [25, 50, 25])",
            ),
            (
                vec![(510.0, 500.0), (490.0, 500.0)],
                0.4,
                0.5270892568655381,
                "chisquare([510, 490], [500, 500])",
            ),
        ] {
            let chi = chi_square_statistic(&cells);
            assert_rel(chi, stat, 1e-15, call);
            assert_rel(chi_square_p(chi, (cells.len() - 1) as f64), p, 1e-13, call);
        }
    }

    // The same closed form as scipy's, in another arrangement: 1e-13 (the
    // lower bound at 1 of 10⁶ loses a digit to centre − half: 5e-15).
    #[test]
    fn wilson_matches_scipy_binomtest() {
        for (k, n, low, high) in [
            // binomtest(900, 1000).proportion_ci(method='wilson')
            (900, 1000, 0.8798480368046515, 0.9170905564069043),
            // binomtest(5, 20).proportion_ci(method='wilson')
            (5, 20, 0.11186170140766571, 0.468700877618744),
            // binomtest(3, 7).proportion_ci(method='wilson')
            (3, 7, 0.1582198552514697, 0.7495416354723428),
            // binomtest(1, 1000000).proportion_ci(method='wilson')
            (1, 1_000_000, 1.765245767453709e-07, 5.664911804311442e-06),
            // binomtest(500000, 1000000).proportion_ci(method='wilson')
            (500_000, 1_000_000, 0.4990200198900048, 0.5009799801099952),
        ] {
            let (lo, hi) = wilson(k, n);
            let call = format!("binomtest({k}, {n}).proportion_ci(method='wilson')");
            assert_rel(lo, low, 1e-13, &call);
            assert_rel(hi, high, 1e-13, &call);
        }
    }

    // scipy sets the lower bound to exactly 0 at k = 0 and the upper to
    // exactly 1 at k = n; the closed form here lands within an ulp of them
    // (k = n = 10 gives 1 − 1.1e-16), so those are checked to 1e-15
    // absolute and the other bound to 1e-14 relative.
    #[test]
    fn wilson_at_the_edges() {
        for (k, n, low, high) in [
            // binomtest(0, 10).proportion_ci(method='wilson')
            (0, 10, 0.0, 0.27753279986288926),
            // binomtest(10, 10).proportion_ci(method='wilson')
            (10, 10, 0.7224672001371109, 1.0),
            // binomtest(0, 1).proportion_ci(method='wilson')
            (0, 1, 0.0, 0.7934506856227626),
            // binomtest(1, 1).proportion_ci(method='wilson')
            (1, 1, 0.20654931437723745, 1.0),
            // binomtest(0, 1000000).proportion_ci(method='wilson')
            (0, 1_000_000, 0.0, 3.841444063944942e-06),
        ] {
            let (lo, hi) = wilson(k, n);
            let call = format!("binomtest({k}, {n}).proportion_ci(method='wilson')");
            assert!(
                (0.0..=1.0).contains(&lo) && (lo..=1.0).contains(&hi),
                "{call}"
            );
            if low == 0.0 {
                assert!(lo <= 1e-15, "{call}: low {lo:e}");
            } else {
                assert_rel(lo, low, 1e-14, &call);
            }
            if high == 1.0 {
                assert!(hi >= 1.0 - 1e-15, "{call}: high {hi:e}");
            } else {
                assert_rel(hi, high, 1e-14, &call);
            }
        }
        // n = 0: scipy raises; no answers is no evidence, the whole range.
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    // Q(1/2, z²/2) is the continued fraction for |z| ≥ √3: 1e-13 relative,
    // 1e-12 at z = 37 (p ~ 1e-299, exponent terms ~700).
    #[test]
    fn superiority_is_the_share_of_pairs_where_x_wins_on_fixed_seeds() {
        // Brute force over every pair on values HDR records exactly (< 2048 µs).
        for seed in [1u64, 7, 42] {
            let mut r = seed;
            let mut next = || {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                1 + r % 2000
            };
            let xs: Vec<u64> = (0..300).map(|_| next() + 100).collect();
            let ys: Vec<u64> = (0..250).map(|_| next()).collect();
            let (mut hx, mut hy) = (crate::hdr::histogram(), crate::hdr::histogram());
            xs.iter().for_each(|v| hx.saturating_record(*v));
            ys.iter().for_each(|v| hy.saturating_record(*v));
            let mut wins = 0.0;
            for a in &xs {
                for b in &ys {
                    wins += match a.cmp(b) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
            let want = wins / (xs.len() * ys.len()) as f64;
            let got = superiority(&hx, &hy);
            assert!((got - want).abs() < 1e-12, "seed {seed}: {got} vs {want}");
        }
        let h = crate::hdr::histogram();
        assert_eq!(superiority(&h, &h), 0.5);
    }

    #[test]
    fn poisson_at_least_matches_scipy() {
        // scipy.stats.poisson.sf(k - 1, lam) for (k, lam):
        let cases = [
            (1u64, 0.5, 0.3934693402873665),
            (5, 1.0, 0.003659846827343713),
            (10, 8.0, 0.28337574127298903),
            (20, 2.0, 6.443731393112101e-14),
            (50, 40.0, 0.07033506665939494),
            (3, 10.0, 0.9972306042844884),
        ];
        for (k, lam, want) in cases {
            let got = poisson_at_least(k, lam);
            assert!(
                ((got - want) / want).abs() < 1e-9,
                "k={k} lam={lam}: {got} vs {want}"
            );
        }
        assert_eq!(poisson_at_least(0, 3.0), 1.0);
        assert_eq!(poisson_at_least(1, 0.0), 0.0);
    }

    #[test]
    fn two_proportions_p_matches_the_pooled_z_test() {
        // Pooled z: 2 * scipy.stats.norm.sf(|p1 - p2| / se), as
        // statsmodels' proportions_ztest computes it.
        let p = two_proportions_p(97, 1200, 0, 1200);
        assert!(((p - 8.809563696737892e-24) / p).abs() < 1e-6, "{p}");
        let p = two_proportions_p(12, 1000, 10, 1000);
        assert!((p - 0.6680934023170402).abs() < 1e-9, "{p}");
    }

    #[test]
    fn normal_two_sided_p_matches_scipy_norm_sf() {
        for (z, want, rel, call) in [
            (0.0, 1.0, 0.0, "2*norm.sf(0.0)"),
            (0.5, 0.6170750774519738, 1e-13, "2*norm.sf(0.5)"),
            (1.96, 0.04999579029644087, 1e-13, "2*norm.sf(1.96)"),
            (5.0, 5.733031437583866e-07, 1e-13, "2*norm.sf(5.0)"),
            (10.0, 1.523970604832094e-23, 1e-13, "2*norm.sf(10.0)"),
            (30.0, 9.813427854295816e-198, 1e-12, "2*norm.sf(30.0)"),
            (37.0, 1.1451142445047853e-299, 1e-12, "2*norm.sf(37.0)"),
        ] {
            assert_rel(normal_two_sided_p(z), want, rel, call);
            assert_rel(normal_two_sided_p(-z), want, rel, call);
        }
    }

    // U and its variance are exact in f64 for these sizes, so the p-value
    // is as good as the normal tail: 1e-13. scipy's continuity correction
    // (`use_continuity=True`) moves these p-values by 13–30 % here and by
    // 3e-6 relative at 20,000 per side, so the asserts also pin
    // `use_continuity=False`.
    #[test]
    fn mann_whitney_matches_scipy_without_ties() {
        let x = hist(&[12, 15, 19, 22, 30, 41]);
        let y = hist(&[10, 11, 14, 16, 18]);
        // mannwhitneyu([12, 15, 19, 22, 30, 41], [10, 11, 14, 16, 18],
        //     alternative='two-sided', method='asymptotic', use_continuity=False)
        //     .pvalue == 0.06788915486182899 (U = 25)
        let call = "mannwhitneyu(x, y, two-sided, asymptotic, use_continuity=False)";
        let (p, slower) = mann_whitney(&x, &y);
        assert_rel(p, 0.06788915486182899, 1e-13, call);
        assert!(slower);
        // Swapped: the same p (scipy: 0.06788915486182899, U = 5), the
        // other direction.
        let (p, slower) = mann_whitney(&y, &x);
        assert_rel(p, 0.06788915486182899, 1e-13, call);
        assert!(!slower);
        // One-sided in the direction seen is half: mannwhitneyu(x, y,
        // alternative='greater', method='asymptotic', use_continuity=False)
        //     .pvalue == 0.033944577430914495
        assert_rel(
            p / 2.0,
            0.033944577430914495,
            1e-13,
            "alternative='greater'",
        );
    }

    #[test]
    fn mann_whitney_matches_scipy_with_ties_everywhere() {
        let x = hist(&[1, 1, 2, 2, 2, 3, 3, 3, 3]);
        let y = hist(&[2, 2, 3, 3, 4, 4, 4, 5]);
        // mannwhitneyu([1, 1, 2, 2, 2, 3, 3, 3, 3], [2, 2, 3, 3, 4, 4, 4, 5],
        //     alternative='two-sided', method='asymptotic', use_continuity=False)
        //     .pvalue == 0.03578318506150245 (U = 15)
        let (p, slower) = mann_whitney(&x, &y);
        assert_rel(p, 0.03578318506150245, 1e-13, "small sample, ties");
        assert!(!slower);
        // Three values shared by 10,000 + 10,000 samples:
        // x = np.repeat([100, 200, 300], [5000, 3000, 2000]),
        // y = np.repeat([100, 200, 300], [4000, 3000, 3000]);
        // mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
        //     use_continuity=False).pvalue == 1.3315890427089063e-65
        let mut x = hist_n([200], 3000);
        x.record_n(100, 5000).expect("in bounds");
        x.record_n(300, 2000).expect("in bounds");
        let mut y = hist_n([200], 3000);
        y.record_n(100, 4000).expect("in bounds");
        y.record_n(300, 3000).expect("in bounds");
        let (p, slower) = mann_whitney(&x, &y);
        assert_rel(
            p,
            1.3315890427089063e-65,
            1e-12,
            "large sample, three values",
        );
        assert!(!slower);
    }

    // Values in one HDR bucket are ties. At 100 ms the recorder's buckets
    // (3 significant figures) are 64 µs wide: 100,000, 100,010, 100,020 and
    // 100,030 share the bucket [99,968, 100,031].
    #[test]
    fn mann_whitney_ties_the_values_of_one_bucket() {
        let x = hist(&[100_000, 100_020, 100_100, 100_200]);
        let y = hist(&[100_010, 100_030, 100_040, 99_900]);
        // The values rounded to their buckets' highest value:
        // mannwhitneyu([100031, 100031, 100159, 100223],
        //     [100031, 100031, 100095, 99903], alternative='two-sided',
        //     method='asymptotic', use_continuity=False).pvalue
        //     == 0.2186037372080598
        // (unrounded, scipy gives 0.3864762307712327).
        let (p, slower) = mann_whitney(&x, &y);
        assert_rel(p, 0.2186037372080598, 1e-13, "bucketed values");
        assert!(slower);
    }

    // 20,000 latencies per side, uniform over 1000 µs, the target shifted by
    // 20, 50 and 100 µs. Tolerance 1e-11: the tail's exponent is ~550 at
    // p ~ 1e-237, and U (~2.4e8) and the variance are exact.
    #[test]
    fn mann_whitney_on_large_shifted_samples_matches_scipy_far_in_the_tail() {
        // x = np.repeat(np.arange(1000, 2000), 20)
        let x = hist_n(1000..2000, 20);
        for (shift, want, call) in [
            // y = np.repeat(np.arange(1000 - 20, 2000 - 20), 20);
            // mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
            //     use_continuity=False).pvalue
            (20, 6.942250227327786e-12, "shift 20"),
            (50, 5.5805897493064296e-64, "shift 50"),
            (100, 1.657413018772516e-237, "shift 100"),
        ] {
            let y = hist_n(1000 - shift..2000 - shift, 20);
            let (p, slower) = mann_whitney(&x, &y);
            assert_rel(p, want, 1e-11, call);
            assert!(slower, "{call}");
        }
        // A shift of 5 µs is no evidence at this size: scipy 0.08404203351497562.
        let y = hist_n(995..1995, 20);
        assert_rel(
            mann_whitney(&x, &y).0,
            0.08404203351497562,
            1e-12,
            "shift 5",
        );
    }

    #[test]
    fn mann_whitney_without_evidence_is_p_one() {
        let empty = histogram();
        let some = hist(&[10, 20, 30]);
        assert_eq!(mann_whitney(&empty, &some), (1.0, false));
        assert_eq!(mann_whitney(&some, &empty), (1.0, false));
        // Every value tied: variance 0 (scipy returns NaN here).
        let a = hist_n([500], 1000);
        let b = hist_n([500], 30);
        assert_eq!(mann_whitney(&a, &b), (1.0, false));
    }
}
