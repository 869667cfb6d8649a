//! HTTP: the browser client, `/healthz`, `/metrics`, `/api/session`,
//! `/api/nodes`, `/api/leaderboards` and the WebSocket endpoint `/ws`, whose
//! token is checked before the upgrade. Errors, from every endpoint and for
//! every reason (a body over its limit, a wrong method, an unreadable path or
//! query, an unknown `/api` path), are JSON bodies `{"error": code,
//! "message": text}` with the codes listed in `PROTOCOL.md`.

use crate::admission::{Admission, admit, refused};
use crate::auth::{TokenError, unix_now, validate_name};
use crate::leaderboard::{Entry, LeaderboardError, Page, PageQuery, Period};
use crate::listener::PeerAddr;
use crate::node::{Node, unix_ms};
use crate::per_ip::client_ip;
use crate::session::{self, Frame, Inbound};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::{SinkExt, StreamExt};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::json;
use skirmish_shared::proto::{ErrorCode, PlayerId};
use std::collections::HashMap;
use std::sync::Arc;
use tower_http::cors::{self, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

/// The largest `POST /api/session` body, in bytes.
const SESSION_BODY_LIMIT: usize = 1024;

/// Builds the node's routes.
pub fn router(node: Arc<Node>) -> Router {
    let web = node.config.web_path();
    let static_files = ServeDir::new(&web).fallback(ServeFile::new(web.join("index.html")));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/nodes", get(nodes))
        .route("/api/admin/cluster", get(admin_cluster))
        .route_service("/admin", ServeFile::new(web.join("admin.html")))
        .route("/api/webtransport", get(webtransport_offer))
        .route(
            "/api/session",
            post(create_session)
                .get(check_session)
                .layer(DefaultBodyLimit::max(SESSION_BODY_LIMIT)),
        )
        .route("/api/leaderboards", get(list_boards))
        .route("/api/leaderboards/{board}", get(board_page))
        .route(
            "/api/leaderboards/{board}/players/{player_id}",
            get(player_entry),
        )
        // Without this an unknown API path would get the browser client's
        // page, with a 200.
        .route("/api/{*rest}", any(unknown_endpoint))
        .route("/ws", get(websocket))
        // After the routes: it applies to those registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(static_files)
        .layer(cors(Arc::clone(&node)))
        .with_state(node)
}

/// Cross-origin access for the allowed origins (`origins.rs`): a browser
/// client served by one node that moved to another (the host of its match)
/// logs in again and checks its token there. Nothing rides on cookies
/// (tokens are sent explicitly).
fn cors(node: Arc<Node>) -> CorsLayer {
    let allow = cors::AllowOrigin::async_predicate(move |origin, _parts| {
        let node = Arc::clone(&node);
        async move {
            match origin.to_str() {
                Ok(origin) => node.origins.allows(origin, &*node.registry).await,
                Err(_) => false,
            }
        }
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600))
}

/// A path that exists, with a method it does not take. axum adds the
/// `Allow` header listing the methods it does take.
async fn method_not_allowed(method: Method) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed".into(),
        message: format!("{method} is not allowed here; the Allow header lists what is"),
    }
}

async fn unknown_endpoint() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found".into(),
        message: "no such API endpoint".into(),
    }
}

/// The rejections of axum's extractors that the node's handlers use, which
/// otherwise answer in plain text.
trait Rejection {
    fn status(&self) -> StatusCode;
    fn body_text(&self) -> String;
}

macro_rules! rejection {
    ($($t:ty),*) => {$(
        impl Rejection for $t {
            fn status(&self) -> StatusCode {
                <$t>::status(self)
            }
            fn body_text(&self) -> String {
                <$t>::body_text(self)
            }
        }
    )*};
}

rejection!(QueryRejection, PathRejection, BytesRejection);

impl ApiError {
    /// The documented error for an extractor's rejection: `body_too_large`
    /// (413), `bad_request` (other 4xx) or `internal` (5xx: a route and its
    /// handler disagree, a bug).
    fn rejected(rejection: &impl Rejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else if status.is_server_error() {
            tracing::error!(%status, reason = %rejection.body_text(), "an extractor failed");
            "internal"
        } else {
            "bad_request"
        };
        ApiError {
            status,
            code: code.into(),
            message: rejection.body_text(),
        }
    }
}

