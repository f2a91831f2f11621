//! Writing results to stdout (`say!`, `sayln!`): the one place commands print their results,
//! so that a closed stdout ends the program quietly. The text itself is made in `output`.

/// Writes results to stdout. A closed stdout (`pgha list | head -1`) ends the program quietly,
/// as other command-line tools do; SIGPIPE stays ignored so a closed socket is only an error.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `print!` to stdout through `write_stdout`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::stdout::write_stdout(&format!($($arg)*)) };
}

/// `println!` to stdout through `write_stdout`.
#[macro_export]
macro_rules! sayln {
    () => { $crate::stdout::write_stdout("\n") };
    ($($arg:tt)*) => { $crate::stdout::write_stdout(&format!("{}\n", format!($($arg)*))) };
}
