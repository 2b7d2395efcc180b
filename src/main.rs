//! The command line: flags → [`Config`], the logger, then the loop.
//!
//! Log records and the banner go through [`wsloop::output`]: a bounded
//! buffer drained by one writer thread, so a terminal or pipe that stops
//! reading never stalls the loop.

use std::process::ExitCode;
use std::time::Duration;

use wsloop::config::{self, Command, Config};
use wsloop::output;
use wsloop::server::Server;

/// How long the exit waits for the last lines to reach a slow terminal.
const EXIT_FLUSH: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let config: Config = match config::parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // ok: a bad flag, before the loop exists; the process exits.
            eprintln!("wsloop: {e}");
            return ExitCode::from(2);
        }
    };
    output::set_capacity(config.output_buffer);
    // The same filter (RUST_LOG, `info` by default) and line format as
    // env_logger's own stderr target; only the writing is moved off the loop.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .target(env_logger::Target::Pipe(Box::new(output::LogPipe)))
        .init();
    let code = serve(&config);
    output::flush(EXIT_FLUSH);
    code
}

fn serve(config: &Config) -> ExitCode {
    let mut server = match Server::bind(config.clone()) {
        Ok(server) => server,
        Err(e) => {
            output::error_line(format!(
                "wsloop: cannot listen on {}:{}: {e}",
                config.host, config.port
            ));
            return ExitCode::from(2);
        }
    };
    let addr = match server.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            output::error_line(format!("wsloop: {e}"));
            return ExitCode::from(2);
        }
    };
    output::console_line(format!("wsloop listening on {addr}"));
    output::console_line(format!("  page    http://{addr}/"));
    output::console_line(format!(
        "  healthz http://{addr}/healthz (node {})",
        config.node
    ));
    output::console_line(format!("  metrics http://{addr}/metrics"));
    for path in ["chat", "echo", "guest", "upload", "inspect"] {
        output::console_line(format!("  {path:<8}ws://{addr}/{path}"));
    }
    if config.operator {
        output::console_line("operator console: type /help");
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error_line(format!("wsloop: poll failed: {e}"));
            ExitCode::from(1)
        }
    }
}