/// Extracts `E` (a [`Path`] or [`Query`]), answering a failure with the
/// documented JSON error instead of axum's plain text.
#[derive(Debug)]
struct Checked<E>(E);

impl<S, E> FromRequestParts<S> for Checked<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    E::Rejection: Rejection,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        E::from_request_parts(parts, state)
            .await
            .map(Checked)
            .map_err(|r| ApiError::rejected(&r))
    }
}

/// The whole request body, within the route's [`DefaultBodyLimit`]; over
/// it, or unreadable, answered with the documented JSON error.
#[derive(Debug)]
struct Body(Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|r| ApiError::rejected(&r))
    }
}

/// A JSON error answer.
fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.to_string(),
    }
    .into_response()
}

/// An HTTP error answer: a status and the documented JSON body
/// `{"error": code, "message": text}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<LeaderboardError> for ApiError {
    fn from(e: LeaderboardError) -> Self {
        let (status, code) = match e.client_code() {
            Some(ErrorCode::UnknownBoard) => (StatusCode::NOT_FOUND, "unknown_board"),
            Some(ErrorCode::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Some(code) => (StatusCode::BAD_REQUEST, code.as_str()),
            None => {
                tracing::error!(error = %e, "leaderboard query failed");
                let message = "the leaderboard query failed".to_owned();
                return ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "internal".into(),
                    message,
                };
            }
        };
        ApiError {
            status,
            code: code.to_owned(),
            message: e.to_string(),
        }
    }
}

fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_query".into(),
        message: message.into(),
    }
}

/// Readiness: whether the node takes new players and matches. 200
/// `{"ready": true}`, or, once it drains before shutting down, 503
/// `{"ready": false, "reason": "draining"}`; a load balancer sends no one
/// new to a node that is not ready.
async fn readyz(State(node): State<Arc<Node>>) -> Response {
    if node.is_draining() {
        let body = Json(json!({ "ready": false, "reason": "draining" }));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        Json(json!({ "ready": true })).into_response()
    }
}

/// Liveness: the node answers, so it is `ok`; the body also says how the
/// parts it leans on are doing (Redis, the bus, the results outbox), each
/// as last seen by the part itself, so answering never waits on them.
async fn healthz(State(node): State<Arc<Node>>) -> Response {
    let (matches, players_in_matches) = node.matches.counts();
    let bus = match (node.config.redis_url.is_some(), node.bus.is_connected()) {
        (false, _) => "local",
        (true, true) => "connected",
        (true, false) => "reconnecting",
    };
    Json(json!({
        "status": "ok",
        "node_id": node.node_id,
        "uptime_s": node.started.elapsed().as_secs(),
        "tick_rate": node.config.tick_rate,
        "connections": node.sessions.count(),
        "matches": matches,
        "players_in_matches": players_in_matches,
        "redis": node.redis_health.state(),
        "bus": bus,
        "outbox": node.outbox_health.report(unix_ms()),
    }))
    .into_response()
}

/// Where and how to open WebTransport to this node (PROTOCOL.md section 3).
async fn webtransport_offer(State(node): State<Arc<Node>>) -> Response {
    // Not an error when it is off: a page asks before every connection,
    // and browsers log every 4xx as one.
    match node.webtransport.get() {
        Some(offer) => Json(offer.view()).into_response(),
        None => Json(json!({ "url": null, "certificate_hashes": [] })).into_response(),
    }
}

