//! The floor under a node's cost per player.
//!
//! A node, for each player each tick, receives one input and sends one
//! snapshot. This program does only that, with no game, no protocol and no
//! encoding, so its CPU per player is what the transport alone costs on this
//! machine: the least a node could spend. `bench/floor.sh` runs it.
//!
//! `serve` is the server side; `load` opens the players and drives them.
//! Modes (`--mode`), each the same traffic:
//! - `tcp-task`: one TCP connection per player; a reader task each, and a
//!   writer task each that the tick wakes per message (how a node with one
//!   writer task per connection sends).
//! - `tcp-direct`: one TCP connection per player; a reader task each, and the
//!   tick thread writes each message straight into its socket (no wake-up).
//! - `udp`: one UDP socket for all players; one reader task, and the tick
//!   thread sends one datagram per player (one `sendto` each, as a QUIC
//!   endpoint does for datagrams to different peers).
//! - `udp-batch`: as `udp`, but the tick thread hands the kernel up to
//!   [`BATCH`] players' datagrams in one `sendmmsg`: what batching sends
//!   across players could save a node.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use std::collections::HashSet;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Notify;

#[derive(Parser, Debug)]
#[command(about = "The transport floor under a node's cost per player")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Accept players and send each one message a tick.
    Serve {
        #[arg(long, value_enum)]
        mode: Mode,
        /// Address to listen on; port 0 picks one (printed on stdout).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long, default_value_t = 30)]
        hz: u32,
        /// Bytes a player receives each tick (a node's snapshot message).
        #[arg(long, default_value_t = 76)]
        bytes: usize,
    },
    /// Open the players and send one message a tick from each.
    Load {
        #[arg(long, value_enum)]
        mode: Mode,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1024)]
        players: usize,
        #[arg(long, default_value_t = 30)]
        hz: u32,
        /// Bytes a player sends each tick (a node's input message).
        #[arg(long, default_value_t = 30)]
        bytes: usize,
        /// Players opened per second.
        #[arg(long, default_value_t = 500)]
        ramp: u32,
        #[arg(long, default_value_t = 30)]
        duration: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    TcpTask,
    TcpDirect,
    Udp,
    UdpBatch,
}

/// Datagrams handed to the kernel in one `sendmmsg` (`udp-batch`).
const BATCH: usize = 64;

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.command {
        Command::Serve {
            mode,
            listen,
            hz,
            bytes,
        } => runtime.block_on(serve(mode, listen, hz, bytes)),
        Command::Load {
            mode,
            addr,
            players,
            hz,
            bytes,
            ramp,
            duration,
        } => runtime.block_on(load(mode, addr, players, hz, bytes, ramp, duration)),
    }
}

/// What the tick thread sends to: every player's way out.
#[derive(Default)]
struct Players {
    tcp_task: Vec<Arc<Slot>>,
    tcp_direct: Vec<Arc<TcpStream>>,
    udp: Vec<SocketAddr>,
}

/// One message waiting for a writer task.
#[derive(Default)]
struct Slot {
    message: Mutex<Option<&'static [u8]>>,
    notify: Notify,
}

async fn serve(mode: Mode, listen: SocketAddr, hz: u32, bytes: usize) -> Result<()> {
    let players = Arc::new(Mutex::new(Players::default()));
    let message: &'static [u8] = Vec::leak(vec![0x82; bytes]);
    let period = Duration::from_secs(1) / hz;
    let udp = match mode {
        Mode::Udp | Mode::UdpBatch => {
            let socket = UdpSocket::bind(listen).await?;
            println!("{}", socket.local_addr()?);
            Some(Arc::new(socket))
        }
        _ => None,
    };
    let tick_players = Arc::clone(&players);
    let tick_udp = udp.clone();
    let handle = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("floor-tick".into())
        .spawn(move || {
            let batched = mode == Mode::UdpBatch;
            tick(handle, tick_players, tick_udp, batched, message, period);
        })?;
    match udp {
        Some(socket) => read_udp(socket, players).await,
        None => {
            let listener = TcpListener::bind(listen).await?;
            println!("{}", listener.local_addr()?);
            accept_tcp(listener, mode, players).await
        }
    }
}

