//! The HTTP surface and the WebSocket's limits over real sockets: sessions,
//! token checks and refusals before the upgrade, health and metrics, the
//! static client, and the closes for an idle or a non-reading client.

use futures_util::{SinkExt, StreamExt};
use skirmish_client_sim::{Connection, Incoming};
use skirmish_server::auth::{Claims, SessionKeys};
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ClientMsg, PlayerId, ServerMsg, close};
use skirmish_tests::{Player, TestNode, repo_dir, room_with_history, test_config};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn post_session(node: &TestNode, body: &str) -> (u16, serde_json::Value) {
    let response = skirmish_tests::http()
        .post(format!("{}/api/session", node.url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    (
        response.status().as_u16(),
        response.json().await.expect("a JSON body"),
    )
}

/// Attempts an upgrade and returns the refusal's status and error code.
async fn refused_upgrade(node: &TestNode, token: Option<&str>) -> (u16, String) {
    match upgrade(node, token, &[]).await {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(refusal) => refusal,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Attempts an upgrade with these extra headers (`x-forwarded-for`, as if
/// through a proxy; `origin`, as from a page); the socket, or the refusal's
/// status and error code.
async fn upgrade(
    node: &TestNode,
    token: Option<&str>,
    headers: &[(&'static str, &str)],
) -> Result<Socket, (u16, String)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = match token {
        Some(token) => format!("ws://{}/ws?token={token}", node.addr),
        None => format!("ws://{}/ws", node.addr),
    };
    let mut request = url.into_client_request().expect("a request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("a header value"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON body");
            Err((
                response.status().as_u16(),
                body["error"].as_str().unwrap_or_default().to_owned(),
            ))
        }
        Err(e) => panic!("unexpected failure: {e}"),
    }
}

#[tokio::test]
async fn sessions_validate_the_display_name() {
    let node = TestNode::start(test_config()).await;
    let (status, body) = post_session(&node, r#"{"name": "  Ada  "}"#).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Ada");
    assert_eq!(body["player_id"].as_str().map(str::len), Some(16));
    assert!(body["token"].as_str().is_some_and(|t| t.starts_with("v1.")));

    for (name, _why) in [
        ("", "empty"),
        ("a-name-that-is-far-too-long", "long"),
        ("<script>", "characters"),
    ] {
        let (status, body) =
            post_session(&node, &serde_json::json!({ "name": name }).to_string()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_name")),
            "{name:?}: {body}"
        );
    }
    let (status, body) = post_session(&node, "not json").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    node.stop().await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_refused_before_the_upgrade() {
    let mut config = test_config();
    config.session_secret = Some("the node's secret".into());
    let node = TestNode::start(config).await;

    assert_eq!(
        refused_upgrade(&node, None).await,
        (401, "missing_token".into())
    );
    assert_eq!(
        refused_upgrade(&node, Some("v1.garbage.token")).await,
        (401, "invalid_token".into())
    );

    let claims = Claims {
        player_id: PlayerId(7),
        name: "Mallory".into(),
        expires_at: u64::MAX,
    };
    let forged = SessionKeys::new(Some("a guessed secret"), Duration::from_secs(60)).sign(&claims);
    assert_eq!(
        refused_upgrade(&node, Some(&forged)).await,
        (401, "invalid_token".into())
    );

    let keys = SessionKeys::new(Some("the node's secret"), Duration::from_secs(60));
    let expired = keys.sign(&Claims {
        expires_at: 1_000,
        ..claims.clone()
    });
    assert_eq!(
        refused_upgrade(&node, Some(&expired)).await,
        (401, "expired_token".into())
    );
    // The same key with a future expiry is accepted: the checks above are
    // about the token, not the test's key.
    let valid = keys.sign(&claims);
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws?token={valid}", node.addr))
        .await
        .expect("accepted");
    drop(ws);
    node.stop().await;
}

/// `GET /healthz` as JSON.
async fn health(node: &TestNode) -> serde_json::Value {
    skirmish_tests::http()
        .get(format!("{}/healthz", node.url()))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json")
}

/// Every field PROTOCOL.md lists for `/healthz`, with the figures a single
/// node with one player in a match reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_every_documented_field() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "ada").await;
    player.play().await;
    let health = health(&node).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["node_id"], node.node().node_id.as_str());
    assert!(health["uptime_s"].as_u64().is_some(), "{health}");
    assert_eq!(health["tick_rate"], 30);
    assert_eq!(health["connections"], 1);
    assert_eq!(health["matches"], 1);
    assert_eq!(health["players_in_matches"], 1);
    assert_eq!(health["redis"], "not_configured");
    assert_eq!(health["bus"], "local");
    assert_eq!(
        health["outbox"],
        serde_json::json!({"pending": 0, "oldest_age_s": null, "retrying": false})
    );
    let page = skirmish_tests::http()
        .get(node.url())
        .send()
        .await
        .expect("index");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text().await.expect("text").contains("<canvas"),
        "the browser client's page"
    );
    node.stop().await;
}

/// Names in `bench/load.sh`'s text between `open` and `close` (such as
/// `delta('` and `')`), so that this test follows the script.
fn names_in_load_sh(open: &str, close: &str) -> Vec<String> {
    let script = std::fs::read_to_string(repo_dir().join("bench/load.sh")).expect("bench/load.sh");
    script
        .split(open)
        .skip(1)
        .filter_map(|rest| rest.split_once(close).map(|(name, _)| name.to_owned()))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

/// Regression: `/metrics` was checked for a 200 only, so a renamed metric
/// would have turned `bench/load.sh`'s figures into zeros unseen. Every
/// metric and `/healthz` field the script reads is exported once a match
/// has run, and the histograms have the bucket bounds it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_hold_every_figure_the_load_benchmark_reads() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "ada").await;
    player.play().await;
    // A few ticks and snapshots.
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { tick, .. }) if *tick >= 10 => Some(()),
            _ => None,
        })
        .await;
    let response = skirmish_tests::http()
        .get(format!("{}/metrics", node.url()))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("text");
    let mut values: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (key, value) = line.rsplit_once(' ').expect("name value");
        values.insert(key, value.parse().expect("a number"));
    }

    let counters = names_in_load_sh("delta('", "')");
    let histograms = names_in_load_sh("buckets('", "')");
    assert!(
        counters.len() >= 6 && histograms.len() >= 2,
        "the script's reads were found: {counters:?} {histograms:?}"
    );
    for name in &counters {
        assert!(values.contains_key(name.as_str()), "{name} is not exported");
    }
    assert!(values["skirmish_ticks_total"] >= 10.0);
    assert!(values["skirmish_snapshots_total"] >= 10.0);
    assert!(values["skirmish_bytes_sent_total"] > 0.0);
    for name in &histograms {
        for le in ["0.005", "+Inf"] {
            let bucket = format!("{name}_bucket{{le=\"{le}\"}}");
            assert!(
                values.contains_key(bucket.as_str()),
                "{bucket} is not exported (load.sh reads ticks over 5 ms from it)"
            );
        }
    }
    let health = health(&node).await;
    for field in names_in_load_sh(".*\"", "\":") {
        assert!(
            health[field.as_str()].as_u64().is_some(),
            "/healthz has no `{field}`: {health}"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn a_token_can_be_checked_before_connecting() {
    let node = TestNode::start(test_config()).await;
    let (_, body) = post_session(&node, r#"{"name": "Ada"}"#).await;
    let token = body["token"].as_str().expect("token");
    let check = |token: String| {
        let url = format!("{}/api/session?token={token}", node.url());
        async move {
            let response = skirmish_tests::http()
                .get(url)
                .send()
                .await
                .expect("request");
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let (status, body) = check(token.to_owned()).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Ada")));
    let (status, body) = check("v1.nope.nope".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    node.stop().await;
}

/// Every REST error is JSON of the documented shape, the ones axum would
/// answer itself included (regression: an oversized `POST /api/session` got
/// axum's plain-text 413, a wrong method a bare 405, an unreadable path
/// parameter a plain 400, and an unknown `/api` path the client's page with
/// a 200).
#[tokio::test]
async fn every_http_error_is_a_documented_json_error() {
    let node = TestNode::start(test_config()).await;
    let http = skirmish_tests::http();
    let url = |path: &str| format!("{}{path}", node.url());
    let big_name = "x".repeat(2048);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(url("/api/session"))
                .header("content-type", "application/json")
                .body(format!(r#"{{"name": "{big_name}"}}"#)),
            413,
            "body_too_large",
        ),
        (http.delete(url("/api/session")), 405, "method_not_allowed"),
        (http.post(url("/healthz")), 405, "method_not_allowed"),
        (http.post(url("/metrics")), 405, "method_not_allowed"),
        (http.post(url("/ws")), 405, "method_not_allowed"),
        (http.put(url("/api/nodes")), 405, "method_not_allowed"),
        (
            http.post(url("/api/leaderboards")),
            405,
            "method_not_allowed",
        ),
        (
            http.delete(url("/api/leaderboards/kills")),
            405,
            "method_not_allowed",
        ),
        (
            http.get(url("/api/leaderboards/%FF%FE")),
            400,
            "bad_request",
        ),
        (
            http.get(url("/api/leaderboards/kills/players/%C3%28")),
            400,
            "bad_request",
        ),
        (http.get(url("/api/nope")), 404, "not_found"),
        (
            http.post(url("/api/leaderboards/kills/deeper/still")),
            404,
            "not_found",
        ),
        (
            http.get(url("/api/leaderboards/kills?limit=lots")),
            400,
            "invalid_query",
        ),
        (
            http.get(url("/api/leaderboards/kills?period=%FF")),
            400,
            "invalid_query",
        ),
        (
            http.get(url("/api/leaderboards/nope")),
            404,
            "unknown_board",
        ),
        (http.get(url("/api/session")), 401, "missing_token"),
        (http.get(url("/ws")), 401, "missing_token"),
    ];
    for (request, status, code) in cases {
        let request = request.build().expect("a request");
        let what = format!("{} {}", request.method(), request.url().path());
        let response = http.execute(request).await.expect("an answer");
        assert_eq!(response.status().as_u16(), status, "{what}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status == 405 {
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(!allow.is_empty(), "{what}: a 405 says what is allowed");
        }
        assert_eq!(content_type, "application/json", "{what}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
    }
    // The browser client is still served for every other path.
    let page = http.get(url("/some/page")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    node.stop().await;
}

/// A CORS preflight for `POST /api/session` from a page at `origin`.
async fn preflight(node: &TestNode, origin: &str) -> reqwest::Response {
    skirmish_tests::http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/session", node.url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight")
}

/// A page served by one node can log in at another (the browser client does
/// after it followed a match to its host): the preflight is answered, and
/// the answers may be read from any origin.
#[tokio::test]
async fn the_api_answers_cross_origin_requests() {
    let node = TestNode::start(test_config()).await;
    let http = skirmish_tests::http();
    let origin = "http://127.0.0.1:1";
    let preflight = preflight(&node, origin).await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert_eq!(header(&preflight, "access-control-allow-origin"), origin);
    assert!(header(&preflight, "access-control-allow-methods").contains("post"));
    assert!(header(&preflight, "access-control-allow-headers").contains("content-type"));

    let login = http
        .post(format!("{}/api/session", node.url()))
        .header("origin", origin)
        .header("content-type", "application/json")
        .body(r#"{"name": "Ada"}"#)
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 200);
    assert_eq!(header(&login, "access-control-allow-origin"), origin);
    node.stop().await;
}

#[tokio::test]
async fn pages_from_origins_not_allowed_can_neither_connect_nor_read_the_api() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://play.example.com".into()];
    let node = TestNode::start(config).await;
    let token = token(&node, "Ada").await;
    let evil = [("origin", "https://evil.example")];
    assert_eq!(
        upgrade(&node, Some(&token), &evil).await.err(),
        Some((403, "origin_not_allowed".into()))
    );
    for allowed in [
        "https://play.example.com",
        "http://localhost:5173",
        &node.url(),
    ] {
        upgrade(&node, Some(&token), &[("origin", allowed)])
            .await
            .unwrap_or_else(|e| panic!("{allowed} refused: {e:?}"));
    }
    upgrade(&node, Some(&token), &[])
        .await
        .expect("no origin: not a page");

    let refused = preflight(&node, "https://evil.example").await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let allowed = preflight(&node, "https://play.example.com").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://play.example.com"
    );
    node.stop().await;
}

/// A guest token from `POST /api/session`.
async fn token(node: &TestNode, name: &str) -> String {
    let (status, body) = post_session(node, &serde_json::json!({ "name": name }).to_string()).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

/// A node whose per-address limits apply to loopback (exempt by default).
fn capped(max_connections_per_ip: usize) -> skirmish_server::Config {
    let mut config = test_config();
    config.limits.per_ip_exempt = Vec::new();
    config.limits.max_connections_per_ip = max_connections_per_ip;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_cap_of_connections_until_one_closes() {
    let node = TestNode::start(capped(3)).await;
    let many = token(&node, "many").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            upgrade(&node, Some(&many), &[])
                .await
                .expect("under the cap"),
        );
    }
    assert_eq!(
        upgrade(&node, Some(&many), &[]).await.err(),
        Some((429, "too_many_connections".into()))
    );
    // Loopback is exempt by default: the same node with the default list
    // takes them all (bots and local development connect from there).
    let exempt = TestNode::start(test_config()).await;
    let local = token(&exempt, "local").await;
    let mut local_open = Vec::new();
    for _ in 0..5 {
        local_open.push(upgrade(&exempt, Some(&local), &[]).await.expect("exempt"));
    }
    // Closing one frees its place once its session has wound down.
    open.pop().expect("one").close(None).await.expect("close");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match upgrade(&node, Some(&many), &[]).await {
            Ok(_) => break,
            Err(refusal) => {
                assert_eq!(refusal, (429, "too_many_connections".into()));
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the place was never freed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    node.stop().await;
    exempt.stop().await;
}

/// An upgrade as through a proxy that forwarded for `client`.
async fn forwarded_for(
    node: &TestNode,
    token: &str,
    client: &str,
) -> Result<Socket, (u16, String)> {
    upgrade(node, Some(token), &[("x-forwarded-for", client)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_cap() {
    let too_many = Some((429, "too_many_connections".to_owned()));
    let mut config = capped(1);
    config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a range")];
    let proxied = TestNode::start(config).await;
    let behind = token(&proxied, "behind").await;
    let _first = forwarded_for(&proxied, &behind, "203.0.113.7")
        .await
        .expect("the first from 203.0.113.7");
    assert_eq!(
        forwarded_for(&proxied, &behind, "203.0.113.7").await.err(),
        too_many
    );
    // A client cannot escape by writing the header itself: the proxy
    // appends the address it saw, and that one counts.
    let spoofed = forwarded_for(&proxied, &behind, "198.51.100.1, 203.0.113.7").await;
    assert_eq!(spoofed.err(), too_many);
    let _other = forwarded_for(&proxied, &behind, "203.0.113.8")
        .await
        .expect("another client behind the proxy");

    // Without the proxy trusted, the header is ignored: the peer counts.
    let direct = TestNode::start(capped(1)).await;
    let from_peer = token(&direct, "direct").await;
    let _one = forwarded_for(&direct, &from_peer, "203.0.113.7")
        .await
        .expect("the first");
    assert_eq!(
        forwarded_for(&direct, &from_peer, "203.0.113.9")
            .await
            .err(),
        too_many
    );
    proxied.stop().await;
    direct.stop().await;
}

#[tokio::test]
async fn one_address_creating_sessions_too_fast_is_told_when_to_retry() {
    let mut config = capped(64);
    config.limits.sessions_per_ip_burst = 3.0;
    config.limits.sessions_per_ip_per_s = 0.01;
    let node = TestNode::start(config).await;
    for i in 0..3 {
        token(&node, &format!("p{i}")).await;
    }
    let response = skirmish_tests::http()
        .post(format!("{}/api/session", node.url()))
        .header("content-type", "application/json")
        .body(r#"{"name": "p3"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "100");
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"], "too_many_sessions");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_refuses_upgrades_with_503_server_full_until_a_connection_closes() {
    let mut config = test_config();
    config.limits.max_connections = 1;
    let node = TestNode::start(config).await;
    let first = Player::connect(&node, "first").await;
    let second = token(&node, "second").await;
    assert_eq!(
        refused_upgrade(&node, Some(&second)).await,
        (503, "server_full".into())
    );
    let mut first = first;
    first.conn.close().await;
    // The permit is returned once the first session has wound down.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match Connection::connect(&node.url(), &second).await {
            Ok(conn) => {
                drop(conn);
                break;
            }
            Err(e) => {
                assert!(
                    e.to_string().contains("503") && tokio::time::Instant::now() < deadline,
                    "{e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn a_plain_request_to_the_websocket_endpoint_is_400_not_websocket() {
    let node = TestNode::start(test_config()).await;
    let token = token(&node, "ada").await;
    let response = skirmish_tests::http()
        .get(format!("{}/ws?token={token}", node.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "not_websocket", "{body}");
    node.stop().await;
}

/// The token may come in an `Authorization: Bearer` header instead of the
/// query string, for the WebSocket and for checking it.
#[tokio::test]
async fn a_bearer_header_carries_the_token() {
    let node = TestNode::start(test_config()).await;
    let token = token(&node, "ada").await;
    let mut request = format!("ws://{}/ws", node.addr)
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("accepted with the header alone");
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message in time")
        .expect("a message")
        .expect("readable");
    let Message::Binary(bytes) = first else {
        panic!("expected a binary welcome, got {first:?}")
    };
    match skirmish_shared::codec::decode_server(&bytes).expect("a message") {
        ServerMsg::Welcome { name, .. } => assert_eq!(name, "ada"),
        other => panic!("expected welcome, got {other:?}"),
    }
    let checked = skirmish_tests::http()
        .get(format!("{}/api/session", node.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(checked.status().as_u16(), 200);
    let bad = skirmish_tests::http()
        .get(format!("{}/api/session", node.url()))
        .bearer_auth("v1.not.valid")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 401);
    node.stop().await;
}

/// PROTOCOL.md section 7 over a real socket: a client that sends no frame
/// at all is closed with 4000 after the idle time, while one that only
/// reads (its WebSocket layer answering the node's pings) stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_closed_with_4000_but_pongs_keep_one_open() {
    let mut config = test_config();
    config.limits.heartbeat_s = 0.5;
    config.limits.idle_timeout_s = 1.5;
    let node = TestNode::start(config).await;

    let mut reader = Player::connect(&node, "reader").await;
    let mut mute = Player::connect(&node, "mute").await;
    // The reader reads for twice the idle time: every read answers the
    // pings that arrived, and the node keeps it. The mute one reads
    // nothing until the node has closed it (and it answered no ping), then
    // finds its close waiting.
    let (seen, mute_closed) = tokio::join!(reader.drain(Duration::from_secs(3)), async {
        tokio::time::sleep(Duration::from_millis(2200)).await;
        mute.closed_with().await
    });
    assert!(
        !seen.iter().any(|m| matches!(m, Incoming::Closed(_))),
        "a client answering pings was closed: {seen:?}"
    );
    assert_eq!(mute_closed, Some(close::IDLE_TIMEOUT));
    node.stop().await;
}

/// A client that stops reading while the node has reliable messages for it
/// (here the 50-line history of every `room_joined` it asks for) is closed
/// with 4004 once more than `outbound_queue_bytes` (128 KiB) or
/// `outbound_queue` (64 messages) wait behind its full socket: before the
/// backlog time (`slow.rs`) would close it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_with_4004() {
    let mut config = test_config();
    config.limits.messages_per_tick = 100.0;
    config.limits.extra_messages_per_s = 10_000.0;
    config.limits.chat_burst = 100.0;
    let node = TestNode::start(config).await;

    // A room with a long history: 50 lines of 200 characters.
    let _poster = room_with_history(&node, "big").await;

    let token = token(&node, "sloth").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", node.addr))
            .await
            .expect("connect");
    // Joins and leaves, each join answered with about 12 KB, without
    // reading a byte: tens of megabytes, more than the sockets hold.
    let join = encode(&ClientMsg::JoinRoom { room: "big".into() });
    let leave = encode(&ClientMsg::LeaveRoom { room: "big".into() });
    for _ in 0..2000 {
        ws.feed(Message::Binary(join.clone().into()))
            .await
            .expect("send join_room");
        ws.feed(Message::Binary(leave.clone().into()))
            .await
            .expect("send leave_room");
    }
    ws.flush().await.expect("flush");
    // Now it reads: everything the sockets held, then the close.
    let code = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the connection failed instead of closing: {e}"),
                None => return None,
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(code, Some(close::TOO_SLOW));
    node.stop().await;
}

/// The Grafana dashboard in `assets/grafana` queries only metrics a node
/// records: every `skirmish_*` name in its queries (less a histogram's
/// `_bucket`, `_count` or `_sum`) is a metric name in the server's source,
/// so renaming a metric without the dashboard fails here.
#[test]
fn the_grafana_dashboard_queries_only_metrics_the_node_records() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_dir().join("assets/grafana/skirmish-dashboard.json"))
            .expect("the dashboard"),
    )
    .expect("JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"))
        .map(|t| t["expr"].as_str().expect("an expression"))
        .collect();
    assert!(exprs.len() >= 10, "{} queries", exprs.len());
    let mut recorded = std::collections::HashSet::new();
    let mut dirs = vec![repo_dir().join("server/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("server/src") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("a source file");
                recorded.extend(metric_names(&source, "\"skirmish_"));
            }
        }
    }
    for expr in exprs {
        for name in metric_names(expr, "skirmish_") {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                recorded.contains(base),
                "the dashboard queries `{base}`, which the server does not record ({expr})"
            );
        }
    }
}

/// Every `skirmish_[a-z_]*` name in `text` after `start` (`"skirmish_` for
/// string literals in source), without the quote.
fn metric_names(text: &str, start: &str) -> Vec<String> {
    text.match_indices(start)
        .map(|(at, _)| {
            let name = &text[at + start.len() - "skirmish_".len()..];
            let end = name
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(name.len());
            name[..end].to_owned()
        })
        .collect()
}
