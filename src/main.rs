//! `voc`: see `voc --help`.

fn main() -> std::process::ExitCode {
    voc::commands::main()
}
