//! Weighted DNS: does the observed split follow the weights, and is every
//! answer a public address of a known target?
//!
//! Each answered query is mapped to the target whose declared answers (or
//! connect address/hostname) it contains; the counts are tested against the
//! expected weights with a chi-square goodness-of-fit test (p-value from the
//! regularized upper incomplete gamma function), and each target's share gets
//! a 95 % Wilson interval (both in `stats.rs`). Route 53's rules
//! (FIELD-NOTES.md): a weight-0 set is never returned unless every weight is
//! 0, and then all are equally likely.
//! Answers in private, shared, loopback, link-local or unique-local ranges
//! are findings (a ClusterIP leaked by external-dns) unless allow-listed.

use std::net::IpAddr;

use super::stats::{chi_square_p, chi_square_statistic, wilson};
use crate::probe::dns::{Answer, DnsResult};

/// What a DNS check expects.
#[derive(Clone, Debug)]
pub struct DnsExpect {
    /// `(target index in the plan, weight)`; empty = no split test.
    pub weights: Vec<(usize, f64)>,
    /// Fail when the goodness-of-fit p-value is below this.
    pub significance: f64,
    /// Answers in these networks are not findings (labs, tests).
    pub allow: Vec<(IpAddr, u8)>,
    /// A TTL above this is a finding (a shift with a long TTL moves slowly).
    pub max_ttl: Option<u32>,
}

impl Default for DnsExpect {
    fn default() -> Self {
        DnsExpect {
            weights: Vec::new(),
            significance: 0.001,
            allow: Vec::new(),
            max_ttl: None,
        }
    }
}

/// The answers that identify one target.
#[derive(Clone, Debug)]
pub struct TargetAnswers {
    pub target: String,
    /// Addresses and CNAME targets (lowercase, no trailing dot).
    pub answers: Vec<String>,
}

/// One target's part of the split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    pub target: String,
    pub count: u64,
    pub observed: f64,
    /// 95 % Wilson interval of the observed share.
    pub low: f64,
    pub high: f64,
    pub expected: Option<f64>,
}

/// The analysed split of one DNS check.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub queries: u64,
    pub answered: u64,
    pub shares: Vec<Share>,
    /// Answers that match no target: `(answer, count)`.
    pub unknown: Vec<(String, u64)>,
    /// Queries without an answer, by class (nxdomain, servfail, timeout, …).
    pub failures: Vec<(String, u64)>,
    pub chi_square: Option<f64>,
    pub p_value: Option<f64>,
    pub ttls: Vec<u32>,
    /// CNAME targets seen in the answers, with counts.
    pub cnames: Vec<(String, u64)>,
    pub over_tcp: u64,
}