async fn nodes(State(node): State<Arc<Node>>) -> Response {
    match node.registry.live().await {
        Ok(mut nodes) => {
            // Their health is the operator's (`/api/admin/cluster`).
            nodes.iter_mut().for_each(|n| n.stats = None);
            Json(json!({ "self": node.node_id, "nodes": nodes })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

/// `GET /api/admin/cluster`: the live nodes with their stats, behind the
/// admin token (`admin::authorize`).
async fn admin_cluster(State(node): State<Arc<Node>>, headers: HeaderMap) -> Response {
    let token = node.config.admin_token.as_ref().map(|t| t.expose());
    if let Err(refusal) = crate::admin::authorize(token, &headers) {
        let (status, code, message) = refusal.answer();
        return error(status, code, message);
    }
    match node.registry.live().await {
        Ok(nodes) => Json(json!({ "self": node.node_id, "at_ms": unix_ms(), "nodes": nodes }))
            .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

async fn list_boards(State(node): State<Arc<Node>>) -> Response {
    Json(json!({ "boards": node.lb_config.boards, "periods": node.lb_config.periods }))
        .into_response()
}

/// A whole-number query parameter, or its default when absent.
fn query_number(
    query: &HashMap<String, String>,
    key: &str,
    default: usize,
) -> Result<usize, ApiError> {
    match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| invalid_query(format!("`{key}` must be a whole number"))),
    }
}

fn query_period(query: &HashMap<String, String>) -> Result<Period, ApiError> {
    Ok(query
        .get("period")
        .map_or(Ok(Period::AllTime), |p| p.parse())?)
}

async fn board_page(
    State(node): State<Arc<Node>>,
    Checked(Path(board)): Checked<Path<String>>,
    Checked(Query(query)): Checked<Query<HashMap<String, String>>>,
) -> Result<Json<Page>, ApiError> {
    let period = query_period(&query)?;
    let page = if let Some(player) = query.get("around") {
        let player = player
            .parse()
            .map_err(|_| invalid_query("`around` is a 16-hex-digit player id"))?;
        if query.contains_key("cursor") {
            return Err(invalid_query(
                "`around` and `cursor` do not go together: page on with the cursor alone",
            ));
        }
        // `limit` entries centred on the player; `k` on each side instead
        // is the other way to ask.
        match (query.contains_key("limit"), query.contains_key("k")) {
            (true, true) => {
                return Err(invalid_query(
                    "give `limit` (the page) or `k` (entries on each side) with `around`, not both",
                ));
            }
            (false, true) => PageQuery::Around {
                player,
                k: query_number(&query, "k", 5)?,
            },
            (_, false) => PageQuery::Centred {
                player,
                limit: query_number(&query, "limit", 10)?,
            },
        }
    } else if let Some(cursor) = query.get("cursor") {
        PageQuery::After {
            cursor: cursor.clone(),
            limit: query_number(&query, "limit", 10)?,
        }
    } else {
        PageQuery::Top {
            limit: query_number(&query, "limit", 10)?,
        }
    };
    Ok(Json(
        page.fetch(node.leaderboards.as_ref(), &board, period, unix_ms())
            .await?,
    ))
}

/// One player's entry, with the board and period it is on and when that
/// period resets, as every leaderboard answer says.
#[derive(Serialize)]
struct PlayerEntry {
    board: String,
    period: Period,
    resets_at_ms: Option<u64>,
    #[serde(flatten)]
    entry: Entry,
}

async fn player_entry(
    State(node): State<Arc<Node>>,
    Checked(Path((board, player))): Checked<Path<(String, String)>>,
    Checked(Query(query)): Checked<Query<HashMap<String, String>>>,
) -> Result<Response, ApiError> {
    let player: PlayerId = player
        .parse()
        .map_err(|_| invalid_query("a player id is 16 hex digits"))?;
    let period = query_period(&query)?;
    let now = unix_ms();
    let entry = node.leaderboards.rank(&board, period, player, now).await?;
    let resets_at_ms = period.resets_at_ms(now);
    Ok(match entry {
        Some(entry) => Json(PlayerEntry {
            board,
            period,
            resets_at_ms,
            entry,
        })
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "not_on_board",
                "message": "the player is not on this board in this period",
                "board": board,
                "period": period,
                "resets_at_ms": resets_at_ms,
            })),
        )
            .into_response(),
    })
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    render_metrics(node.metrics.as_ref())
}

/// The Prometheus page, or 503 `metrics_unavailable` when the node's
/// recorder could not be installed (another one was first): an empty page
/// would read as a node that measured nothing.
fn render_metrics(handle: Option<&PrometheusHandle>) -> Response {
    match handle {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "another metrics recorder was installed in this process first; the node's metrics go to it",
        ),
    }
}

#[derive(Deserialize)]
struct SessionRequest {
    name: String,
}

#[derive(Serialize)]
struct SessionResponse {
    token: String,
    player_id: String,
    name: String,
    expires_at: u64,
}

