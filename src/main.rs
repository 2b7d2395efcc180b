//! The command line: flags → [`Config`], the logger, then the loop.

use std::io::Write;
use std::process::ExitCode;

use wsloop::config::{self, Command, Config};
use wsloop::server::Server;

fn main() -> ExitCode {
    let config: Config = match config::parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wsloop: {e}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let mut server = match Server::bind(config.clone()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "wsloop: cannot listen on {}:{}: {e}",
                config.host, config.port
            );
            return ExitCode::from(2);
        }
    };
    let addr = match server.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("wsloop: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "wsloop listening on {addr}");
    let _ = writeln!(out, "  page    http://{addr}/");
    for path in ["chat", "echo", "guest", "upload", "inspect"] {
        let _ = writeln!(out, "  {path:<8}ws://{addr}/{path}");
    }
    if config.operator {
        let _ = writeln!(out, "operator console: type /help");
    }
    let _ = out.flush();
    drop(out);
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsloop: poll failed: {e}");
            ExitCode::from(1)
        }
    }
}
