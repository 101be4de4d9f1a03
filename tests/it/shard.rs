//! `run --shard INDEX/COUNT` (issue 17): shards of one scenario split its
//! load exactly — their requests add up to the unsharded run's, remainders
//! included — and each report says which shard it is and where it ran.

use std::sync::atomic::Ordering;

use cutover::load::engine::Shard;
use cutover::load::plan::{Rate, Stage};
use cutover::load::schedule::Shape;

use crate::support::{assert_valid_report, lab};

#[test]
fn a_shard_is_index_slash_count_and_bad_ones_are_said() {
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    for bad in ["4/4", "0/0", "x/2", "3", "-1/2"] {
        let e = Shard::parse(bad).expect_err(bad);
        assert!(e.contains("INDEX/COUNT"), "{e}");
    }
    // Shares of any total add up to it.
    for total in [0u64, 1, 7, 100, 1001] {
        let sum: u64 = (0..3)
            .map(|i| Shard { index: i, count: 3 }.share(total))
            .sum();
        assert_eq!(sum, total);
    }
}

#[test]
fn the_shards_arrivals_are_the_whole_schedule_exactly() {
    // 100/s for 10 s then a ramp: 1,000 + 750 arrivals, split 3 × 2 workers.
    let stages = [
        Stage::Constant {
            rate: Rate(100.0),
            duration: std::time::Duration::from_secs(10),
        },
        Stage::Ramp {
            from: Rate(100.0),
            to: Rate(50.0),
            duration: std::time::Duration::from_secs(10),
        },
    ];
    let shape = Shape::new(&stages, 1.0, None);
    let whole: Vec<u64> = shape.arrivals(0, 1).map(|a| a.index).collect();
    let mut sharded: Vec<u64> = Vec::new();
    for index in 0..3u64 {
        for worker in 0..2u64 {
            // The lane of worker `worker` of shard `index`.
            sharded.extend(shape.arrivals(index + 3 * worker, 6).map(|a| a.index));
        }
    }
    sharded.sort_unstable();
    assert_eq!(sharded, whole);
    assert_eq!(whole.len(), 1_750);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_send_the_whole_load_between_them_and_say_which_they_are() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = format!(
        r#"name: sharded
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{}" }}
  gateway: {{ connect: "{}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
load: {{ stages: [{{ rate: 25/s, for: 2s }}] }}
"#,
        lab.ingress_http, lab.gateway_http
    );
    std::fs::write(dir.path().join("s.yaml"), s).expect("write");
    let mut total = 0;
    for shard in ["0/2", "1/2"] {
        let out_dir = format!("out-{}", &shard[..1]);
        let out = crate::support::run_bin_async(
            dir.path(),
            &[
                "run",
                "s.yaml",
                "--shard",
                shard,
                "--out",
                &out_dir,
                "--workers",
                "2",
            ],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = crate::support::report_in(dir.path(), &out_dir);
        assert_valid_report(&report);
        let tag = &report["load"]["shard"];
        assert_eq!(tag["count"], 2, "{tag}");
        assert_eq!(tag["index"].as_u64(), shard[..1].parse::<u64>().ok());
        assert!(tag["host"].as_str().is_some_and(|h| !h.is_empty()));
        for t in report["load"]["targets"].as_array().expect("targets") {
            // 50 arrivals per target in all: 25 each, remainders included.
            assert_eq!(t["intended"], 25, "{t}");
            assert_eq!(t["totals"]["requests"], 25, "{t}");
            total += t["totals"]["requests"].as_u64().unwrap_or(0);
        }
    }
    assert_eq!(
        total, 100,
        "the shards add up to the unsharded run's 2 × 50"
    );
    // Check passes (2 per shard) and the load: exactly what the lab answered.
    assert_eq!(lab.counters.responses.load(Ordering::Relaxed), 4 + 100);
}
