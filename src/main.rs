//! The `gantry` binary: parse the command line and run it on a tokio runtime.

use clap::Parser;

fn main() {
    // Panics still get color-eyre's report (and, with the console, a restored terminal);
    // user errors are printed by the CLI as one or two lines.
    if let Err(e) = color_eyre::install() {
        eprintln!("gantry: cannot install the error reporter: {e}");
    }
    let cli = gantry::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gantry: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(gantry::cli::run(cli));
    // Background registry tasks must not keep the process alive after the answer.
    runtime.shutdown_background();
    std::process::exit(code);
}
