//! The `aedgate` command: see `aedgate --help`.

fn main() -> std::process::ExitCode {
    aedgate::cli::main()
}
