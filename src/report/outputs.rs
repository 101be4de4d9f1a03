//! Where a run's files go, checked before the first request is sent.
//!
//! A run against production must not learn at its end that it cannot write
//! what it measured. [`prepare`] picks the run directory and proves it and
//! the `--junit` file writable before the run starts:
//!
//! - `--out DIR` is created if missing; a DIR under a regular file, or one
//!   that cannot be written, is an error now, not after the load;
//! - a DIR that already holds a `report.json` is refused unless `--force`:
//!   a run's evidence is never overwritten silently;
//! - without `--out`, the directory is `reports/<scenario>-<UTC second>`, and
//!   a second run in the same second gets `-2`, `-3`, … rather than sharing it;
//! - `--junit FILE` must not be a directory, and its directory must be
//!   writable;
//! - `cutover report` and `cutover compare` render into an existing run's
//!   directory or `--out DIR` ([`prepare_render`]): the directory must be
//!   writable; re-rendered files replace the old renderings, report.json is
//!   never touched.

use std::path::{Path, PathBuf};

/// The checked places a run writes to.
#[derive(Clone, Debug)]
pub struct Outputs {
    pub dir: PathBuf,
    pub junit: Option<PathBuf>,
}

/// Why the outputs cannot be used; each a sentence with advice.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot use `{}` as the report directory: {why}", path.display())]
    Dir { path: PathBuf, why: String },
    #[error("`{}` already holds a run's report.json: choose another --out, or pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write the JUnit file `{}`: {why}", path.display())]
    Junit { path: PathBuf, why: String },
}

/// Picks and checks the run directory and the JUnit file.
pub fn prepare(
    out: Option<&Path>,
    junit: Option<&Path>,
    scenario: &str,
    started: std::time::SystemTime,
    force: bool,
) -> Result<Outputs, OutputError> {
    let dir = match out {
        Some(d) => {
            if d.join("report.json").exists() && !force {
                return Err(OutputError::Exists {
                    path: d.to_path_buf(),
                });
            }
            d.to_path_buf()
        }
        None => fresh_dir(&super::run_dir(Path::new("reports"), scenario, started)),
    };
    writable_dir(&dir).map_err(|why| OutputError::Dir {
        path: dir.clone(),
        why,
    })?;
    if let Some(j) = junit {
        if j.is_dir() {
            return Err(OutputError::Junit {
                path: j.to_path_buf(),
                why: "it is a directory; give a file name, like reports/junit.xml".into(),
            });
        }
        let parent = j
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        writable_dir(parent).map_err(|why| OutputError::Junit {
            path: j.to_path_buf(),
            why,
        })?;
    }
    Ok(Outputs {
        dir,
        junit: junit.map(Path::to_path_buf),
    })
}

/// Checks (and creates) the directory `cutover report` and `cutover compare`
/// render into.
pub fn prepare_render(dir: &Path) -> Result<PathBuf, OutputError> {
    writable_dir(dir).map_err(|why| OutputError::Dir {
        path: dir.to_path_buf(),
        why,
    })?;
    Ok(dir.to_path_buf())
}

/// `base`, or `base-2`, `base-3`, … whichever does not exist yet.
fn fresh_dir(base: &Path) -> PathBuf {
    if !base.exists() {
        return base.to_path_buf();
    }
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (2..)
        .map(|i| base.with_file_name(format!("{name}-{i}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.to_path_buf())
}

/// Creates `dir` if needed and proves a file can be written in it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    if let Some(file) = dir.ancestors().find(|a| a.is_file()) {
        return Err(format!("`{}` is a file, not a directory", file.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("it cannot be created ({e})"))?;
    let probe = dir.join(format!(".cutover-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("a file cannot be written there ({e})"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_under_a_file_is_refused_before_the_run() {
        let t = tempfile::tempdir().expect("tempdir");
        let file = t.path().join("plain");
        std::fs::write(&file, "x").expect("write");
        let err = prepare(
            Some(&file.join("out")),
            None,
            "s",
            std::time::SystemTime::now(),
            false,
        )
        .expect_err("refused");
        assert!(
            err.to_string().contains("is a file, not a directory"),
            "{err}"
        );
    }

    #[test]
    fn an_existing_report_is_not_overwritten_without_force() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::write(t.path().join("report.json"), "{}").expect("write");
        let now = std::time::SystemTime::now();
        let err = prepare(Some(t.path()), None, "s", now, false).expect_err("refused");
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(prepare(Some(t.path()), None, "s", now, true).is_ok());
    }

    #[test]
    fn a_second_run_in_the_same_second_gets_its_own_directory() {
        let t = tempfile::tempdir().expect("tempdir");
        let base = t.path().join("shop-20260101T000000Z");
        std::fs::create_dir_all(&base).expect("mkdir");
        assert_eq!(fresh_dir(&base), t.path().join("shop-20260101T000000Z-2"));
    }

    #[test]
    fn a_junit_path_that_is_a_directory_is_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let err = prepare(
            Some(&t.path().join("out")),
            Some(t.path()),
            "s",
            std::time::SystemTime::now(),
            false,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
