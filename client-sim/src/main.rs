//! `skirmish-bots`: drives a swarm of bots against one or more nodes and
//! reports what they measured. The exit code is 0 when every service-level
//! threshold held, 2 when one broke (1 for bad arguments or I/O failures);
//! see [`skirmish_client_sim::cli`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    ExitCode::from(skirmish_client_sim::cli::run(std::env::args_os()).await)
}
