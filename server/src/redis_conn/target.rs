//! What `--redis` names: one Redis, or a Redis Cluster reached through seed
//! nodes.
//!
//! - `redis://host:port/…`: one Redis.
//! - `redis+cluster://[user:password@]host:port[,host:port…][/?…]`: a
//!   cluster, with every host a seed sharing the credentials.
//! - `redis://a:1,redis://b:2,…` (URLs separated by commas): a cluster with
//!   these seeds.
//!
//! A cluster needs only one seed that answers; the client learns the rest
//! of the nodes, and which slots each serves, from it.

use redis::{ConnectionInfo, IntoConnectionInfo, RedisResult};

/// The scheme that marks a cluster.
const CLUSTER_SCHEME: &str = "redis+cluster://";

/// Where Redis is.
#[derive(Clone, Debug)]
pub enum Target {
    /// One server.
    Single(ConnectionInfo),
    /// A cluster, by its seed nodes.
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// Reads a `--redis` value.
    pub fn parse(url: &str) -> RedisResult<Target> {
        let seeds = seed_urls(url)?;
        let cluster = seeds.len() > 1 || url.starts_with(CLUSTER_SCHEME);
        let mut infos = seeds
            .iter()
            .map(|seed| seed.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(match (cluster, infos.pop()) {
            (false, Some(info)) => Target::Single(info),
            (true, Some(last)) => {
                infos.push(last);
                Target::Cluster(infos)
            }
            (_, None) => return Err(invalid("names no Redis")),
        })
    }
}

fn invalid(why: &'static str) -> redis::RedisError {
    (redis::ErrorKind::InvalidClientConfig, why).into()
}

/// The URLs of the seeds, each a plain `redis://` URL.
fn seed_urls(url: &str) -> RedisResult<Vec<String>> {
    let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) else {
        return Ok(url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect());
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let urls: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("redis://{credentials}{host}{tail}"))
        .collect();
    if urls.is_empty() {
        return Err(invalid(
            "a redis+cluster:// URL needs at least one host:port",
        ));
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(target: &Target) -> Vec<String> {
        let infos = match target {
            Target::Single(info) => std::slice::from_ref(info),
            Target::Cluster(infos) => infos.as_slice(),
        };
        infos.iter().map(|i| i.addr().to_string()).collect()
    }

    #[test]
    fn one_url_is_one_redis() {
        let target = Target::parse("redis://127.0.0.1:6379/").expect("parses");
        assert!(matches!(target, Target::Single(_)));
        assert_eq!(addresses(&target), ["127.0.0.1:6379"]);
    }

    #[test]
    fn the_cluster_scheme_names_seeds_sharing_credentials() {
        let target =
            Target::parse("redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001/").expect("parses");
        let Target::Cluster(seeds) = &target else {
            panic!("a cluster: {target:?}");
        };
        assert_eq!(addresses(&target), ["10.0.0.1:7000", "10.0.0.2:7001"]);
        for seed in seeds {
            assert_eq!(seed.redis_settings().username(), Some("u"));
            assert_eq!(seed.redis_settings().password(), Some("pw"));
        }
        // One seed is still a cluster when the scheme says so.
        assert!(matches!(
            Target::parse("redis+cluster://h:7000").expect("parses"),
            Target::Cluster(s) if s.len() == 1
        ));
    }

    #[test]
    fn urls_separated_by_commas_are_a_cluster() {
        let target = Target::parse("redis://a:1, redis://b:2").expect("parses");
        assert!(matches!(target, Target::Cluster(_)));
        assert_eq!(addresses(&target), ["a:1", "b:2"]);
    }

    #[test]
    fn a_cluster_url_without_hosts_or_a_bad_seed_is_refused() {
        assert!(Target::parse("redis+cluster://").is_err());
        assert!(Target::parse("redis+cluster://u:p@/").is_err());
        assert!(Target::parse("").is_err());
        assert!(Target::parse("redis://a:1,nonsense://b").is_err());
    }
}
