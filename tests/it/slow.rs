//! A client that stops reading, in a match with two that do: the node's
//! memory for it stays within the stated bound (kernel send buffer plus
//! queue), the others' snapshots keep their rate, and it is closed with
//! 4004 once a message has waited `limits.send_backlog_s` for its socket.
//! A second one that does not read for 30 s loses the connection on time
//! too, without the close frame that could not get past its full socket.

use futures_util::{SinkExt, StreamExt};
use skirmish_arena::wire::input_data;
use skirmish_client_sim::login;
use skirmish_server::config::Limits;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ClientMsg, MatchId, ServerMsg, close};
use skirmish_tests::{Player, Reader, TestNode, room_with_history, test_config};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_bounded_and_closed_with_4004_on_time() {
    let mut config = test_config();
    config.limits.chat_burst = 100.0;
    config.limits.extra_messages_per_s = 1000.0;
    let limits = config.limits.clone();
    let backlog = Limits::secs(limits.send_backlog_s);
    let node = TestNode::start(config).await;
    let _poster = room_with_history(&node, "big").await;

    let mut honest = Vec::new();
    let mut match_id = None;
    for name in ["steady-1", "steady-2"] {
        let mut player = Player::connect(&node, name).await;
        let (id, _) = player.play_in().await;
        assert_eq!(*match_id.get_or_insert(id), id, "one match");
        honest.push(Reader::start(player));
    }

    // The sloth plays in the same match, then stops reading and fills its
    // socket with room histories (about 12 KB each); it goes on sending
    // inputs, so the idle timeout is not what closes it.
    let (sloth, sloth_port) = connect_small(&node, "sloth").await;
    let (mut sloth_tx, mut sloth_rx) = sloth.split();
    let sloth_match = play(&mut sloth_rx, &mut sloth_tx).await;
    assert_eq!(Some(sloth_match), match_id, "the sloth is in the match");
    let filled_from = Instant::now();
    let sloth_tx = fill(sloth_tx, node.addr, sloth_port).await;
    let filled_until = Instant::now();
    let inputs = Inputs::start(sloth_tx);

    // A second non-reader, in the lobby only, two seconds later, so the
    // sloth is the first the node gives up on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mute, mute_port) = connect_small(&node, "mute").await;
    let (mute_tx, mute_rx) = mute.split();
    let mute_from = Instant::now();
    let mute_tx = fill(mute_tx, node.addr, mute_port).await;
    let mute_filled = Instant::now();

    // Watch the node's side of the sloth until it gives up on it.
    let mut peak_kernel = 0;
    let mut peak_queued = 0.0f64;
    let decided = loop {
        let (_, tx_queue) = node_socket(node.addr.port(), sloth_port).expect("the sloth's socket");
        peak_kernel = peak_kernel.max(tx_queue);
        let metrics = node.metrics().await;
        peak_queued = peak_queued.max(metric(&metrics, "skirmish_outbound_queued_bytes"));
        if metric(&metrics, "skirmish_clients_too_slow_total{why=\"backlog\"}") >= 1.0 {
            break Instant::now();
        }
        assert!(
            filled_from.elapsed() < backlog + Duration::from_secs(10),
            "the node never gave up on the sloth"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // On time: a message queued while it filled its socket waited the
    // backlog time (polled every 50 ms, with slack for a loaded machine).
    let waited = decided - filled_from;
    assert!(
        decided >= filled_from + backlog
            && decided <= filled_until + backlog + Duration::from_secs(2),
        "closed {waited:?} after it stopped reading, with a backlog of {backlog:?}"
    );
    // It reads again at once: everything its socket held, then the 4004.
    inputs.stop().await;
    let code = read_to_close(&mut sloth_rx).await;
    assert_eq!(code, Some(close::TOO_SLOW), "the sloth's close");

    // What the node held for it: the kernel's send buffer (Linux reserves
    // twice `send_buffer_bytes`) and its queue (up to
    // `outbound_queue_bytes`, or one larger message; room histories are
    // about 12 KB, snapshots under 2 KB).
    let kernel_bound = 2 * limits.send_buffer_bytes as u64;
    let queue_bound = limits.outbound_queue_bytes + 16 * 1024;
    println!(
        "node-side, peak: {peak_kernel} B in the kernel send queue (bound {kernel_bound}), \
         {peak_queued} B queued in user space (bound {queue_bound}); closed {waited:?} after it stopped reading"
    );
    assert!(peak_kernel > 0, "the sloth's socket filled");
    assert!(peak_kernel <= kernel_bound, "kernel: {peak_kernel} B");
    assert!(peak_queued <= queue_bound as f64, "queued: {peak_queued} B");

    // The mute one is given up on as well, its socket dropped after the
    // close's short grace.
    let mute_gone = loop {
        match node_socket(node.addr.port(), mute_port) {
            Some((state, _)) if state == ESTABLISHED => {}
            _ => break Instant::now(),
        }
        assert!(
            mute_filled.elapsed() < backlog + Duration::from_secs(10),
            "the node kept the mute client's connection"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Its oldest waiting message was queued after it started filling; the
    // close then has a grace of 2 s to get out.
    let after = mute_gone - mute_from;
    println!("the mute client's connection was dropped {after:?} after it stopped reading");
    assert!(
        mute_gone >= mute_from + backlog,
        "the mute client was dropped early, {after:?} after it stopped reading"
    );
    assert!(
        mute_gone <= mute_filled + backlog + Duration::from_secs(4),
        "the mute client was dropped late, {after:?} after it stopped reading"
    );

    // The players who read kept their snapshots coming all along.
    let window = (filled_from, Instant::now());
    for reader in honest {
        let arrivals = reader.stop().await;
        skirmish_tests::assert_snapshots_kept_coming(&arrivals, window.0, window.1);
    }

    // Thirty seconds after it stopped, the mute one reads: what its socket
    // held, then the end of the connection (no close frame could pass).
    let since = Instant::now() - mute_filled;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(since)).await;
    drop(mute_tx);
    let mut mute_rx = mute_rx;
    let ended = read_to_close(&mut mute_rx).await;
    assert_ne!(ended, Some(1000), "not a normal close");
    node.stop().await;
}

/// `/proc/net/tcp`'s state for an established connection.
const ESTABLISHED: u8 = 0x01;

/// The node's side of the connection from `client_port`: its TCP state and
/// the bytes in its send queue the client has not acknowledged.
fn node_socket(node_port: u16, client_port: u16) -> Option<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let port = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, state, queues) = (fields[1], fields[2], fields[3], fields[4]);
        if port(local)? != node_port || port(remote)? != client_port {
            return None;
        }
        let tx_queue = u64::from_str_radix(queues.split(':').next()?, 16).ok()?;
        Some((u8::from_str_radix(state, 16).ok()?, tx_queue))
    })
}

