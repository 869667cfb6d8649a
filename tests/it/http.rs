//! The HTTP surface: sessions, token checks before the upgrade, health and
//! the static client.

use skirmish_server::auth::{Claims, SessionKeys};
use skirmish_shared::proto::PlayerId;
use skirmish_tests::{TestNode, test_config};
use std::time::Duration;

async fn post_session(node: &TestNode, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
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
    let url = match token {
        Some(token) => format!("ws://{}/ws?token={token}", node.addr),
        None => format!("ws://{}/ws", node.addr),
    };
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON body");
            (
                response.status().as_u16(),
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
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

#[tokio::test]
async fn health_and_the_client_page_are_served() {
    let node = TestNode::start(test_config()).await;
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", node.url()))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["tick_rate"], 30);
    let page = reqwest::get(node.url()).await.expect("index");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text().await.expect("text").contains("<canvas"),
        "the browser client's page"
    );
    let metrics = reqwest::get(format!("{}/metrics", node.url()))
        .await
        .expect("metrics");
    assert_eq!(metrics.status().as_u16(), 200);
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
            let response = reqwest::get(url).await.expect("request");
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
    let http = reqwest::Client::new();
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

/// A page served by one node can log in at another (the browser client does
/// after it followed a match to its host): the preflight is answered, and
/// the answers may be read from any origin.
#[tokio::test]
async fn the_api_answers_cross_origin_requests() {
    let node = TestNode::start(test_config()).await;
    let http = reqwest::Client::new();
    let origin = "http://127.0.0.1:1";
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/session", node.url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert_eq!(header(&preflight, "access-control-allow-origin"), "*");
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
    assert_eq!(header(&login, "access-control-allow-origin"), "*");
    node.stop().await;
}
