//! TLS: a node with a certificate serves HTTPS and WSS on its one port;
//! bots log in and play a match over them; a renewed certificate is served
//! to new connections without a restart while the connections already open
//! play on; files that do not load leave the served certificate in place.
//! The WebTransport endpoint, serving the same files, reloads them alike.
//! (Chromium over HTTPS is in `browser.rs`.)

use skirmish_client_sim::swarm::{BehaviorChoice, SwarmConfig, run_swarm};
use skirmish_client_sim::{Incoming, tls};
use skirmish_shared::proto::{ClientMsg, ServerMsg};
use skirmish_tests::tls::TestCa;
use skirmish_tests::{Player, TestNode, http, test_config, wt_config};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

async fn tls_node(
    ca: &TestCa,
    name: &str,
) -> (TestNode, Vec<u8>, (std::path::PathBuf, std::path::PathBuf)) {
    tls_node_with(ca, name, test_config()).await
}

async fn tls_node_with(
    ca: &TestCa,
    name: &str,
    mut config: skirmish_server::Config,
) -> (TestNode, Vec<u8>, (std::path::PathBuf, std::path::PathBuf)) {
    tls::trust_pem(&ca.root).expect("trust the test CA");
    let (cert, key, der) = ca.issue(name);
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key.clone());
    config.match_seconds = Some(5);
    (TestNode::start(config).await, der, (cert, key))
}

/// The certificate a fresh TLS handshake with `addr` is shown.
async fn presented(addr: SocketAddr) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let stream = tokio_rustls::TlsConnector::from(tls::client_config())
        .connect(name, tcp)
        .await
        .expect("a TLS handshake");
    let (_, session) = stream.get_ref();
    session.peer_certificates().expect("a certificate")[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_log_in_and_play_over_https_and_wss() {
    let ca = TestCa::new();
    let (node, _, _) = tls_node(&ca, "node").await;
    assert!(node.url().starts_with("https://"), "{}", node.url());
    let health = http()
        .get(format!("{}/healthz", node.url()))
        .send()
        .await
        .expect("GET /healthz over HTTPS");
    assert_eq!(health.status().as_u16(), 200);
    // Plain HTTP on the TLS port gets no answer.
    let plain = http()
        .get(format!("http://{}/healthz", node.addr))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    let report = run_swarm(SwarmConfig {
        urls: vec![node.url()],
        bots: 4,
        ramp_per_s: 20.0,
        duration: Duration::from_secs(12),
        seed: 3,
        behavior: BehaviorChoice::Mixed,
        chat_every: None,
        queue: None,
        progress: false,
        transport: Default::default(),
        finish_matches: true,
    })
    .await;
    println!("{}", report.table());
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert!(report.matches_completed >= 4, "every bot finished a match");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let ca = TestCa::new();
    let (node, first, (cert, key)) = tls_node(&ca, "first").await;
    assert_eq!(presented(node.addr).await, first);
    let mut player = Player::connect(&node, "steady").await;

    // Renewal: new files in place of the old.
    let (new_cert, new_key, renewed) = ca.issue("renewed");
    replace(&new_cert, &cert);
    replace(&new_key, &key);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while presented(node.addr).await != renewed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection made before it plays on.
    assert_pongs(&mut player).await;
    let mut newcomer = Player::connect(&node, "newcomer").await;
    assert_pongs(&mut newcomer).await;

    // Files that do not load (a half-written renewal) change nothing.
    std::fs::write(&cert, "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(presented(node.addr).await, renewed);
    assert_pongs(&mut player).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_over_webtransport_too() {
    let ca = TestCa::new();
    let (node, first, (cert, key)) = tls_node_with(&ca, "first", wt_config()).await;
    let mut player = Player::connect_wt(&node, "steady").await;
    assert_eq!(player.conn.wt_certificate(), Some(first));

    let (new_cert, new_key, renewed) = ca.issue("renewed");
    replace(&new_cert, &cert);
    replace(&new_key, &key);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut newcomer = loop {
        let newcomer = Player::connect_wt(&node, "newcomer").await;
        if newcomer.conn.wt_certificate().as_ref() == Some(&renewed) {
            break newcomer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate was never served over WebTransport"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_pongs(&mut player).await;
    assert_pongs(&mut newcomer).await;

    // Files that do not load change nothing here either.
    std::fs::write(&cert, "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = Player::connect_wt(&node, "late").await;
    assert_eq!(late.conn.wt_certificate(), Some(renewed));
    assert_pongs(&mut player).await;
    node.stop().await;
}

/// Copies `from` over `to` in one rename, as a renewal tool does.
fn replace(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).expect("copy");
    std::fs::rename(&staged, to).expect("rename");
}

async fn assert_pongs(player: &mut Player) {
    player
        .conn
        .send(&ClientMsg::Ping { client_time: 1.0 })
        .await
        .expect("send ping");
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Pong { .. }) => Some(()),
            _ => None,
        })
        .await;
}
