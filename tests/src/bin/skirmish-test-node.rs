//! A node in its own process, for tests that must kill one without a
//! shutdown: `skirmish-test-node CONFIG.toml` prints `listening on ADDR`
//! once bound and serves until killed or its stdin closes.

use skirmish_server::{Config, Server};
use std::io::Read;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: skirmish-test-node CONFIG.toml"))?;
    let config = Config::load(std::path::Path::new(&path))?;
    let map = config.assets.join("maps/arena.toml");
    let games = skirmish_tests::test_games(&config, &map);
    let server = Server::bind(config, games).await?;
    println!("listening on {}", server.local_addr());
    // A parent that exits without killing us closes our stdin.
    let stdin_closed = async {
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    };
    server.serve(stdin_closed).await?;
    Ok(())
}
