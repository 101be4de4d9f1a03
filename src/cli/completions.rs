//! `cutover completions SHELL` and `cutover man`: the shell completion
//! scripts and the man pages, generated from the clap definitions in
//! [`super::Cli`], so they cannot drift from the arguments they describe.
//!
//! Invariants:
//! - Every script and page is rendered into memory first, then written in
//!   one piece: a failed write never leaves half a script behind an exit
//!   code of 0. clap_complete panics on a write error, so it never writes
//!   to stdout itself.
//! - A closed stdout (`cutover man | head`) is not an error (exit 0), as for
//!   every other command; any other write error exits 4, "not written".
//! - Hidden commands (`lab-deploy`) are in no script and get no man page.
//!
//! Where each script goes is in the README's "Install" section.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use clap::{CommandFactory as _, Subcommand};
use clap_complete::Shell;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use super::{Cli, Exit};

/// Scripts and pages generated from the command line's own definitions,
/// for installing cutover where its users run it.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// Print the completion script for SHELL to stdout.
    ///
    /// E.g. `cutover completions bash > ~/.local/share/bash-completion/completions/cutover`;
    /// the README's Install section says where each shell looks.
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
    /// Print the man page (roff) to stdout, or write every page into a directory.
    ///
    /// `cutover man | man -l -` reads it now; `cutover man --dir
    /// ~/.local/share/man/man1` installs cutover.1 and cutover-COMMAND.1.
    Man {
        /// Write cutover.1 and cutover-COMMAND.1 for every command into this
        /// directory (created if missing) instead of printing cutover.1.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Generate {
    /// Runs the command: 0 written (or stdout closed), 4 not written.
    pub fn run(self) -> Exit {
        match self {
            Generate::Completions { shell } => to_stdout(&completion_script(shell)),
            Generate::Man { dir: None } => match man_page(&pages_root(), true) {
                Ok(page) => to_stdout(&page),
                Err(e) => not_written("the man page", &e),
            },
            Generate::Man { dir: Some(dir) } => match write_man_pages(&dir) {
                Ok(files) => {
                    for f in files {
                        super::output::say!("{}", f.display());
                    }
                    Exit::Pass
                }
                Err(e) => not_written(&format!("the man pages into {}", dir.display()), &e),
            },
        }
    }
}

/// The completion script for `shell`, for the binary named `cutover`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut cmd = without_hidden_commands(Cli::command());
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cutover", &mut script);
    script
}

/// `cmd` with only its visible subcommands: clap_complete completes hidden
/// ones too (clap-rs/clap#1335) and clap has no way to remove one, so the
/// top level is put together again from `cmd`'s own arguments and
/// subcommands, taken whole: nothing of the command line is restated here.
/// Left out are the top level's help texts, which no script shows.
fn without_hidden_commands(cmd: clap::Command) -> clap::Command {
    clap::Command::new("cutover")
        // What `#[command(version)]` gives `Cli`: `--version` stays completable.
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(cmd.is_subcommand_required_set())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// The command tree the pages describe: built, so each command knows its
/// page name (`cutover-check`), and without `help`, as
/// `clap_mangen::generate_to` does.
fn pages_root() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The page of `cmd` (roff). The top page gains an EXIT STATUS section,
/// before VERSION: the codes are what CI and scripts branch on.
fn man_page(cmd: &clap::Command, top: bool) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    Man::new(cmd.clone()).render(&mut page)?;
    if top {
        // The section without roff's apostrophe preamble, which the page has.
        let exit = exit_status_section().to_roff();
        let at = find(&page, b".SH VERSION").unwrap_or(page.len());
        page.splice(at..at, exit.into_bytes());
    }
    Ok(page)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every exit code, with what it means (see [`Exit`]).
fn exit_status_section() -> Roff {
    let codes = [
        (Exit::Pass, "the verdict passed (warnings allowed)."),
        (
            Exit::Fail,
            "a finding at level fail: a check, a threshold, a regression against the baseline.",
        ),
        (Exit::Usage, "a scenario or usage error."),
        (Exit::Aborted, "the load was stopped by the abort rule."),
        (Exit::ReportWrite, "the report files could not be written."),
        (
            Exit::Interrupted,
            "interrupted by Ctrl-C or SIGTERM (the partial report is still written).",
        ),
    ];
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([roman((code as u8).to_string())]);
        roff.text([roman(meaning)]);
    }
    roff
}

/// Writes `cutover.1` and a page per visible command into `dir`; returns
/// the files written, in the order of `cutover --help`.
fn write_man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn write(
        cmd: &clap::Command,
        top: bool,
        dir: &Path,
        written: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        let path = dir.join(Man::new(cmd.clone()).get_filename());
        std::fs::write(&path, man_page(cmd, top)?)?;
        written.push(path);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub, false, dir, written)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write(&pages_root(), true, dir, &mut written)?;
    Ok(written)
}

fn to_stdout(bytes: &[u8]) -> Exit {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Exit::Pass,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Exit::Pass,
        Err(e) => not_written("to stdout", &e),
    }
}

fn not_written(what: &str, e: &std::io::Error) -> Exit {
    eprintln!("error: cannot write {what}: {e}");
    Exit::ReportWrite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_man_page_lists_every_exit_code() {
        let page = String::from_utf8(man_page(&pages_root(), true).unwrap()).unwrap();
        let exit = page.find(".SH \"EXIT STATUS\"").expect(&page);
        let version = page.find(".SH VERSION").expect(&page);
        assert!(exit < version, "{page}");
        for code in ["0", "1", "2", "3", "4", "130"] {
            assert!(
                page[exit..version].contains(&format!(".TP\n{code}\n")),
                "{code}: {page}"
            );
        }
        // roff's apostrophe preamble once, at the top, not before each section.
        assert_eq!(page.matches(".ie \\n(.g").count(), 1, "{page}");
    }

    #[test]
    fn man_pages_are_written_for_each_visible_command_but_not_help_or_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(dir.path()).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names[0], "cutover.1");
        for page in [
            "cutover-check.1",
            "cutover-watch.1",
            "cutover-completions.1",
        ] {
            assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("help") || n.contains("lab-deploy")),
            "{names:?}"
        );
        let check = std::fs::read_to_string(dir.path().join("cutover-check.1")).unwrap();
        assert!(check.contains("junit"), "{check}");
    }

    #[test]
    fn hidden_commands_are_left_out_of_every_completion_script() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            assert!(!script.contains("lab-deploy"), "{shell}");
            // The visible commands and their flags are all still there.
            let junit = if shell == Shell::Fish {
                "-l junit"
            } else {
                "--junit"
            };
            assert!(
                script.contains("watch") && script.contains(junit),
                "{shell}"
            );
        }
    }
}
