//! A session fed an arbitrary sequence of messages: well-formed ones of
//! every kind with arbitrary fields, game inputs of any shape, garbage,
//! text and pings, over a real WebSocket to a real node (in this process,
//! without Redis; each input is one connection of one of four players, so
//! one input's session meets the seats, rooms and queue an earlier one
//! left). A panic in any of the node's tasks aborts (a panic hook), so
//! libFuzzer sees it; so does a connection that is not closed within five
//! seconds of the client's close.
#![no_main]

use futures_util::{SinkExt, StreamExt};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use skirmish_arena::ArenaMatch;
use skirmish_hill::HillMatch;
use skirmish_server::games::Games;
use skirmish_server::{Config, Server};
use skirmish_shared::codec::encode;
use skirmish_shared::game::GameData;
use skirmish_shared::proto::{ClientMsg, PlayerId};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

struct Harness {
    runtime: tokio::runtime::Runtime,
    /// `ws://ADDR/ws?token=`, to append a token to.
    url: String,
    tokens: Vec<String>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic: {info}");
            std::process::abort();
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (url, tokens) = runtime.block_on(async {
            let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets");
            let mut config = Config::for_tests(&assets);
            config.match_seconds = Some(5);
            // Every game the shipped config serves, variants too (the
            // matchmaking modes name them), as the server binary loads them.
            let (rate, seconds) = (config.tick_rate, config.match_seconds);
            let mut games = Games::default();
            for name in &config.games {
                let (game, files) = config.game_files(name);
                games = match game {
                    "arena" => games.with_name::<ArenaMatch>(
                        name.as_str(),
                        skirmish_arena::load_variant(&assets, &files, rate, seconds).expect("arena"),
                    ),
                    _ => games.with_name::<HillMatch>(
                        name.as_str(),
                        skirmish_hill::load_variant(&assets, &files, rate, seconds).expect("hill"),
                    ),
                };
            }
            let server = Server::bind(config, games).await.expect("a node");
            let addr = server.local_addr();
            let node = server.node();
            let now = skirmish_server::auth::unix_now();
            let tokens = (0..4)
                .map(|i| node.keys.issue(&format!("fuzz{i}"), now).0)
                .collect();
            drop(node);
            tokio::spawn(async move { server.serve(std::future::pending()).await });
            (format!("ws://{addr}/ws?token="), tokens)
        });
        Harness {
            runtime,
            url,
            tokens,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Step {
    Msg(Msg),
    Raw(Vec<u8>),
    Text(String),
    Ping(Vec<u8>),
    /// Milliseconds, up to 31.
    Pause(u8),
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Play,
    Leave,
    Input { seq: u32, tick: u32, x: f32, y: f32, aim: f32, fire: bool },
    OddInput { seq: u32, tick: u32, data: Vec<i64> },
    Ping(f64),
    JoinRoom(String),
    LeaveRoom(String),
    Chat(String, String),
    Typing(String),
    Leaderboard {
        request_id: u32,
        board: String,
        period: String,
        around_me: bool,
        cursor: Option<String>,
        limit: u16,
    },
    Queue(String),
    CancelQueue,
    JoinMatch(String),
    PartyInvite(u64),
    PartyAccept(String),
    PartyLeave,
}

impl Msg {
    fn into_client(self) -> ClientMsg {
        match self {
            Msg::Play => ClientMsg::Play,
            Msg::Leave => ClientMsg::Leave,
            Msg::Input { seq, tick, x, y, aim, fire } => ClientMsg::Input { shown: None,
                seq,
                tick,
                input: skirmish_arena::wire::input_data(x, y, aim, fire),
            },
            Msg::OddInput { seq, tick, data } => ClientMsg::Input { shown: None,
                seq,
                tick,
                input: GameData(rmpv::Value::Array(data.into_iter().map(rmpv::Value::from).collect())),
            },
            Msg::Ping(client_time) => ClientMsg::Ping { client_time },
            Msg::JoinRoom(room) => ClientMsg::JoinRoom { room: room.into() },
            Msg::LeaveRoom(room) => ClientMsg::LeaveRoom { room: room.into() },
            Msg::Chat(room, text) => ClientMsg::Chat { room: room.into(), text },
            Msg::Typing(room) => ClientMsg::Typing { room: room.into() },
            Msg::Leaderboard { request_id, board, period, around_me, cursor, limit } => {
                ClientMsg::Leaderboard { request_id, board, period, around_me, cursor, limit }
            }
            Msg::Queue(mode) => ClientMsg::Queue { mode: mode.into() },
            Msg::CancelQueue => ClientMsg::CancelQueue,
            Msg::JoinMatch(ticket) => ClientMsg::JoinMatch { ticket },
            Msg::PartyInvite(id) => ClientMsg::PartyInvite { player_id: PlayerId(id) },
            Msg::PartyAccept(party) => ClientMsg::PartyAccept { party_id: party.into() },
            Msg::PartyLeave => ClientMsg::PartyLeave,
        }
    }
}

fn frame(step: Step) -> Result<Message, Duration> {
    Ok(match step {
        Step::Msg(msg) => Message::Binary(encode(&msg.into_client()).into()),
        Step::Raw(bytes) => Message::Binary(bytes.into()),
        Step::Text(text) => Message::Text(text.into()),
        Step::Ping(bytes) => Message::Ping(bytes.into()),
        Step::Pause(ms) => return Err(Duration::from_millis(u64::from(ms % 32))),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok(player) = input.int_in_range(0..=3usize) else {
        return;
    };
    let Ok(steps) = input.arbitrary_iter::<Step>() else {
        return;
    };
    let steps: Vec<Step> = steps.take(64).filter_map(Result::ok).collect();
    let harness = harness();
    let url = format!("{}{}", harness.url, harness.tokens[player]);
    harness.runtime.block_on(async move {
        let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await else {
            return;
        };
        let (mut tx, mut rx) = ws.split();
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        for step in steps {
            match frame(step) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        break;
                    }
                }
                Err(pause) => tokio::time::sleep(pause).await,
            }
        }
        let _ = tx.send(Message::Close(None)).await;
        if tokio::time::timeout(Duration::from_secs(5), reader).await.is_err() {
            eprintln!("the node did not close the connection within 5 s of the client's close");
            std::process::abort();
        }
    });
});
