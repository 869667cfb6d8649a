//! The README's play command: `scripts/play.sh` builds the browser client
//! and starts a node that serves the game. It runs with
//! `SKIRMISH_PROFILE=dev` (an unoptimised build; `scripts/test.sh` builds
//! it first), on a free port and a data directory of its own.

use skirmish_tests::{TempDir, repo_dir};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What the node logs when it listens: `... listening addr=127.0.0.1:PORT ...`,
/// with or without terminal colours.
fn listen_addr(line: &str) -> Option<std::net::SocketAddr> {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence runs to its final letter.
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            plain.push(c);
        }
    }
    let rest = &plain[plain.find("listening")?..];
    let addr = rest.split("addr=").nth(1)?;
    let addr: String = addr
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse().ok()
}

/// Signals every process of the group (cargo and the node it started).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_sh_starts_a_node_that_serves_the_game() {
    let data = TempDir::new("play-sh");
    let mut child = tokio::process::Command::new(repo_dir().join("scripts/play.sh"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data.path())
        .env("SKIRMISH_PROFILE", "dev")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start scripts/play.sh");
    let pgid = child.id().expect("a running child");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let stderr = child.stderr.take().expect("stderr");
    // Kept for the failure message.
    let errors = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut kept = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            kept.push(line);
        }
        kept
    });

    // A build from scratch takes minutes; scripts/test.sh builds first.
    let addr = tokio::time::timeout(Duration::from_secs(240), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(addr) = listen_addr(&line) {
                return Some(addr);
            }
        }
        None
    })
    .await;
    let Ok(Some(addr)) = addr else {
        signal_group(pgid, "-KILL");
        let errors = errors.await.unwrap_or_default();
        panic!(
            "play.sh never said where it listens: {addr:?}\n{}",
            errors.join("\n")
        );
    };

    let base = format!("http://{addr}");
    let page = skirmish_tests::http()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text().await.expect("text").contains("<canvas"),
        "the game's page"
    );
    let app = skirmish_tests::http()
        .get(format!("{base}/dist/app.js"))
        .send()
        .await
        .expect("GET /dist/app.js");
    assert_eq!(app.status().as_u16(), 200, "the client bundle is built");
    assert!(app.text().await.expect("text").contains("__skirmish"));
    let health: serde_json::Value = skirmish_tests::http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("GET /healthz")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["redis"], "not_configured", "a node alone");

    // Ctrl-C, as a player would stop it.
    signal_group(pgid, "-INT");
    let stopped = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
    if !matches!(stopped, Ok(Ok(_))) {
        signal_group(pgid, "-KILL");
        panic!("play.sh did not stop on Ctrl-C: {stopped:?}");
    }
}

#[test]
fn the_listen_line_is_read_with_or_without_colours() {
    let plain =
        "2026-12-07T05:00:00Z  INFO skirmish_server: listening addr=127.0.0.1:41234 tick_rate=30";
    assert_eq!(
        listen_addr(plain),
        Some("127.0.0.1:41234".parse().expect("addr"))
    );
    let coloured = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:8080";
    assert_eq!(
        listen_addr(coloured),
        Some("127.0.0.1:8080".parse().expect("addr"))
    );
    assert_eq!(listen_addr("listening soon"), None);
}
