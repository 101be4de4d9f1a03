//! Scenario files: YAML in, a validated [`Plan`] or every error out.
//!
//! `yaml.rs` parses with locations and collects deserialization errors,
//! `model.rs` is the raw shape of the file, `units.rs` parses durations, rates
//! and sizes, `plan/` validates and resolves (one file per section). Errors
//! print as `file:line:col: message`, sorted by position, all of them at once.

pub mod model;
pub mod plan;
pub mod units;
pub mod yaml;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use plan::{Check, Plan, ProbeSpec};
pub use yaml::{Diagnostic, Loc};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(path, diagnostics))]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

fn render(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}:{}: {}", path.display(), d.loc, d.message));
    }
    out
}

impl ScenarioError {
    /// How many problems were found.
    pub fn count(&self) -> usize {
        match self {
            ScenarioError::Read { .. } => 1,
            ScenarioError::Invalid { diagnostics, .. } => diagnostics.len(),
        }
    }
}

/// Loads and validates a scenario file, reading `${NAME}` from the process environment.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, &|name| std::env::var(name).ok())
}

/// Validates scenario text as if read from `path` (used for relative file paths and messages).
pub fn load_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    let invalid = |mut diagnostics: Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| d.loc);
        diagnostics.dedup();
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        }
    };
    let root = yaml::parse(text).map_err(|d| invalid(vec![d]))?;
    let sink = yaml::Sink::new(env);
    let sha256 = crate::probe::http::hex(&Sha256::digest(text.as_bytes()));
    let raw: Option<model::RawScenario> = yaml::from_node(&root, &sink);
    let plan = raw.and_then(|raw| plan::build(raw, Loc { line: 1, col: 1 }, path, sha256, &sink));
    let errors = sink.errors.into_inner();
    match plan {
        Some(plan) if errors.is_empty() => Ok(plan),
        _ => Err(invalid(errors)),
    }
}