/// A problem found in the answers: `(finding kind, sentence)`.
pub type Problem = (&'static str, String);

/// Maps the answers to targets, tests the split, lists the problems.
pub fn analyze(
    name: &str,
    result: &DnsResult,
    targets: &[TargetAnswers],
    expect: &DnsExpect,
) -> (Split, Vec<Problem>) {
    let mut split = Split {
        queries: result.queries.len() as u64,
        ..Default::default()
    };
    let mut counts = vec![0u64; targets.len()];
    let mut problems: Vec<Problem> = Vec::new();
    let mut private: Vec<IpAddr> = Vec::new();
    let bump =
        |list: &mut Vec<(String, u64)>, key: String| match list.iter_mut().find(|(k, _)| *k == key)
        {
            Some((_, n)) => *n += 1,
            None => list.push((key, 1)),
        };
    for q in &result.queries {
        let Answer::Records {
            addrs,
            cnames,
            ttl,
            tcp,
        } = &q.answer
        else {
            bump(&mut split.failures, q.answer.class());
            continue;
        };
        split.answered += 1;
        split.over_tcp += u64::from(*tcp);
        if !split.ttls.contains(ttl) {
            split.ttls.push(*ttl);
        }
        for c in cnames {
            bump(&mut split.cnames, c.clone());
        }
        for a in addrs {
            if !routable(*a)
                && !expect.allow.iter().any(|(net, len)| in_net(*a, *net, *len))
                && !private.contains(a)
            {
                private.push(*a);
            }
        }
        let keys: Vec<String> = addrs
            .iter()
            .map(|a| a.to_string())
            .chain(cnames.iter().map(|c| c.to_ascii_lowercase()))
            .collect();
        match targets
            .iter()
            .position(|t| t.answers.iter().any(|x| keys.contains(x)))
        {
            Some(i) => counts[i] += 1,
            None => {
                // A huge answer is named by its first records and its size.
                let shown = crate::probe::dns::summarise(addrs, crate::probe::dns::RECORDS_SHOWN);
                bump(&mut split.unknown, shown);
            }
        }
    }
    split.ttls.sort_unstable();
    let n = split.answered.max(1) as f64;
    let total_weight: f64 = expect.weights.iter().map(|(_, w)| w).sum();
    let all_zero = !expect.weights.is_empty() && total_weight <= 0.0;
    let expected_share = |i: usize| -> Option<f64> {
        let w = expect
            .weights
            .iter()
            .find(|(t, _)| *t == i)
            .map(|(_, w)| *w)?;
        Some(if all_zero {
            1.0 / expect.weights.len() as f64
        } else {
            w / total_weight
        })
    };
    for (i, t) in targets.iter().enumerate() {
        let (low, high) = wilson(counts[i], split.answered);
        split.shares.push(Share {
            target: t.target.clone(),
            count: counts[i],
            observed: counts[i] as f64 / n,
            low,
            high,
            expected: expected_share(i),
        });
    }
    // Goodness of fit over the targets that may appear.
    let mapped: u64 = counts.iter().sum();
    if !expect.weights.is_empty() && mapped > 0 {
        // `(observed, expected)` counts. The expected counts are shares of
        // every mapped answer, so answers from weight-0 targets count against
        // the fit too.
        let mut cells: Vec<(f64, f64)> = Vec::new();
        for (i, c) in counts.iter().enumerate() {
            match expected_share(i) {
                Some(e) if e > 0.0 => cells.push((*c as f64, e * mapped as f64)),
                Some(_) if *c > 0 => problems.push((
                    "dns_weight_zero",
                    format!(
                        "{name}: target `{}` has weight 0 but answered {c} of {} queries",
                        targets[i].target, split.answered
                    ),
                )),
                _ => {}
            }
        }
        if cells.len() >= 2 {
            let chi = chi_square_statistic(&cells);
            let p = chi_square_p(chi, (cells.len() - 1) as f64);
            split.chi_square = Some(chi);
            split.p_value = Some(p);
            if p < expect.significance {
                let shares: Vec<String> = split
                    .shares
                    .iter()
                    .filter_map(|s| {
                        s.expected.map(|e| {
                            format!(
                                "{} {:.1} % (95 % CI {:.1}–{:.1} %, expected {:.1} %)",
                                s.target,
                                100.0 * s.observed,
                                100.0 * s.low,
                                100.0 * s.high,
                                100.0 * e
                            )
                        })
                    })
                    .collect();
                problems.push((
                    "dns_weights",
                    format!(
                        "{name}: the split does not follow the weights: {}; chi-square {chi:.1}, p = {p:.2e}, n = {mapped}",
                        shares.join(", ")
                    ),
                ));
            }
        }
    }
    // One finding per distinct unknown answer, up to a few; the rest summed up.
    const UNKNOWN_SHOWN: usize = 3;
    for (answer, count) in split.unknown.iter().take(UNKNOWN_SHOWN) {
        problems.push((
            "dns_unknown_answer",
            format!(
                "{name}: {count} of {} answers were `{answer}`, which matches no target",
                split.answered
            ),
        ));
    }
    if split.unknown.len() > UNKNOWN_SHOWN {
        let rest = &split.unknown[UNKNOWN_SHOWN..];
        problems.push((
            "dns_unknown_answer",
            format!(
                "{name}: {} more distinct answers ({} answers) matched no target",
                rest.len(),
                rest.iter().map(|(_, n)| n).sum::<u64>()
            ),
        ));
    }
    if !private.is_empty() {
        let shown = crate::probe::dns::summarise(&private, crate::probe::dns::RECORDS_SHOWN);
        let message = if private.len() == 1 {
            format!("{name} answered {shown}, a private or non-routable address (a ClusterIP leaked by external-dns?)")
        } else {
            format!("{name} answered {shown}: private or non-routable addresses (ClusterIPs leaked by external-dns?)")
        };
        problems.push(("dns_private_answer", message));
    }
    if let (Some(max), Some(&top)) = (expect.max_ttl, split.ttls.last()) {
        if top > max {
            problems.push((
                "dns_ttl",
                format!("{name}: TTL {top} s exceeds the maximum of {max} s: clients follow a weight change that slowly"),
            ));
        }
    }
    for (class, count) in &split.failures {
        problems.push((
            "dns_errors",
            format!(
                "{name}: {count} of {} queries got no answer: {class}",
                split.queries
            ),
        ));
    }
    (split, problems)
}

/// Whether an address can be reached from the internet (documentation ranges count as public).
pub fn routable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            !(v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            !(v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Whether `a` is in `net/len`.
pub fn in_net(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::dns::Sampled;
    use std::time::Duration;

    #[test]
    fn private_and_shared_ranges_are_not_routable() {
        for a in [
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(!routable(a.parse().unwrap()), "{a}");
        }
        for a in ["52.1.2.3", "192.0.2.10", "2600::1"] {
            assert!(routable(a.parse().unwrap()), "{a}");
        }
        assert!(in_net(
            "127.0.0.5".parse().unwrap(),
            "127.0.0.0".parse().unwrap(),
            8
        ));
        assert!(!in_net(
            "10.0.0.5".parse().unwrap(),
            "127.0.0.0".parse().unwrap(),
            8
        ));
    }

    fn result(answers: &[(&str, u64)]) -> DnsResult {
        let mut queries = Vec::new();
        for (a, n) in answers {
            for _ in 0..*n {
                queries.push(Sampled {
                    nameserver: "127.0.0.1:53".parse().unwrap(),
                    answer: Answer::Records {
                        addrs: vec![a.parse().unwrap()],
                        cnames: vec![],
                        ttl: 60,
                        tcp: false,
                    },
                    latency: Duration::ZERO,
                });
            }
        }
        DnsResult {
            summary: crate::probe::Sample::failed(
                "dns://shop".into(),
                crate::probe::ProbeError::new(crate::probe::ErrorKind::Dns, "x"),
                Duration::ZERO,
            ),
            queries,
            elapsed: Duration::ZERO,
        }
    }

    fn targets() -> Vec<TargetAnswers> {
        vec![
            TargetAnswers {
                target: "ingress".into(),
                answers: vec!["192.0.2.10".into()],
            },
            TargetAnswers {
                target: "gateway".into(),
                answers: vec!["192.0.2.20".into()],
            },
        ]
    }

    fn expect(i: f64, g: f64) -> DnsExpect {
        DnsExpect {
            weights: vec![(0, i), (1, g)],
            ..Default::default()
        }
    }

    #[test]
    fn a_right_split_passes_and_a_wrong_one_fails() {
        let (split, problems) = analyze(
            "shop",
            &result(&[("192.0.2.10", 905), ("192.0.2.20", 95)]),
            &targets(),
            &expect(90.0, 10.0),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(split.p_value.unwrap() > 0.1);
        // 90/10 served as 80/20.
        let (_, problems) = analyze(
            "shop",
            &result(&[("192.0.2.10", 800), ("192.0.2.20", 200)]),
            &targets(),
            &expect(90.0, 10.0),
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "dns_weights");
        assert!(
            problems[0].1.contains("gateway 20.0 %"),
            "{}",
            problems[0].1
        );
    }

    #[test]
    fn weight_zero_targets_must_not_appear_unless_all_are_zero() {
        let (_, problems) = analyze(
            "shop",
            &result(&[("192.0.2.10", 999), ("192.0.2.20", 1)]),
            &targets(),
            &expect(100.0, 0.0),
        );
        assert_eq!(problems[0].0, "dns_weight_zero");
        let (split, problems) = analyze(
            "shop",
            &result(&[("192.0.2.10", 510), ("192.0.2.20", 490)]),
            &targets(),
            &expect(0.0, 0.0),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(split.shares[0].expected, Some(0.5));
    }

    #[test]
    fn a_huge_unknown_answer_makes_short_findings() {
        // Regression guard: a 4,000-record answer made a 55 KB failure line.
        let addrs: Vec<IpAddr> = (0..4000u32)
            .map(|i| IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]))
            .collect();
        let mut r = result(&[("192.0.2.10", 10)]);
        r.queries.push(Sampled {
            answer: Answer::Records {
                addrs,
                cnames: Vec::new(),
                ttl: 60,
                tcp: true,
            },
            ..r.queries[0].clone()
        });
        let (_, problems) = analyze("shop", &r, &targets(), &expect(100.0, 0.0));
        assert!(!problems.is_empty());
        for (kind, message) in &problems {
            assert!(message.len() < 600, "{kind}: {} bytes", message.len());
        }
        assert!(problems
            .iter()
            .any(|(k, m)| *k == "dns_private_answer" && m.contains("4000 in all")));
    }

    #[test]
    fn unknown_private_and_long_ttl_answers_are_findings() {
        let mut e = expect(50.0, 50.0);
        e.max_ttl = Some(30);
        let (_, problems) = analyze(
            "shop",
            &result(&[("192.0.2.10", 50), ("192.0.2.20", 50), ("10.96.0.12", 3)]),
            &targets(),
            &e,
        );
        let kinds: Vec<&str> = problems.iter().map(|p| p.0).collect();
        assert_eq!(
            kinds,
            ["dns_unknown_answer", "dns_private_answer", "dns_ttl"]
        );
        assert!(problems[1].1.contains("10.96.0.12"));
    }
}
