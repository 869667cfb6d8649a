//! The `skirmish-bots` binary's exit codes, as a script sees them: 1 for a
//! bad argument, 2 for a broken threshold (here one with nothing measured,
//! as no node answers), 0 for help. `tests/it/bots.rs` runs the same
//! command line in-process against a real node.

use std::process::{Command, Output};

fn bots(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skirmish-bots"))
        .args(args)
        .output()
        .expect("run skirmish-bots")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_argument_exits_with_1() {
    for args in [
        &["--bots", "many"][..],
        &["--no-such-flag"],
        &["--duration", "0", "--url", "http://127.0.0.1:1"],
    ] {
        let out = bots(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?} says why");
    }
}

#[test]
fn help_exits_with_0() {
    let out = bots(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-p99-rtt-ms"));
}

/// Port 1 on loopback refuses every connection: the bots measure nothing,
/// and a latency threshold with nothing measured is broken.
#[test]
fn a_threshold_with_nothing_measured_exits_with_2() {
    let out = bots(&[
        "--url",
        "http://127.0.0.1:1",
        "--bots",
        "2",
        "--duration",
        "1",
        "--quiet",
        "--max-p99-input-ack-ms",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SLO broken: no input ack was measured"),
        "{}",
        stderr(&out)
    );
}
