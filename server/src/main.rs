use clap::Parser;
use ferry_server::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,s3s=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    // Handlers exist before the announcement, so a script that signals as
    // soon as it reads the line still gets a graceful shutdown.
    let stop = match StopSignals::install() {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("ferry-server: cannot install signal handlers: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let running = match ferry_server::start(config).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("ferry-server: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The one line on stdout, for scripts; logs go to stderr.
    println!("{}", running.announcement());
    stop.wait().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(unix)]
struct StopSignals(tokio::signal::unix::Signal, tokio::signal::unix::Signal);

#[cfg(unix)]
impl StopSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self(
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.0.recv() => {}
            _ = self.1.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
