//! The `pgha` binary: parse the command line, run the command, print the error once, exit 0/1/2.

use clap::Parser;

fn main() {
    let cli = pgha::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(pgha::commands::run(cli)) {
        eprintln!("{}", pgha::error::render(&e));
        std::process::exit(pgha::error::exit_code(&e));
    }
}
