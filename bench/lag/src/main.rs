//! `skirmish-lag`: a loopback delay proxy, for measuring the transports
//! under latency where the kernel has no `netem` (this machine's has none).
//! Each byte or datagram is held for `--delay-ms` plus a uniform jitter of
//! up to `--jitter-ms` in each direction. A TCP stream keeps its order (a
//! chunk never leaves before the one read before it); datagrams may be
//! reordered by the jitter, as on a network, and `--udp-loss-pct` of them
//! dropped each way. Loss on TCP is not made here but by the kernel
//! (`bench/loss.sh` drops packets with iptables in a network namespace), so
//! TCP recovers from it as it really does.
//!
//! ```text
//! skirmish-lag --tcp 127.0.0.1:9000=127.0.0.1:8080 --udp 127.0.0.1:9001=127.0.0.1:8080 \
//!   --delay-ms 25 --jitter-ms 5
//! ```

use anyhow::Context;
use clap::Parser;
use skirmish_lag::{Lag, tcp_proxy, udp_proxy};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

#[derive(Debug, Parser)]
#[command(name = "skirmish-lag", about)]
struct Args {
    /// `LISTEN=TARGET`: accept TCP on LISTEN and forward to TARGET.
    #[arg(long, value_parser = pair)]
    tcp: Vec<(SocketAddr, SocketAddr)>,
    /// `LISTEN=TARGET`: forward UDP from LISTEN to TARGET and back.
    #[arg(long, value_parser = pair)]
    udp: Vec<(SocketAddr, SocketAddr)>,
    /// Delay each way, in milliseconds.
    #[arg(long, default_value_t = 25.0)]
    delay_ms: f64,
    /// Up to this much more each way, uniformly, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// The share of UDP datagrams dropped each way, in percent.
    #[arg(long, default_value_t = 0.0)]
    udp_loss_pct: f64,
}

fn pair(text: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let (listen, target) = text.split_once('=').ok_or("expected LISTEN=TARGET")?;
    let parse = |s: &str| s.parse::<SocketAddr>().map_err(|e| format!("{s}: {e}"));
    Ok((parse(listen)?, parse(target)?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.delay_ms >= 0.0 && args.jitter_ms >= 0.0,
        "delays are not negative"
    );
    anyhow::ensure!(
        (0.0..=100.0).contains(&args.udp_loss_pct),
        "--udp-loss-pct is a percentage"
    );
    let lag = Lag {
        delay: Duration::from_secs_f64(args.delay_ms / 1000.0),
        jitter: Duration::from_secs_f64(args.jitter_ms / 1000.0),
        loss: args.udp_loss_pct / 100.0,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (listen, target) in args.tcp {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding TCP {listen}"))?;
        tasks.spawn(tcp_proxy(listener, target, lag));
    }
    for (listen, target) in args.udp {
        let socket = UdpSocket::bind(listen)
            .await
            .with_context(|| format!("binding UDP {listen}"))?;
        tasks.spawn(udp_proxy(Arc::new(socket), target, lag));
    }
    println!("ready");
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
