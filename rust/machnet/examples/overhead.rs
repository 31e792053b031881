//! The Rust binding's own cost per message, without waiting for anyone: queue N messages on
//! one channel (timing each send), let the daemon deliver them all to a second channel, then
//! take them out (timing each receive). The same with the raw machnet-sys calls (libmachnet,
//! no binding) tells how much the safe layer adds per message. As python/examples/overhead.py.
//!
//!   overhead [--size BYTES] [--count N] [--rounds R] [--port P]
//!
//! MACHNET_SOCKET names a daemon with [nic] mode = "none" (address 127.0.0.1). Prints one JSON
//! object: the median over the rounds of the mean ns per call.

use machnet::{sys, Channel, Flow};
use std::os::raw::c_void;
use std::time::{Duration, Instant};

fn wait_delivered(ch: &Channel, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ch.stats().expect("stats").msgs_received < total {
        assert!(Instant::now() < deadline, "the daemon did not deliver the batch within 30 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let (mut size, mut count, mut rounds, mut port) = (1024usize, 500usize, 20usize, 7777u16);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).map(|s| s.as_str()).unwrap_or("");
        match pair[0].as_str() {
            "--size" => size = v.parse().expect("--size"),
            "--count" => count = v.parse().expect("--count"),
            "--rounds" => rounds = v.parse().expect("--rounds"),
            "--port" => port = v.parse().expect("--port"),
            other => panic!("unknown flag {} (--size, --count, --rounds, --port)", other),
        }
    }
    let mut server = Channel::attach().expect("attach");
    server.listen("127.0.0.1", port).expect("listen");
    let mut client = Channel::attach().expect("attach");
    let flow: Flow = client.connect("127.0.0.1", "127.0.0.1", port).expect("connect");
    let raw_flow: sys::MachnetFlow_t = flow.into();
    let tx = vec![7u8; size];
    let mut rx = vec![0u8; size.max(1)];
    let (mut send, mut recv, mut raw_send, mut raw_recv) = (vec![], vec![], vec![], vec![]);
    let mut delivered = 0u64;
    for _ in 0..rounds {
        // The safe layer.
        let t = Instant::now();
        for _ in 0..count {
            client.send(&flow, &tx).expect("send");
        }
        send.push(t.elapsed().as_nanos() as f64 / count as f64);
        delivered += count as u64;
        wait_delivered(&server, delivered);
        let t = Instant::now();
        for _ in 0..count {
            server.recv(&mut rx).expect("recv").expect("a delivered message");
        }
        recv.push(t.elapsed().as_nanos() as f64 / count as f64);

        // The same calls straight into libmachnet.
        let (c, s) = (client.as_ptr(), server.as_ptr());
        let t = Instant::now();
        for _ in 0..count {
            // SAFETY: valid channel, buffer of tx.len() bytes; this thread is the only user.
            let r = unsafe { sys::machnet_send(c, raw_flow, tx.as_ptr() as *const c_void, tx.len()) };
            assert_eq!(r, 0, "machnet_send");
        }
        raw_send.push(t.elapsed().as_nanos() as f64 / count as f64);
        delivered += count as u64;
        wait_delivered(&server, delivered);
        let mut from = sys::MachnetFlow_t::default();
        let t = Instant::now();
        for _ in 0..count {
            // SAFETY: as above, rx writable for its length.
            let n = unsafe { sys::machnet_recv(s, rx.as_mut_ptr() as *mut c_void, rx.len(), &mut from) };
            assert!(n >= 0 && (n > 0 || size == 0), "machnet_recv");
        }
        raw_recv.push(t.elapsed().as_nanos() as f64 / count as f64);
    }
    let (s, r, rs, rr) = (median(send), median(recv), median(raw_send), median(raw_recv));
    println!(
        "{{\"size\":{},\"count\":{},\"rounds\":{},\"send_ns\":{:.1},\"recv_ns\":{:.1},\"raw_send_ns\":{:.1},\
         \"raw_recv_ns\":{:.1},\"binding_ns_per_message\":{:.1}}}",
        size,
        count,
        rounds,
        s,
        r,
        rs,
        rr,
        (s + r) - (rs + rr)
    );
}
