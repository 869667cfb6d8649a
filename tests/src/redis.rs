//! A real `redis-server` for one test, on its own free port, that the test
//! can stop and restart on the same port to simulate an outage, or freeze
//! to simulate a Redis that does not answer.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An argument of [`RedisServer::start_with`] replaced by a free port at
/// each start.
pub(crate) const FREE_PORT: &str = "{free port}";

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
fn free_port() -> u16 {
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
        server.launch();
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
        server.launch();
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
        server.launch();
        server
    }

    /// Starts the server on a fresh free port, trying other ports when
    /// another process took the one picked before the server bound it (the
    /// other tests of the run pick ports at the same time).
    fn launch(&mut self) {
        for _ in 0..5 {
            if self.spawn().is_ok() {
                return;
            }
            self.port = free_port();
        }
        self.spawn()
            .unwrap_or_else(|why| panic!("redis-server did not start: {why}"));
    }

    /// Starts the server on its port and waits until it answers; an error
    /// when it exited (its port was taken) or another server answers there.
    fn spawn(&mut self) -> Result<(), String> {
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
        // A placeholder for another port the server needs (a cluster bus).
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|arg| match arg.as_str() {
                FREE_PORT => free_port().to_string(),
                _ => arg.clone(),
            })
            .collect();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--protected-mode", "no"])
            .args(&persistence)
            .args(&extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcome = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("it exited ({status}) on port {}", self.port));
            }
            match self.answering_pid() {
                Some(answering) if answering == pid => break Ok(()),
                Some(other) => {
                    break Err(format!(
                        "another server (pid {other}) answers on port {}",
                        self.port
                    ));
                }
                None if Instant::now() >= deadline => {
                    break Err(format!("no answer on port {} within 10 s", self.port));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        if outcome.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            self.child = Some(child);
        }
        outcome
    }

    /// The process id of the server answering on the port, if one does.
    fn answering_pid(&self) -> Option<u32> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        stream.write_all(b"INFO server\r\n").ok()?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        // The bulk reply ends with the last field and CRLF; `process_id`
        // comes early, well within the first reads.
        while !String::from_utf8_lossy(&reply).contains("process_id:") || !reply.ends_with(b"\r\n")
        {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&reply);
        let line = text.lines().find(|l| l.starts_with("process_id:"))?;
        line["process_id:".len()..].trim().parse().ok()
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
        if let Err(why) = self.spawn() {
            panic!("redis-server did not start again: {why}");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
