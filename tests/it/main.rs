//! Integration tests across crates: real nodes on port 0, real WebSocket
//! clients, real Chromium. One binary, one module per area.

/// Runs each multi-node scenario (an `async fn(Setup)`) twice: as
/// `one_redis::NAME` on one `redis-server`, and as `redis_cluster::NAME`
/// on a three-master Redis Cluster.
macro_rules! on_each_redis {
    ($($scenario:ident),+ $(,)?) => {
        mod one_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(skirmish_tests::redis_cluster::Setup::One).await;
                }
            )+
        }

        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(skirmish_tests::redis_cluster::Setup::Cluster).await;
                }
            )+
        }
    };
}

mod bad_input;
mod bots;
mod browser;
mod cluster;
mod drain;
mod game;
mod games;
mod hostile;
mod http;
mod lag_compensation;
mod leaderboard;
mod lobby;
mod matchmaking;
mod movement_vectors;
mod prediction;
mod protocol_doc;
mod redis_cluster;
mod results;
mod scripts;
mod slow;
mod soak;
mod tls;
mod vectors;
mod webtransport;
