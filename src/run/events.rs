//! Scenario events: commands run at their offsets of the load (a deploy, a
//! weight change), recorded with start, end, exit status and output.

use super::recorded::EventRecord;
use crate::scenario::plan::Plan;

/// Runs the plan's events at their offsets from `started` until `stop`.
///
/// `stretch` scales the offsets like `--duration` scales the stages.
pub async fn run_events(
    plan: &Plan,
    started: tokio::time::Instant,
    stretch: f64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<EventRecord> {
    let mut out = Vec::new();
    for e in &plan.events {
        tokio::select! {
            () = tokio::time::sleep_until(started + e.at.mul_f64(stretch)) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let at_s = started.elapsed().as_secs_f64();
        let mut record = EventRecord {
            name: e.name.clone(),
            at_s,
            end_s: None,
            exit_code: None,
            output: String::new(),
            error: None,
        };
        if let Some(cmd) = &e.run {
            let child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(e.timeout, child).await {
                Ok(Ok(o)) => {
                    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&o.stderr));
                    if text.len() > 4096 {
                        let mut cut = 4096;
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text.truncate(cut);
                        text.push('…');
                    }
                    record.output = text;
                    record.exit_code = o.status.code();
                }
                Ok(Err(err)) => record.error = Some(format!("could not run the command: {err}")),
                Err(_) => {
                    record.error = Some(format!(
                        "the command did not finish within {}",
                        humantime::format_duration(e.timeout)
                    ))
                }
            }
        }
        record.end_s = Some(started.elapsed().as_secs_f64());
        out.push(record);
    }
    out
}
