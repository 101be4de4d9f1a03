//! Reports: the model, its redaction, and the renderers that read it.
//!
//! `model.rs` is the one serde model; `markdown.rs`, `junit.rs` and
//! `terminal.rs` render it; [`write_all`] writes `report.json`, `summary.md`
//! and `junit.xml` into a run's directory. Before anything is written the
//! model is passed through [`redact`], so no secret value of the scenario can
//! reach a file.

pub mod junit;
pub mod markdown;
pub mod model;
pub mod terminal;

use std::path::{Path, PathBuf};

pub use model::{Report, RunStatus, Verdict};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report file `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize the report: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Replaces every occurrence of a secret in every string of the report.
pub fn redact(report: &Report, secrets: &[String]) -> Result<Report, ReportError> {
    let mut value = serde_json::to_value(report)?;
    let mut secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so a token inside a longer secret is replaced as part of it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    scrub(&mut value, &secrets);
    Ok(serde_json::from_value(value)?)
}

fn scrub(v: &mut serde_json::Value, secrets: &[&str]) {
    match v {
        serde_json::Value::String(s) => {
            for secret in secrets {
                if s.contains(secret) {
                    *s = s.replace(secret, "[redacted]");
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| scrub(i, secrets)),
        _ => {}
    }
}

/// The directory a run writes to: `<base>/<scenario-slug>-<UTC timestamp>`.
pub fn run_dir(base: &Path, scenario: &str, started: std::time::SystemTime) -> PathBuf {
    let slug: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let stamp = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(['-', ':'], "");
    base.join(format!(
        "{}-{stamp}",
        if slug.is_empty() { "scenario" } else { &slug }
    ))
}

/// Writes report.json, summary.md and junit.xml (already redacted) into `dir`.
pub fn write_all(report: &Report, dir: &Path) -> Result<(), ReportError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| ReportError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    write("report.json", &json)?;
    write("summary.md", markdown::render(report).as_bytes())?;
    write("junit.xml", junit::render(report).as_bytes())?;
    Ok(())
}

/// Writes only the JUnit file to `path` (for `--junit`).
pub fn write_junit(report: &Report, path: &Path) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, junit::render(report)).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_is_a_slug_and_a_compact_utc_stamp() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let d = run_dir(Path::new("reports"), "Shop cutover!", t);
        assert_eq!(d, Path::new("reports/shop-cutover-20231114T221320Z"));
    }
}
