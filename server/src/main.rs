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
    let running = match ferry_server::start(config).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("ferry-server: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The one line on stdout, for scripts; logs go to stderr.
    println!("{}", running.announcement());
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