/// Sends every player one message a period, from a thread of its own (as a
/// node's tick thread does). Counts what could not be sent at once.
fn tick(
    handle: tokio::runtime::Handle,
    players: Arc<Mutex<Players>>,
    udp: Option<Arc<UdpSocket>>,
    batched: bool,
    message: &'static [u8],
    period: Duration,
) {
    let _entered = handle.enter();
    let mut next = std::time::Instant::now();
    let mut blocked = 0u64;
    loop {
        next += period;
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let players = players.lock().expect("players");
        for slot in &players.tcp_task {
            *slot.message.lock().expect("slot") = Some(message);
            slot.notify.notify_one();
        }
        for stream in &players.tcp_direct {
            if !matches!(stream.try_write(message), Ok(n) if n == message.len()) {
                blocked += 1;
            }
        }
        match &udp {
            Some(socket) if batched => blocked += send_batched(socket, &players.udp, message),
            Some(socket) => {
                for peer in &players.udp {
                    if socket.try_send_to(message, *peer).is_err() {
                        blocked += 1;
                    }
                }
            }
            None => {}
        }
        drop(players);
        if blocked > 0 && blocked.is_power_of_two() {
            eprintln!("{blocked} messages could not be sent at once");
        }
    }
}

/// Sends `message` to every peer, [`BATCH`] datagrams a system call;
/// returns how many could not be sent at once.
fn send_batched(socket: &UdpSocket, peers: &[SocketAddr], message: &[u8]) -> u64 {
    let mut blocked = 0;
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    for chunk in peers.chunks(BATCH) {
        let addrs: Vec<Option<SockaddrStorage>> =
            chunk.iter().map(|peer| Some((*peer).into())).collect();
        let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|_| [IoSlice::new(message)]).collect();
        let sent = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addrs,
            [],
            MsgFlags::MSG_DONTWAIT,
        )
        .map_or(0, Iterator::count);
        blocked += (chunk.len() - sent) as u64;
    }
    blocked
}

async fn accept_tcp(listener: TcpListener, mode: Mode, players: Arc<Mutex<Players>>) -> Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let stream = Arc::new(stream);
        tokio::spawn(read_tcp(Arc::clone(&stream)));
        let mut players = players.lock().expect("players");
        if mode == Mode::TcpTask {
            let slot = Arc::new(Slot::default());
            tokio::spawn(write_tcp(stream, Arc::clone(&slot)));
            players.tcp_task.push(slot);
        } else {
            players.tcp_direct.push(stream);
        }
    }
}

/// Reads and drops whatever a player sends.
async fn read_tcp(stream: Arc<TcpStream>) {
    let mut buf = vec![0u8; 4096];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Writes each message the tick leaves in the slot, woken per message.
async fn write_tcp(stream: Arc<TcpStream>, slot: Arc<Slot>) {
    loop {
        slot.notify.notified().await;
        let Some(message) = slot.message.lock().expect("slot").take() else {
            continue;
        };
        let mut rest = message;
        while !rest.is_empty() {
            if stream.writable().await.is_err() {
                return;
            }
            match stream.try_write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// Reads every player's datagrams; a new sender becomes a player.
async fn read_udp(socket: Arc<UdpSocket>, players: Arc<Mutex<Players>>) -> Result<()> {
    let mut known = HashSet::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let (_, peer) = socket.recv_from(&mut buf).await?;
        if known.insert(peer) {
            players.lock().expect("players").udp.push(peer);
        }
    }
}

async fn load(
    mode: Mode,
    addr: SocketAddr,
    players: usize,
    hz: u32,
    bytes: usize,
    ramp: u32,
    duration: u64,
) -> Result<()> {
    let message: &'static [u8] = Vec::leak(vec![0x93; bytes]);
    let period = Duration::from_secs(1) / hz;
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    for i in 0..players {
        let at = start + Duration::from_secs(1) * i as u32 / ramp.max(1);
        tokio::time::sleep_until(at).await;
        let received = Arc::clone(&received);
        match mode {
            Mode::Udp | Mode::UdpBatch => {
                let socket = UdpSocket::bind("127.0.0.1:0").await?;
                socket.connect(addr).await?;
                tokio::spawn(play_udp(socket, message, period, received));
            }
            _ => {
                let stream = TcpStream::connect(addr).await.context("connecting")?;
                stream.set_nodelay(true)?;
                tokio::spawn(play_tcp(stream, message, period, received));
            }
        }
    }
    println!("READY");
    tokio::time::sleep_until(start + Duration::from_secs(duration)).await;
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    if got == 0 {
        bail!("no player received anything");
    }
    println!("received {got} bytes");
    Ok(())
}

async fn play_tcp(
    stream: TcpStream,
    message: &'static [u8],
    period: Duration,
    received: Arc<std::sync::atomic::AtomicU64>,
) {
    let (mut read, mut write) = stream.into_split();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n @ 1..) = read.read(&mut buf).await {
            received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        if write.write_all(message).await.is_err() {
            return;
        }
    }
}

async fn play_udp(
    socket: UdpSocket,
    message: &'static [u8],
    period: Duration,
    received: Arc<std::sync::atomic::AtomicU64>,
) {
    let socket = Arc::new(socket);
    let reader = Arc::clone(&socket);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = reader.recv(&mut buf).await {
            received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        if socket.send(message).await.is_err() {
            return;
        }
    }
}
