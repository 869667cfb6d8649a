//! A real `redis-server` for one test, on its own free port, that the test
//! can stop and restart on the same port to simulate an outage, or freeze
//! to simulate a Redis that does not answer.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process owned by a test; killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Where a persistent server keeps its append-only file.
    dir: Option<crate::TempDir>,
    /// Further `redis-server` arguments (a cluster member's).
    extra: Vec<String>,
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    /// Starts a fresh, empty, non-persistent server and waits until it
    /// answers.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: None,
            extra: Vec::new(),
        };
        server.spawn();
        server
    }

    /// A server started with further arguments (a cluster member).
    pub(crate) fn start_with(extra: Vec<String>) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: None,
            extra,
        };
        server.spawn();
        server
    }

    /// A server that writes every command to an append-only file before
    /// answering (`appendfsync always`), so a [`RedisServer::restart`] (a
    /// kill, then a start) keeps everything it acknowledged, as a
    /// production Redis holding leaderboards would.
    pub fn start_persistent() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: Some(crate::TempDir::new("redis")),
            extra: Vec::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let persistence = match &self.dir {
            Some(dir) => vec![
                "--appendonly".to_owned(),
                "yes".to_owned(),
                "--appendfsync".to_owned(),
                "always".to_owned(),
                "--dir".to_owned(),
                dir.path().display().to_string(),
            ],
            None => vec!["--appendonly".to_owned(), "no".to_owned()],
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--protected-mode", "no"])
            .args(&persistence)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers a PING.
    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its data is gone: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and new ones are
    /// accepted by the kernel, but nothing is answered, as with a hung or
    /// overloaded Redis. Its data stays.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT) with everything it had.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts it again on the same port: empty, or, for a persistent one,
    /// with everything it acknowledged.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
