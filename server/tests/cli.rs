//! The `skirmish-server` binary as an operator runs it: `--print-config`
//! shows the settings in effect from the file, the environment and the
//! flags, with secrets masked; logs written to a pipe have no terminal
//! colour codes, and `--log-format json` writes one JSON object a line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets");

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_skirmish-server"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

#[test]
fn print_config_shows_every_layer_with_secrets_masked() {
    let out = server()
        .args(["--assets", ASSETS, "--print-config", "--tick-rate", "50"])
        .env("SKIRMISH_SESSION_SECRET", "hunter2-secret")
        .env("SKIRMISH_REDIS_URL", "redis://admin:pa55word@127.0.0.1:1/")
        .env("SKIRMISH_LIMITS__MAX_MATCHES", "7")
        .env("SKIRMISH_TICK_RATE", "40")
        .env("SKIRMISH_TICKRATE", "40")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("pa55word"),
        "{stdout}"
    );
    let printed: toml::Table = toml::from_str(&stdout).expect("TOML");
    assert_eq!(printed["session_secret"].as_str(), Some("***"));
    assert_eq!(
        printed["redis_url"].as_str(),
        Some("redis://admin:***@127.0.0.1:1/")
    );
    assert_eq!(
        printed["tick_rate"].as_integer(),
        Some(50),
        "the flag over the variable"
    );
    assert_eq!(printed["limits"]["max_matches"].as_integer(), Some(7));
    assert!(
        stdout.contains("# SKIRMISH_TICKRATE: names no setting; ignored"),
        "{stdout}"
    );

    let refused = server()
        .args(["--assets", ASSETS, "--print-config"])
        .env("SKIRMISH_TICK_RATE", "5")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("SKIRMISH_TICK_RATE") && stderr.contains("tick_rate"),
        "{stderr}"
    );
}

/// A node started with `flags`, its standard output piped, and its data
/// directory (removed with it).
struct Node(Child, std::path::PathBuf);

impl Node {
    fn start(flags: &[&str]) -> Node {
        let data = std::env::temp_dir().join(format!(
            "skirmish-cli-{}-{}",
            std::process::id(),
            flags.len()
        ));
        let child = server()
            .args(["--assets", ASSETS, "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        Node(child, data)
    }

    /// Its log lines up to and including the one saying it listens.
    fn lines_until_listening(&mut self) -> Vec<String> {
        let stdout = self.0.stdout.take().expect("piped");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a line");
            let done = line.contains("listening");
            lines.push(line);
            if done {
                return lines;
            }
            assert!(Instant::now() < deadline, "no `listening` line: {lines:?}");
        }
        panic!("the node ended before it listened: {lines:?}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes_and_json_logs_are_json() {
    let text = Node::start(&[]).lines_until_listening();
    assert!(
        text.iter().all(|line| !line.contains('\u{1b}')),
        "colour codes in a piped log: {text:?}"
    );

    let json = Node::start(&["--log-format", "json"]).lines_until_listening();
    for line in &json {
        let object: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        assert!(
            object["level"].is_string() && object["fields"].is_object(),
            "{line}"
        );
    }
    let listening: serde_json::Value =
        serde_json::from_str(json.last().expect("a line")).expect("JSON");
    assert_eq!(listening["fields"]["message"], "listening");
    assert!(
        listening["fields"]["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
}
