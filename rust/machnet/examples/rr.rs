//! rr: msg_gen's request-reply benchmark written with the safe Rust binding, to measure what
//! the binding costs per message next to C's msg_gen (bench/run.sh --rust runs both).
//!
//!   server:  rr --local_ip 127.0.0.1
//!   client:  rr --local_ip 127.0.0.1 --remote_ip 127.0.0.1 --msg_size 1024 --msg_window 32 --duration 5 --json
//!
//! The same flags, wait strategy (poll with a yield while traffic flows, sleep in 10 ms waits
//! after --spin_us of silence) and JSON summary as msg_gen (examples/bench_report.h), so
//! bench/run.sh reads both alike. MACHNET_SOCKET names the daemon's socket.

use machnet::{Channel, Flow};
use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

const HEADER: usize = 16; // sequence number and timestamp, as msg_gen's
const IDLE_WAIT: Duration = Duration::from_millis(10);

struct Options {
    local_ip: String,
    remote_ip: Option<String>,
    local_port: u16,
    remote_port: u16,
    msg_size: usize,
    msg_window: usize,
    duration: f64,
    spin_us: u64,
    json: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        local_ip: String::new(),
        remote_ip: None,
        local_port: 888,
        remote_port: 888,
        msg_size: 64,
        msg_window: 8,
        duration: 0.0,
        spin_us: 200,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if name == "--json" {
            o.json = true;
            continue;
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{} needs a value", name)),
        };
        let bad = |e: &dyn std::fmt::Display| format!("{} {}: {}", name, value, e);
        match name.as_str() {
            "--local_ip" => o.local_ip = value.clone(),
            "--remote_ip" => o.remote_ip = Some(value.clone()),
            "--local_port" => o.local_port = value.parse().map_err(|e| bad(&e))?,
            "--remote_port" => o.remote_port = value.parse().map_err(|e| bad(&e))?,
            "--msg_size" => o.msg_size = value.parse().map_err(|e| bad(&e))?,
            "--msg_window" => o.msg_window = value.parse().map_err(|e| bad(&e))?,
            "--duration" => o.duration = value.parse().map_err(|e| bad(&e))?,
            "--spin_us" => o.spin_us = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {}", name)),
        }
    }
    if o.local_ip.is_empty() {
        return Err("--local_ip is required".into());
    }
    if o.msg_size < HEADER || o.msg_size > machnet::MAX_MSG_LEN {
        return Err(format!("--msg_size must be {}..{}", HEADER, machnet::MAX_MSG_LEN));
    }
    if o.msg_window == 0 {
        return Err("--msg_window must be at least 1".into());
    }
    Ok(o)
}

/// This process's CPU time in seconds (/proc/self/schedstat: ns on the CPU).
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

fn send_retry(ch: &mut Channel, flow: &Flow, buf: &[u8]) -> io::Result<()> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match ch.send(flow, buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < give_up => std::thread::yield_now(),
            other => return other,
        }
    }
}

