//! Reading a saved `report.json` back, of this schema version or the one before.
//!
//! Version 2 (this one) is read as it is. Version 1 (before the one-verdict
//! change) is read with a small model of what differs and converted:
//!
//! - a finding's `severity` (`error`, `warning`, `info`) becomes its level
//!   (`fail`, `warn`, `info`); its free-text `kind` becomes the typed kind of
//!   the same name (a name version 2 does not know becomes `expectation`, its
//!   old name kept at the front of the message); an empty `check` is a
//!   run-wide finding;
//! - a result's free-form `details` are kept when they read as version 2's
//!   typed details, dropped otherwise;
//! - a load count's `failed`, absent in version 1, is what version 1 counted
//!   as failed: transport errors and 5xx answers.
//!
//! The verdicts, checks, targets, load series and histograms are the same in
//! both versions and are taken over unchanged. Anything else is refused with
//! a message naming the version found and the versions read.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::model::{Details, Finding, FindingKind, Level, Report, SCHEMA_VERSION};
use super::ReportError;

/// The previous schema version, which [`read`] converts.
pub const PREVIOUS_VERSION: u32 = 1;

/// Reads a saved report, converting a version-1 report to this version.
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses a saved report's text (`path` names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<Report, ReportError> {
    let not_a_report = |why: String| ReportError::NotAReport {
        path: path.to_path_buf(),
        why,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| not_a_report(format!("it is not JSON ({e})")))?;
    let version = value
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| not_a_report("it has no `schema_version`".into()))?;
    let value = match version {
        v if v == u64::from(SCHEMA_VERSION) => value,
        v if v == u64::from(PREVIOUS_VERSION) => from_v1(value).map_err(not_a_report)?,
        found => {
            return Err(ReportError::Unsupported {
                path: path.to_path_buf(),
                found,
            })
        }
    };
    serde_json::from_value(value).map_err(|e| not_a_report(e.to_string()))
}

/// A version-1 finding.
#[derive(Deserialize)]
struct FindingV1 {
    kind: String,
    severity: SeverityV1,
    #[serde(default)]
    check: String,
    target: Option<String>,
    message: String,
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SeverityV1 {
    Error,
    Warning,
    Info,
}

impl From<FindingV1> for Finding {
    fn from(f: FindingV1) -> Finding {
        let level = match f.severity {
            SeverityV1::Error => Level::Fail,
            SeverityV1::Warning => Level::Warn,
            SeverityV1::Info => Level::Info,
        };
        let (kind, message) = match FindingKind::parse(&f.kind) {
            Some(k) => (k, f.message),
            None => (
                FindingKind::Expectation,
                format!("({} in a version-1 report) {}", f.kind, f.message),
            ),
        };
        let check = Some(f.check.as_str()).filter(|c| !c.is_empty());
        let mut out = Finding::new(kind, level, check, f.target.as_deref(), message);
        out.hint = f.hint;
        out
    }
}

/// A version-1 report as version-2 JSON.
fn from_v1(mut v: Value) -> Result<Value, String> {
    v["schema_version"] = Value::from(SCHEMA_VERSION);
    let findings = v
        .get_mut("findings")
        .map(Value::take)
        .unwrap_or(Value::Array(Vec::new()));
    let findings: Vec<FindingV1> = serde_json::from_value(findings)
        .map_err(|e| format!("its version-1 findings cannot be read ({e})"))?;
    let findings: Vec<Finding> = findings.into_iter().map(Finding::from).collect();
    v["findings"] = serde_json::to_value(findings).map_err(|e| e.to_string())?;
    if let Some(checks) = v.get_mut("checks").and_then(Value::as_array_mut) {
        for c in checks {
            if let Some(results) = c.get_mut("results").and_then(Value::as_array_mut) {
                for r in results {
                    let typed = r
                        .get("details")
                        .cloned()
                        .filter(|d| !d.is_null())
                        .and_then(|d| serde_json::from_value::<Details>(d).ok());
                    r["details"] = match typed {
                        Some(d) => serde_json::to_value(d).map_err(|e| e.to_string())?,
                        None => Value::Null,
                    };
                }
            }
        }
    }
    if let Some(targets) = v
        .get_mut("load")
        .and_then(|l| l.get_mut("targets"))
        .and_then(Value::as_array_mut)
    {
        for t in targets {
            v1_failed(t.get_mut("totals"));
            if let Some(checks) = t.get_mut("checks").and_then(Value::as_array_mut) {
                for c in checks {
                    v1_failed(c.get_mut("totals"));
                    if let Some(series) = c.get_mut("series").and_then(Value::as_array_mut) {
                        for s in series {
                            v1_failed(Some(s));
                        }
                    }
                }
            }
        }
    }
    Ok(v)
}

/// Version 1 counted transport errors and 5xx answers as failed.
fn v1_failed(stats: Option<&mut Value>) {
    let Some(stats) = stats.and_then(Value::as_object_mut) else {
        return;
    };
    if stats.contains_key("failed") {
        return;
    }
    let errors = stats.get("errors").and_then(Value::as_u64).unwrap_or(0);
    let five: u64 = stats
        .get("statuses")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with('5'))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0);
    stats.insert("failed".into(), Value::from(errors + five));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_version_is_refused_naming_both_versions() {
        let err = parse(r#"{"schema_version": 9}"#, Path::new("r.json")).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("version 9"), "{msg}");
        assert!(msg.contains("versions 1 and 2"), "{msg}");
    }

    #[test]
    fn a_v1_finding_keeps_its_meaning() {
        let f: Finding = serde_json::from_value::<FindingV1>(serde_json::json!({
            "kind": "made_up", "severity": "error", "check": "", "target": null,
            "message": "m", "hint": "h"
        }))
        .expect("reads")
        .into();
        assert_eq!(f.level, Level::Fail);
        assert_eq!(f.kind, FindingKind::Expectation);
        assert_eq!(f.check, None);
        assert!(f.message.contains("made_up"), "{}", f.message);
    }
}
