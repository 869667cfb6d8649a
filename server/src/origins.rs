//! Which web origins may use the node from a page: open a WebSocket, or
//! read the API across origins (CORS). A request without an `Origin` header
//! is not from a page (bots, servers, curl) and is not judged here: the
//! check protects players' browsers from pages on other sites, which could
//! otherwise act with a token they obtained.
//!
//! Allowed: the origins in `allowed_origins` (`"*"`: any), the node's own
//! (from `public_url`), every cluster node's that heartbeat within the last
//! [`CLUSTER_MEMORY`] (the registry's list, read again when an origin is not
//! on it, at most once a second, so refused origins cannot turn into Redis
//! load), and, on a node running alone (no Redis), any port of `localhost`,
//! `127.0.0.1` and `[::1]` for development.
//!
//! A node's origin outlives the node: a page it served fails over to
//! another node when it dies or drains, and that page's origin is still the
//! dead node's for as long as it stays open.

use crate::registry::Registry;
use axum::http::Uri;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two reads of the registry for origins.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// How long after a node's last heartbeat pages from its origin are still
/// allowed: about as long as a player keeps a tab open.
pub(crate) const CLUSTER_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// The origin allowlist.
#[derive(Debug)]
pub(crate) struct Origins {
    any: bool,
    local_development: bool,
    listed: HashSet<String>,
    /// Cluster nodes' origins, as the registry last listed them.
    learned: Mutex<HashSet<String>>,
    /// How long the registry remembers a node's origin ([`CLUSTER_MEMORY`]).
    memory: Duration,
    /// When the registry was last read; one read at a time.
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

/// `scheme://host[:port]` in lower case, without the scheme's default port;
/// `None` for anything else (`null`, a path, another scheme).
pub(crate) fn normalize(origin: &str) -> Option<String> {
    let uri: Uri = origin.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if uri
        .path_and_query()
        .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
    {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The origin of a URL such as a node's `public_url` (its path dropped).
fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.trim().parse().ok()?;
    normalize(&format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

impl Origins {
    /// The allowlist of a node reached at `public_url`; `alone` when it
    /// runs without Redis.
    pub(crate) fn new(allowed: &[String], public_url: &str, alone: bool) -> Origins {
        let mut listed: HashSet<String> = allowed.iter().filter_map(|o| normalize(o)).collect();
        listed.extend(origin_of(public_url));
        Origins {
            any: allowed.iter().any(|o| o == "*"),
            local_development: alone,
            listed,
            learned: Mutex::new(HashSet::new()),
            memory: CLUSTER_MEMORY,
            refreshed: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether `origin` is allowed by what is known without asking the
    /// registry.
    pub(crate) fn allows_known(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = normalize(origin) else {
            return false;
        };
        if self.listed.contains(&origin) || self.learned().contains(&origin) {
            return true;
        }
        self.local_development && is_local(&origin)
    }

    /// Whether `origin` is allowed, reading the registry's cluster nodes
    /// again when it is not known (a page served by a node that joined
    /// since), unless it was read within [`REFRESH_EVERY`].
    pub(crate) async fn allows(&self, origin: &str, registry: &dyn Registry) -> bool {
        if self.allows_known(origin) {
            return true;
        }
        let Some(origin) = normalize(origin) else {
            return false;
        };
        // One read at a time: a request that waited for another's sees its
        // result.
        let mut refreshed = self.refreshed.lock().await;
        if self.learned().contains(&origin) {
            return true;
        }
        if refreshed.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
            return false;
        }
        *refreshed = Some(Instant::now());
        let Ok(urls) = registry.recent_urls(self.memory).await else {
            return false;
        };
        let cluster: HashSet<String> = urls.iter().filter_map(|u| origin_of(u)).collect();
        let allowed = cluster.contains(&origin);
        *self.learned() = cluster;
        allowed
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn is_local(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MemoryRegistry, NodeInfo};
    use skirmish_shared::proto::NodeId;
    use std::time::Duration;

    #[test]
    fn origins_compare_without_case_or_default_ports() {
        assert_eq!(
            normalize("HTTPS://Play.Example.com:443").as_deref(),
            Some("https://play.example.com")
        );
        assert_eq!(
            normalize("http://example.com:8080").as_deref(),
            Some("http://example.com:8080")
        );
        assert_eq!(normalize("null"), None);
        assert_eq!(normalize("file:///tmp/x.html"), None);
        assert_eq!(normalize("https://example.com/path"), None);
        assert_eq!(normalize("https://user@example.com"), None);
        assert_eq!(
            origin_of("https://eu1.example.com/game/").as_deref(),
            Some("https://eu1.example.com")
        );
    }

    #[test]
    fn own_listed_and_local_origins() {
        let alone = Origins::new(
            &["https://play.example.com".into()],
            "http://127.0.0.1:8080",
            true,
        );
        assert!(alone.allows_known("http://127.0.0.1:8080"), "its own");
        assert!(alone.allows_known("https://play.example.com"), "listed");
        assert!(
            alone.allows_known("http://localhost:5173"),
            "local development"
        );
        assert!(alone.allows_known("http://[::1]:3000"));
        assert!(!alone.allows_known("https://evil.example"));
        assert!(!alone.allows_known("http://localhost.evil.example"));
        assert!(!alone.allows_known("null"));

        let clustered = Origins::new(&[], "https://eu1.example.com", false);
        assert!(clustered.allows_known("https://eu1.example.com"));
        assert!(
            !clustered.allows_known("http://localhost:5173"),
            "only alone"
        );
        assert!(Origins::new(&["*".into()], "https://eu1.example.com", false).allows_known("null"));
    }

    #[tokio::test]
    async fn a_node_of_the_cluster_is_learnt_from_the_registry_and_outlives_itself() {
        let registry = MemoryRegistry::new(Duration::from_secs(60));
        let mut origins = Origins::new(&[], "https://eu1.example.com", false);
        origins.memory = Duration::from_secs(3);
        assert!(!origins.allows("https://eu2.example.com", &registry).await);
        let info = NodeInfo {
            id: NodeId::from("eu2"),
            public_url: "https://eu2.example.com".into(),
            players: 0,
            matches: 0,
            started_at_ms: 0,
            last_seen_ms: 0,
            age_ms: 0,
            awaited: 0,
            formed: 0,
            stats: None,
        };
        registry.heartbeat(&info).await.expect("heartbeat");
        // Read within the last second: not again yet.
        assert!(!origins.allows("https://eu2.example.com", &registry).await);
        tokio::time::sleep(REFRESH_EVERY).await;
        assert!(origins.allows("https://eu2.example.com", &registry).await);
        assert!(
            origins.allows_known("https://eu2.example.com"),
            "remembered"
        );
        assert!(!origins.allows("https://evil.example", &registry).await);
        assert!(!origins.allows("null", &registry).await);
        // It leaves (or dies): pages it served still fail over to the
        // others, until the memory passes.
        registry.leave(&info.id).await.expect("leave");
        tokio::time::sleep(REFRESH_EVERY).await;
        assert!(!origins.allows("https://evil.example", &registry).await);
        assert!(
            origins.allows_known("https://eu2.example.com"),
            "still allowed after it left"
        );
        tokio::time::sleep(origins.memory).await;
        assert!(!origins.allows("https://evil.example", &registry).await);
        assert!(
            !origins.allows_known("https://eu2.example.com"),
            "forgotten"
        );
    }
}