fn server(o: &Options) -> io::Result<()> {
    let mut ch = Channel::attach()?;
    ch.listen(&o.local_ip, o.local_port)?;
    eprintln!("rr: listening on {}:{}", o.local_ip, o.local_port);
    let mut buf = vec![0u8; o.msg_size.max(64 * 1024)];
    let spin = Duration::from_micros(o.spin_us);
    let mut last_activity = Instant::now();
    loop {
        let idle = last_activity.elapsed() > spin;
        let got = if idle { ch.recv_timeout(&mut buf, Some(IDLE_WAIT)) } else { ch.recv(&mut buf) };
        match got {
            Ok(Some(m)) => {
                last_activity = Instant::now();
                send_retry(&mut ch, &m.flow.reversed(), &buf[..m.len])?;
            }
            Ok(None) => {
                if !idle {
                    std::thread::yield_now();
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if machnet::Error::of(&e).map_or(false, |d| d.errno() == machnet::errno::EMSGSIZE) => {
                let bigger = (buf.len() * 2).min(machnet::MAX_MSG_LEN);
                buf.resize(bigger, 0);
            }
            Err(e) if machnet::Error::of(&e).and_then(|d| d.flow()).is_some() => eprintln!("rr: {}", e),
            Err(e) => return Err(e),
        }
    }
}

fn client(o: &Options, remote: &str) -> io::Result<()> {
    let mut ch = Channel::attach()?;
    let flow = ch.connect(&o.local_ip, remote, o.remote_port)?;
    let mut tx = vec![0u8; o.msg_size];
    for (i, b) in tx.iter_mut().enumerate().skip(HEADER) {
        *b = (i as u8).wrapping_mul(131);
    }
    let mut rx = vec![0u8; o.msg_size.max(64 * 1024)];
    let epoch = Instant::now();
    let ns = || epoch.elapsed().as_nanos() as u64;
    let end = if o.duration > 0.0 { (o.duration * 1e9) as u64 } else { u64::MAX };
    let spin = o.spin_us * 1000;
    let mut latencies: Vec<u64> = Vec::with_capacity(1 << 20);
    let (mut next_seq, mut in_flight, mut last_activity) = (0u64, 0usize, 0u64);
    let mut sending = true;
    let mut drain_until = 0;
    loop {
        let now = ns();
        if sending && now >= end {
            sending = false;
            drain_until = now + 1_000_000_000;
        }
        if !sending && (in_flight == 0 || now >= drain_until) {
            break;
        }
        while sending && in_flight < o.msg_window {
            let stamp = ns();
            tx[..8].copy_from_slice(&next_seq.to_le_bytes());
            tx[8..16].copy_from_slice(&stamp.to_le_bytes());
            match ch.send(&flow, &tx) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            next_seq += 1;
            in_flight += 1;
            last_activity = stamp;
        }
        let idle = ns().saturating_sub(last_activity) > spin;
        let got = if idle { ch.recv_timeout(&mut rx, Some(IDLE_WAIT))? } else { ch.recv(&mut rx)? };
        match got {
            Some(m) if m.len >= HEADER => {
                let now = ns();
                last_activity = now;
                let stamp = u64::from_le_bytes(rx[8..16].try_into().unwrap());
                latencies.push(now.saturating_sub(stamp));
                in_flight -= 1;
            }
            Some(m) => return Err(io::Error::new(ErrorKind::InvalidData, format!("a {}-byte reply", m.len))),
            None if !idle => std::thread::yield_now(),
            None => {}
        }
    }
    let secs = ns() as f64 / 1e9; // start to the last reply, as msg_gen counts
    let msgs = latencies.len();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        latencies[i] as f64 / 1e3
    };
    let rate = msgs as f64 / secs;
    let gbit = rate * o.msg_size as f64 * 8.0 / 1e9;
    if o.json {
        println!(
            "{{\"tool\":\"rr\",\"transport\":\"machnet-rust\",\"role\":\"client\",\"ok\":true,\"msg_size\":{},\
             \"msg_window\":{},\"seconds\":{:.3},\"messages\":{},\"msgs_per_s\":{:.1},\"gbit_per_s\":{:.4},\
             \"latency_us\":{{\"p50\":{:.2},\"p99\":{:.2},\"p99.9\":{:.2},\"max\":{:.2}}},\"cpu_s\":{:.4}}}",
            o.msg_size, o.msg_window, secs, msgs, rate, gbit, pct(50.0), pct(99.0), pct(99.9), pct(100.0), cpu_s()
        );
    } else {
        println!(
            "[rr machnet-rust] {} round trips of {} B in {:.2} s (window {}): {:.0} msgs/s, {:.3} Gbit/s, \
             p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
            msgs, o.msg_size, secs, o.msg_window, rate, gbit, pct(50.0), pct(99.0), pct(99.9)
        );
    }
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rr: {} (flags as msg_gen's: --local_ip, --remote_ip, --msg_size, --msg_window, --duration, --json)", e);
            std::process::exit(2);
        }
    };
    let result = match o.remote_ip.clone() {
        Some(remote) => client(&o, &remote),
        None => server(&o),
    };
    if let Err(e) = result {
        if o.json {
            println!("{{\"tool\":\"rr\",\"ok\":false,\"error\":{:?}}}", e.to_string());
        }
        eprintln!("rr: {}", e);
        std::process::exit(1);
    }
}
