//! The browser client end to end, in real headless Chromium driven by
//! playwright-core (`tests/browser/e2e.mjs`): log in, play, hold W for a
//! second and see the player move. Leaves a screenshot in
//! `target/test-artifacts/`.

use skirmish_tests::{TestNode, artifacts_dir, repo_dir, test_config};
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_logs_in_plays_and_moves() {
    let repo = repo_dir();
    assert!(
        repo.join("assets/web/dist/app.js").exists(),
        "the browser client is not built: run scripts/test.sh (or npm --prefix assets/web ci && npm --prefix assets/web run build)"
    );
    assert!(
        repo.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is not installed: run scripts/test.sh (or npm --prefix tests/browser ci)"
    );
    let mut config = test_config();
    config.match_seconds = Some(60);
    let node = TestNode::start(config).await;

    let run = tokio::process::Command::new("node")
        .arg(repo.join("tests/browser/e2e.mjs"))
        .arg("--url")
        .arg(format!("{}/", node.url()))
        .arg("--artifacts")
        .arg(artifacts_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser test finishes in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        artifacts_dir().join("e2e-playing.png").exists(),
        "a screenshot was saved"
    );
    node.stop().await;
}
