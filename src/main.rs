//! The `cutover` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
