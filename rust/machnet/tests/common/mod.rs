//! Shared by the integration tests: they need a running machnetd with [nic] mode = "none"
//! (address 127.0.0.1) whose application socket is in MACHNET_SOCKET.
//! tests/integration/test_rust.py starts one and runs `cargo test` against it.

#![allow(dead_code)]

use std::io;
use std::time::{Duration, Instant};

/// False (and a note on stderr) when no daemon was given: the test then does nothing.
/// test_rust.py fails if it sees the note.
pub fn have_daemon() -> bool {
    if std::env::var_os("MACHNET_SOCKET").is_some() {
        return true;
    }
    eprintln!("SKIPPED: set MACHNET_SOCKET to a running machnetd's app socket ([nic] mode = \"none\")");
    false
}

pub const LOCAL: &str = "127.0.0.1";

/// Connects, retrying while nobody listens yet (a listener in another process starting).
pub fn connect_retry(ch: &machnet::Channel, port: u16) -> machnet::Flow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ch.connect(LOCAL, LOCAL, port) {
            Ok(flow) => return flow,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("connect to port {}: {}", port, e),
        }
    }
}

/// Sends, retrying while the channel's buffers are full.
pub fn send_all(ch: &mut machnet::Channel, flow: &machnet::Flow, msg: &[u8]) {
    loop {
        match ch.send(flow, msg) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("send {} bytes: {}", msg.len(), e),
        }
    }
}

/// Receives one message within 30 s or panics.
pub fn recv_one(ch: &mut machnet::Channel, buf: &mut [u8]) -> machnet::Message {
    match ch.recv_timeout(buf, Some(Duration::from_secs(30))) {
        Ok(Some(m)) => m,
        Ok(None) => panic!("no message within 30 s"),
        Err(e) => panic!("recv: {}", e),
    }
}

/// Bytes that differ by position and size, so a misplaced or truncated copy shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed as u32) as u8 ^ (i >> 13) as u8).collect()
}
