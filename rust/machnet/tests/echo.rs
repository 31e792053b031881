//! Local delivery through a real machnetd: the echo example (examples/echo.rs, the code of
//! docs/bindings.md) answers messages of 0 B to 8 MiB byte for byte; an echo thread in this
//! process (a Channel moved to another thread) carries flags. Not covered: the network
//! (the daemon has no NIC here).

mod common;

use common::*;
use std::io::IoSlice;
use std::path::PathBuf;
use std::process::{Child, Command};

/// The echo example's binary: `cargo test` builds examples beside the test binaries.
fn echo_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap(); // target/<profile>/deps/echo-<hash>
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("echo")
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn echo_example_returns_every_size_byte_exact() {
    if !have_daemon() {
        return;
    }
    let path = echo_example();
    let mut server = KillOnDrop(Command::new(&path).spawn().unwrap_or_else(|e| panic!("{}: {}", path.display(), e)));
    let mut ch = machnet::Channel::attach().expect("attach");
    let flow = connect_retry(&ch, 7000);
    assert_eq!(flow.src_ip, flow.dst_ip);
    assert_eq!(flow.dst_port, 7000);
    let mut buf = vec![0u8; machnet::MAX_MSG_LEN];
    let mut sizes = vec![0usize, 1, 2, 3, 63, 64, 1000, 1024, 4095, 4096, 9000, 65_536, 1 << 20];
    sizes.extend([machnet::MAX_MSG_LEN - 1, machnet::MAX_MSG_LEN]);
    for (i, &size) in sizes.iter().enumerate() {
        let msg = pattern(size, i as u8);
        send_all(&mut ch, &flow, &msg);
        let m = recv_one(&mut ch, &mut buf);
        assert_eq!(m.len, size, "echo of {} bytes came back with {}", size, m.len);
        assert!(buf[..m.len] == msg[..], "echo of {} bytes differs", size);
        assert_eq!(m.flow, flow.reversed(), "the reply travels the flow backwards");
    }
    // The daemon publishes a channel's counters once per engine loop, after it moved the
    // messages: the last echo can arrive a loop before its counters do.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut stats = ch.stats().expect("stats");
    while (stats.msgs_sent, stats.msgs_received) != (sizes.len() as u64, sizes.len() as u64)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
        stats = ch.stats().expect("stats");
    }
    assert_eq!(stats.msgs_sent, sizes.len() as u64);
    assert_eq!(stats.msgs_received, sizes.len() as u64);
    assert_eq!(stats.drops_total, 0);
    assert!(server.0.try_wait().unwrap().is_none(), "the echo example exited");
    ch.detach().expect("detach");
}

#[test]
fn channel_moves_to_a_thread_and_flags_travel() {
    if !have_daemon() {
        return;
    }
    let server = machnet::Channel::attach().expect("attach");
    server.listen(LOCAL, 7001).expect("listen");
    let echo = std::thread::spawn(move || {
        let mut server = server; // Send: the channel now lives on this thread
        let mut buf = vec![0u8; 1 << 16];
        for _ in 0..100 {
            let m = loop {
                if let Some(m) = server.recv(&mut buf).expect("recv") {
                    break m;
                }
                std::thread::yield_now();
            };
            let reply = [&buf[..m.len], &m.flags.to_le_bytes()[..]].concat();
            send_all(&mut server, &m.flow.reversed(), &reply);
        }
    });
    let mut ch = machnet::Channel::attach().expect("attach");
    let flow = connect_retry(&ch, 7001);
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..100u16 {
        let head = pattern(i as usize * 7, 1);
        let tail = pattern(i as usize * 13 + 1, 2);
        ch.send_vectored(&flow, &[IoSlice::new(&head), IoSlice::new(&tail)], i).expect("send_vectored");
        let m = loop {
            if let Some(m) = ch.recv(&mut buf).expect("recv") {
                break m;
            }
            std::thread::yield_now();
        };
        let want = [&head[..], &tail[..], &i.to_le_bytes()[..]].concat();
        assert!(buf[..m.len] == want[..], "message {} differs", i);
    }
    echo.join().unwrap();
}