async fn create_session(
    State(node): State<Arc<Node>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let ip = client_ip(peer.ip(), &headers, &node.config.trusted_proxies);
    if let Err(retry) = node.per_ip.create_session(ip, std::time::Instant::now()) {
        refused("ip_sessions");
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sessions",
            "this address creates sessions too fast; keep the token you have, or wait",
        );
        let seconds = retry.as_secs_f32().ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        return response;
    }
    let request: SessionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expected {{\"name\": string}}: {e}"),
            );
        }
    };
    let name = match validate_name(&request.name) {
        Ok(name) => name,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_name", e),
    };
    let (token, claims) = node.keys.issue(&name, unix_now());
    Json(SessionResponse {
        token,
        player_id: claims.player_id.to_string(),
        name: claims.name,
        expires_at: claims.expires_at,
    })
    .into_response()
}

/// Says whether a token is still good, so a browser (which cannot read why
/// a WebSocket upgrade failed) can tell an expired session from a network
/// problem before reconnecting.
async fn check_session(
    State(node): State<Arc<Node>>,
    Checked(Query(query)): Checked<Query<HashMap<String, String>>>,
    headers: HeaderMap,
) -> Response {
    match token_of(&query, &headers)
        .ok_or(TokenError::Missing)
        .and_then(|t| node.keys.verify(t, unix_now()))
    {
        Ok(claims) => Json(json!({
            "player_id": claims.player_id.to_string(),
            "name": claims.name,
            "expires_at": claims.expires_at,
        }))
        .into_response(),
        Err(e) => error(StatusCode::UNAUTHORIZED, e.code(), e),
    }
}

/// The token from `?token=` or an `Authorization: Bearer` header.
fn token_of<'a>(query: &'a HashMap<String, String>, headers: &'a HeaderMap) -> Option<&'a str> {
    query.get("token").map(String::as_str).or_else(|| {
        headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(str::trim)
    })
}

async fn websocket(
    State(node): State<Arc<Node>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    Checked(Query(query)): Checked<Query<HashMap<String, String>>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .map(|origin| origin.to_str().map_err(|_| ()));
    let ip = client_ip(peer.ip(), &headers, &node.config.trusted_proxies);
    let admission = match admit(&node, origin, token_of(&query, &headers), ip).await {
        Ok(admission) => admission,
        Err(refusal) => return error(refusal.status, refusal.code, refusal.message),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(e) => return error(StatusCode::BAD_REQUEST, "not_websocket", e.body_text()),
    };
    let max = node.config.limits.max_message_bytes;
    let guard = node.task_guard.clone();
    upgrade
        // Small buffers: an idle connection should cost kilobytes, not the
        // 128 KiB defaults; client messages are tens of bytes.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = adapt(socket);
            let Admission { claims, permits } = admission;
            let open = metrics::gauge!("skirmish_connections_by_transport", "transport" => "ws");
            open.increment(1.0);
            session::run(node, claims, stream, sink).await;
            open.decrement(1.0);
            drop(permits);
            drop(guard);
        })
}

/// Splits an axum WebSocket into the session's transport-neutral halves.
fn adapt(
    socket: WebSocket,
) -> (
    impl futures_util::Sink<Frame> + Unpin + Send + 'static,
    impl futures_util::Stream<Item = Inbound> + Unpin + Send,
) {
    let (sink, stream) = socket.split();
    let stream = stream.map(|item| match item {
        Ok(Message::Binary(bytes)) => Inbound::Binary(bytes),
        Ok(Message::Text(_)) => Inbound::Text,
        Ok(Message::Ping(_) | Message::Pong(_)) => Inbound::Control,
        Ok(Message::Close(frame)) => Inbound::Closed(frame.map(|f| f.code)),
        Err(e) if is_capacity_error(&e) => Inbound::TooLarge,
        Err(_) => Inbound::Closed(None),
    });
    let sink = sink.with(|frame: Frame| {
        futures_util::future::ready(Ok::<_, axum::Error>(match frame {
            Frame::Binary(bytes) | Frame::Snapshot(bytes) => Message::Binary(bytes),
            Frame::Ping => Message::Ping(Bytes::new()),
            Frame::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        }))
    });
    (Box::pin(sink), stream)
}

/// Whether a WebSocket error is a message or frame over the size limit.
fn is_capacity_error(e: &axum::Error) -> bool {
    use std::error::Error;
    matches!(
        e.source()
            .and_then(|s| s.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the recorder's installation error was ignored, and
    /// `/metrics` answered an empty page with a 200.
    #[tokio::test]
    async fn metrics_without_a_recorder_are_a_documented_503() {
        let response = render_metrics(None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"], "metrics_unavailable");
    }
}
