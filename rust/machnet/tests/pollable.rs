//! The channel's descriptor (Channel::pollable, AsRawFd/AsFd) as an event loop uses it,
//! against a real machnetd with [nic] mode = "none": quiet when nothing is pending, readable
//! when a message arrives, an echo server driven only by waiting on it (poll(2) standing in
//! for epoll, mio or tokio), byte-exact.

mod common;

use common::*;
use std::os::raw::{c_int, c_short};
use std::os::unix::io::{AsFd, AsRawFd};

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}
const POLLIN: c_short = 1;
extern "C" {
    fn poll(fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int;
}

/// poll(2) on one descriptor for readability: true if readable within timeout_ms.
fn readable(fd: c_int, timeout_ms: c_int) -> bool {
    let mut p = PollFd { fd, events: POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; the test's stand-in for an event loop library.
    let r = unsafe { poll(&mut p, 1, timeout_ms) };
    assert!(r >= 0, "poll: {}", std::io::Error::last_os_error());
    r > 0
}

#[test]
fn descriptor_drives_an_echo_server() {
    if !have_daemon() {
        return;
    }
    let mut server = machnet::Channel::attach().expect("attach");
    server.listen(LOCAL, 7002).expect("listen");
    let fd = server.pollable().expect("pollable");
    assert_eq!(server.pollable().unwrap(), fd, "the same descriptor each time");
    assert_eq!(server.as_raw_fd(), fd);
    assert_eq!(server.as_fd().as_raw_fd(), fd);
    let mut buf = vec![0u8; 1 << 20];
    assert_eq!(server.recv(&mut buf).unwrap(), None);
    assert!(!readable(fd, 50), "readable with nothing pending");

    const N: usize = 200;
    let client = std::thread::spawn(|| {
        let mut ch = machnet::Channel::attach().expect("attach");
        let flow = connect_retry(&ch, 7002);
        let mut buf = vec![0u8; 1 << 20];
        for i in 0..N {
            let msg = pattern(1 + (i * 4099) % (1 << 16), i as u8);
            send_all(&mut ch, &flow, &msg);
            let m = recv_one(&mut ch, &mut buf);
            assert!(buf[..m.len] == msg[..], "echo {} differs", i);
        }
    });
    let mut echoed = 0;
    while echoed < N {
        // Receive until nothing is pending, then wait on the descriptor: never spin.
        while let Some(m) = server.recv(&mut buf).expect("recv") {
            send_all(&mut server, &m.flow.reversed(), &buf[..m.len]);
            echoed += 1;
        }
        if echoed < N {
            assert!(readable(fd, 10_000), "no wake-up within 10 s after {} echoes", echoed);
        }
    }
    client.join().unwrap();
}

#[test]
#[should_panic(expected = "pollable")]
fn as_raw_fd_before_pollable_panics_with_the_reason() {
    if !have_daemon() {
        panic!("pollable (no daemon: nothing to check)");
    }
    let ch = machnet::Channel::attach().expect("attach");
    let _ = ch.as_raw_fd();
}
