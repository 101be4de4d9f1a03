//! gRPC calls in the load mix (issue 18): counted per status code, a call
//! whose code is not the check's `expect.grpc_code` failed and told apart by
//! origin, and the per-code counts adding up exactly to the calls the lab
//! answered, with `grpc_upstream_down` switched on part way through.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::support::{lab, report_in, root, run_bin};

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_under_load_are_counted_per_code_with_the_failed_ones_by_origin() {
    let lab = lab().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let descriptor = root().join("src/lab/grpc/shop.pb");
    let yaml = format!(
        r#"name: grpc load
host: shop.example.test
defaults: {{ timeout: 5s }}
targets:
  ingress: {{ connect: "{}" }}
  gateway: {{ connect: "{}" }}
checks:
  - name: items
    http: {{ path: /api/items }}
  - name: item
    grpc: {{ method: cutover.lab.v1.Shop/GetItem, descriptor: "{}", request: {{ id: "1" }} }}
    expect: {{ grpc_code: OK }}
load: {{ stages: [{{ rate: 100/s, for: 3s }}], mix: {{ items: 1, item: 1 }} }}
"#,
        lab.ingress_http,
        lab.gateway_http,
        descriptor.display()
    );
    std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
    let path = dir.path().to_path_buf();
    let run =
        tokio::task::spawn_blocking(move || run_bin(&path, &["run", "s.yaml", "--out", "out"]));
    // The app's gRPC upstream goes away once the load is well under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while lab.counters.responses.load(Relaxed) < 250 {
        assert!(Instant::now() < deadline, "the load never reached the lab");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lab.switches.grpc_upstream_down.store(true, Relaxed);
    let out = run.await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = report_in(dir.path(), "out");
    let mut answered = 0;
    for (t, origin) in [("ingress", "ingress"), ("gateway", "gateway")] {
        let target = report["load"]["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|x| x["target"] == t))
            .unwrap_or_else(|| panic!("no load for {t}"));
        answered += n(&target["totals"]["requests"]);
        let item = target["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["check"] == "item"))
            .unwrap_or_else(|| panic!("no gRPC check under load for {t}"));
        let totals = &item["totals"];
        let codes = &totals["grpc_codes"];
        let (ok, unavailable) = (n(&codes["OK"]), n(&codes["UNAVAILABLE"]));
        assert_eq!(n(&totals["errors"]), 0, "{t}: {totals}");
        assert_eq!(
            ok + unavailable,
            n(&totals["requests"]),
            "{t}: every call counted by its code: {totals}"
        );
        assert!(ok > 0 && unavailable > 0, "{t}: {codes}");
        assert_eq!(n(&totals["failed"]), unavailable, "{t}: {totals}");
        // Envoy's own trailers-only UNAVAILABLE; nginx's 502 page, which
        // clients read as UNAVAILABLE.
        assert_eq!(
            n(&totals["failed_grpc_codes"]["UNAVAILABLE"][origin]),
            unavailable,
            "{t}: {totals}"
        );
        // The per-second series add up to the totals.
        let series: u64 = item["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|s| n(&s["grpc_codes"]["OK"]) + n(&s["grpc_codes"]["UNAVAILABLE"]))
            .sum();
        assert_eq!(series, ok + unavailable, "{t}");
        assert!(
            stdout.contains(&format!("item [{t}]: OK ×"))
                && stdout.contains(&format!("UNAVAILABLE ×{unavailable} {origin}")),
            "{stdout}"
        );
    }
    // Two checks on two targets in the check pass, then the load: the lab
    // answered exactly these.
    assert_eq!(lab.counters.responses.load(Relaxed), 4 + answered);
}
