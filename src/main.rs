//! The `gantry` binary: parse the command line and run it on a tokio runtime.

use clap::Parser;

fn main() {
    // Panics still get color-eyre's report (and, with the console, a restored terminal);
    // user errors are printed by the CLI as one or two lines.
    if let Err(e) = color_eyre::install() {
        eprintln!("gantry: cannot install the error reporter: {e}");
    }
    // A shell asking for completions is answered before the command line is parsed.
    gantry::cli::complete::answer_shell_if_asked();
    let cli = gantry::cli::Cli::parse();
    start_log();
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

/// Logs go to `gantry.log` under the state directory, never to the screen (the console
/// owns it). `GANTRY_LOG` sets the level (error, warn, info, debug, trace; default info).
/// A log that cannot be opened is not worth failing a promotion for.
fn start_log() {
    let dir = gantry::engine::lock::state_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gantry.log"))
    else {
        return;
    };
    let level = std::env::var("GANTRY_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
}
