//! The documented failures of machnet.h, as io::Errors, against a real machnetd with
//! [nic] mode = "none": kinds, errnos, libmachnet's sentence, and that the channel keeps
//! working afterwards.

mod common;

use common::*;
use machnet::{errno, Channel, Error};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

fn errno_of(e: &std::io::Error) -> i32 {
    Error::of(e).unwrap_or_else(|| panic!("not a machnet error: {:?}", e)).errno()
}

#[test]
fn listen_errors() {
    if !have_daemon() {
        return;
    }
    let a = Channel::attach().unwrap();
    let e = a.listen("not-an-ip", 7100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(errno_of(&e), errno::EINVAL);
    assert!(e.to_string().contains("not-an-ip"), "{}", e);
    let e = a.listen("127.0.0\0.1", 7100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = a.listen("10.255.0.7", 7100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{}", e);
    assert_eq!(errno_of(&e), errno::EADDRNOTAVAIL);
    a.listen(LOCAL, 7100).unwrap();
    let b = Channel::attach().unwrap();
    let e = b.listen(LOCAL, 7100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{}", e);
    assert_eq!(Error::of(&e).unwrap().op(), "machnet_listen");
    // Detaching a frees the port.
    a.detach().unwrap();
    b.listen(LOCAL, 7100).unwrap();
}

#[test]
fn connect_errors() {
    if !have_daemon() {
        return;
    }
    let ch = Channel::attach().unwrap();
    let e = ch.connect(LOCAL, LOCAL, 7199).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{}", e);
    assert_eq!(errno_of(&e), errno::ECONNREFUSED);
    assert!(!Error::of(&e).unwrap().message().is_empty());
    let e = ch.connect("10.255.0.7", LOCAL, 7199).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{}", e);
    let e = ch.connect(LOCAL, "nowhere", 7199).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}", e);
}

#[test]
fn send_recv_errors_and_recovery() {
    if !have_daemon() {
        return;
    }
    let mut server = Channel::attach().unwrap();
    server.listen(LOCAL, 7101).unwrap();
    let mut client = Channel::attach().unwrap();
    let flow = client.connect(LOCAL, LOCAL, 7101).unwrap();

    // Too long: EMSGSIZE, nothing sent.
    let huge = vec![0u8; machnet::MAX_MSG_LEN + 1];
    let e = client.send(&flow, &huge).unwrap_err();
    assert_eq!(errno_of(&e), errno::EMSGSIZE, "{}", e);

    // Nothing pending: None at once; with a timeout, None after it.
    let mut buf = vec![0u8; 4096];
    assert_eq!(server.recv(&mut buf).unwrap(), None);
    let start = Instant::now();
    assert_eq!(server.recv_timeout(&mut buf, Some(Duration::from_millis(50))).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(45), "{:?}", start.elapsed());

    // A receive buffer too small: EMSGSIZE, and the message stays queued whole.
    let msg = pattern(3000, 9);
    send_all(&mut client, &flow, &msg);
    let mut small = [0u8; 100];
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        match server.recv(&mut small) {
            Ok(None) if Instant::now() < deadline => std::thread::yield_now(),
            Ok(other) => panic!("expected EMSGSIZE, got {:?}", other),
            Err(e) => break e,
        }
    };
    assert_eq!(errno_of(&e), errno::EMSGSIZE, "{}", e);
    let m = recv_one(&mut server, &mut buf);
    assert_eq!(m.len, 3000);
    assert!(buf[..3000] == msg[..]);
    assert_eq!(m.flow, flow, "as travelled: src = the client that connected");

    // Closing: an unknown flow is NotFound; a known one closes once.
    let mut bogus = flow;
    bogus.dst_port = 7198;
    let e = client.close_flow(&bogus).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{}", e);
    client.close_flow(&flow).unwrap();
    let e = client.close_flow(&flow).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{}", e);
}