/// A metric's value (its first line starting with `name`), or 0.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Logs in as `name` and opens a WebSocket whose receive buffer is as small
/// as the kernel allows, so the node's side fills quickly. Returns it past
/// its `welcome`, with its local port.
async fn connect_small(node: &TestNode, name: &str) -> (Ws, u16) {
    let session = login(&skirmish_tests::http(), &node.url(), name)
        .await
        .expect("login");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(node.addr).await.expect("connect");
    let port = stream.local_addr().expect("local address").port();
    let url = format!("ws://{}/ws?token={}", node.addr, session.token);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("upgrade");
    match next_msg(&mut ws).await {
        ServerMsg::Welcome { .. } => {}
        other => panic!("expected welcome, got {other:?}"),
    }
    (ws, port)
}

async fn next_msg(
    rx: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> ServerMsg {
    loop {
        match rx.next().await.expect("open").expect("readable") {
            Message::Binary(bytes) => {
                return skirmish_shared::codec::decode_server(&bytes).expect("decodes");
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Quick play; the match it is seated in.
async fn play(
    rx: &mut futures_util::stream::SplitStream<Ws>,
    tx: &mut futures_util::stream::SplitSink<Ws, Message>,
) -> MatchId {
    tx.send(Message::Binary(encode(&ClientMsg::Play).into()))
        .await
        .expect("send play");
    loop {
        if let ServerMsg::Joined { match_id, .. } = next_msg(rx).await {
            return match_id;
        }
    }
}

/// Joins and leaves the big room until the node's side of the connection
/// stops growing: its kernel buffer is full, and the writer waits on it.
async fn fill(
    mut tx: futures_util::stream::SplitSink<Ws, Message>,
    node: SocketAddr,
    port: u16,
) -> futures_util::stream::SplitSink<Ws, Message> {
    let join = encode(&ClientMsg::JoinRoom { room: "big".into() });
    let leave = encode(&ClientMsg::LeaveRoom { room: "big".into() });
    let (mut last, mut still) = (0, 0);
    for _ in 0..40 {
        tx.send(Message::Binary(join.clone().into()))
            .await
            .expect("join");
        tx.send(Message::Binary(leave.clone().into()))
            .await
            .expect("leave");
        tokio::time::sleep(Duration::from_millis(40)).await;
        let (_, queued) = node_socket(node.port(), port).expect("its socket");
        still = if queued > 0 && queued == last {
            still + 1
        } else {
            0
        };
        last = queued;
        if still == 2 {
            return tx;
        }
    }
    panic!("the node's send queue never stopped growing ({last} B)");
}

/// Inputs sent every 100 ms by a client that reads nothing.
struct Inputs {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Inputs {
    fn start(mut tx: futures_util::stream::SplitSink<Ws, Message>) -> Inputs {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(100));
            for seq in 1.. {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticker.tick() => {
                        let input = ClientMsg::Input { shown: None, earlier: Vec::new(), seq, tick: 0, input: input_data(0.0, 0.0, 0.0, false) };
                        if tx.send(Message::Binary(encode(&input).into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Inputs { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the input task");
    }
}

/// Reads until the close; its code (`None`: the connection ended without
/// one).
async fn read_to_close(rx: &mut futures_util::stream::SplitStream<Ws>) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the connection ended in time")
}
