//! A node in its own process, for tests that must kill one without a
//! shutdown or signal one: `skirmish-test-node CONFIG.toml [MAP.toml]` prints
//! `listening on ADDR` once bound and serves until killed, signalled
//! (SIGTERM or SIGINT: a drain, as `skirmish-server`'s) or its stdin
//! closes (the same drain).

use skirmish_server::{Config, Server};
use std::io::Read;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: skirmish-test-node CONFIG.toml [MAP.toml]"))?;
    let config = Config::load(std::path::Path::new(&path))?;
    // The arena's map: the second argument, else the shipped one.
    let map = std::env::args()
        .nth(2)
        .map_or_else(|| config.assets.join("maps/arena.toml"), Into::into);
    let games = skirmish_tests::test_games(&config, &map);
    let server = Server::bind(config, games).await?;
    println!("listening on {}", server.local_addr());
    // A parent that exits without killing us closes our stdin. Read on a
    // thread of its own: the runtime would wait for a blocking task at exit.
    let (closed_tx, closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = closed_tx.send(());
    });
    let stdin_closed = async {
        let _ = closed.await;
    };
    let stop = async {
        tokio::select! {
            () = stdin_closed => {}
            () = skirmish_server::stop_signal() => {}
        }
    };
    server.serve(stop).await?;
    Ok(())
}
