//! Without a daemon at MACHNET_SOCKET, init and attach fail with NotFound and a sentence
//! that says what to check. Its own test binary: machnet_init connects once per process.

#[test]
fn init_and_attach_without_daemon() {
    std::env::set_var("MACHNET_SOCKET", "/nonexistent/machnet-rust-test.sock");
    let e = machnet::init().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{}", e);
    let details = machnet::Error::of(&e).expect("machnet error");
    assert_eq!(details.errno(), machnet::errno::ENOENT);
    assert_eq!(details.op(), "machnet_init");
    assert!(e.to_string().contains("machnetd"), "{}", e);
    let e = machnet::Channel::attach().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{}", e);
}
