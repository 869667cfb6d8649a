//! Prediction over a lossy network, with real parts: a player over
//! WebTransport behind `skirmish-lag`'s UDP proxy (75 ms each way plus up to
//! 10 ms of jitter, 5% of datagrams dropped each way: QUIC resends the
//! stream's, the inputs' and snapshots' are gone) walks a square and lets
//! the keys go. It predicts itself with the bots' `Prediction` (the arena's
//! movement in Rust, which the browser's `movement.js` matches to the bit)
//! and sends each input with the unacknowledged ones before it (`earlier`),
//! as the browser does over WebTransport. `test/predict.test.js` plays the
//! browser's own code against a simulated node through the same network.

use skirmish_arena::geom::Vec2;
use skirmish_arena::wire::{ClientMovement, Setup, input_data};
use skirmish_client_sim::prediction::Prediction;
use skirmish_client_sim::repeats::Repeats;
use skirmish_client_sim::wt::Offer;
use skirmish_client_sim::{Connection, Incoming, login};
use skirmish_shared::proto::{ClientMsg, ServerMsg};
use skirmish_tests::proxy::LagProxy;
use skirmish_tests::{TestNode, arena_players, http, open_map, recv, wt_config};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Predicted and node positions this close agree once at rest.
const AGREE_UNITS: f32 = 0.5;
/// A correction: a prediction this far from where the node put the player.
const CORRECTION_UNITS: f32 = 0.25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_webtransport_behind_150_ms_with_5_percent_loss_the_prediction_converges_once_keys_are_released()
 {
    let node = TestNode::start_on(wt_config(), &open_map()).await;
    let http = http();
    let (offered, target) = node.wt_offer().await;
    let url = offered.url.expect("the node offers WebTransport");
    let proxy = LagProxy::start_udp(
        target,
        Duration::from_millis(75),
        Duration::from_millis(10),
        0.05,
    )
    .await;
    let lagged = Offer {
        url: Some(url.replace(&target.to_string(), &proxy.addr().to_string())),
        certificate_hashes: offered.certificate_hashes,
    };
    let session = login(&http, &node.url(), "walker").await.expect("login");
    let mut conn = Connection::connect_offered(&lagged, &session.token)
        .await
        .expect("WebTransport through the proxy");
    conn.send(&ClientMsg::Play).await.expect("send play");
    let mut tick_rate = 0;
    let (you, setup) = loop {
        match recv(&mut conn).await {
            Incoming::Msg(ServerMsg::Welcome {
                tick_rate: rate, ..
            }) => tick_rate = rate,
            Incoming::Msg(msg @ ServerMsg::Joined { you, .. }) => {
                break (you, Setup::of_joined(&msg).expect("an arena setup"));
            }
            _ => {}
        }
    };
    let mut walk = Walk {
        you,
        prediction: Prediction::new(ClientMovement::new(&setup.map, &setup.rules, tick_rate)),
        seq: 0,
        repeats: Repeats::default(),
        last_ack: 0,
        errors: Vec::new(),
        node_at: None,
    };
    // A second a side of a square, then two seconds with no key.
    let plan = [
        (Vec2::new(1.0, 0.0), 1.0),
        (Vec2::new(0.0, 1.0), 1.0),
        (Vec2::new(-1.0, 0.0), 1.0),
        (Vec2::new(0.0, -1.0), 1.0),
        (Vec2::ZERO, 2.0),
    ];
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / u32::from(tick_rate));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for (dir, seconds) in plan {
        let until = Instant::now() + Duration::from_secs_f32(seconds);
        while Instant::now() < until {
            tokio::select! {
                _ = ticker.tick() => walk.send(&mut conn, dir).await,
                incoming = conn.recv() => walk.read(&conn, incoming.expect("readable")),
            }
        }
    }
    let predicted = walk.prediction.predicted().expect("predicting");
    let at = walk.node_at.expect("seen by the node");
    let corrections = walk
        .errors
        .iter()
        .filter(|&&e| e > CORRECTION_UNITS)
        .count();
    let largest = walk.errors.iter().copied().fold(0.0f32, f32::max);
    let recovered = node.metric("skirmish_inputs_recovered_total").await;
    println!(
        "{} inputs, {} acknowledged snapshots: {corrections} corrections, largest {largest:.2} units; \
         {recovered} inputs taken from `earlier`; at rest {:.3} units apart",
        walk.seq,
        walk.errors.len(),
        (predicted - at).length()
    );
    assert!(
        (predicted - at).length() <= AGREE_UNITS,
        "at rest the prediction {predicted:?} and the node's {at:?} must agree"
    );
    assert!(
        recovered > 0.0,
        "lost input datagrams were taken from the next ones' `earlier`"
    );
    node.stop().await;
}

/// The walker's side: its prediction and what it sent.
struct Walk {
    you: u16,
    prediction: Prediction,
    seq: u32,
    /// The last inputs sent, for `earlier`.
    repeats: Repeats,
    last_ack: u32,
    /// The prediction error at each acknowledged input.
    errors: Vec<f32>,
    /// Where the node last put the player.
    node_at: Option<Vec2>,
}

impl Walk {
    async fn send(&mut self, conn: &mut Connection, dir: Vec2) {
        self.seq += 1;
        self.prediction.input(self.seq, dir);
        let input = input_data(dir.x, dir.y, 0.0, false);
        let earlier = self.repeats.next(self.seq, self.last_ack, &input);
        let msg = ClientMsg::Input {
            seq: self.seq,
            tick: conn.ack(),
            input,
            shown: None,
            earlier,
        };
        conn.send(&msg).await.expect("send input");
    }

    fn read(&mut self, conn: &Connection, incoming: Incoming) {
        match incoming {
            Incoming::Msg(ServerMsg::Snapshot { ack, .. }) => {
                let me = arena_players(conn)
                    .and_then(|players| players.into_iter().find(|p| p.id == self.you))
                    .filter(|p| p.health > 0)
                    .map(|p| Vec2::new(p.x, p.y));
                self.node_at = me;
                self.last_ack = self.last_ack.max(ack);
                self.errors.extend(self.prediction.observe(ack, me));
            }
            Incoming::Closed(frame) => panic!("closed mid-walk: {frame:?}"),
            _ => {}
        }
    }
}
