//! Safe Rust binding of libmachnet: kernel-bypass messaging through the local `machnetd`.
//!
//! A [`Channel`] is shared memory between this process and the daemon. On it you
//! [`listen`](Channel::listen) on a port, [`connect`](Channel::connect) flows, and
//! [`send`](Channel::send) / [`recv`](Channel::recv) whole messages of up to
//! [`MAX_MSG_LEN`] bytes, delivered reliably and in order per flow. Dropping the channel
//! gives it back to the daemon (its listeners and flows close).
//!
//! ```no_run
//! fn main() -> std::io::Result<()> {
//!     let mut ch = machnet::Channel::attach()?;
//!     ch.listen("127.0.0.1", 7000)?;
//!     let mut buf = vec![0u8; machnet::MAX_MSG_LEN];
//!     loop {
//!         if let Some(m) = ch.recv_timeout(&mut buf, None)? {
//!             ch.send(&m.flow.reversed(), &buf[..m.len])?;
//!         }
//!     }
//! }
//! ```
//!
//! # Threads
//!
//! machnet.h: control calls (attach, detach, listen, connect, close) may be made from any
//! thread; data calls (send, recv) on one channel must not run concurrently. So a
//! `Channel` is `Send` (it may move to another thread) and `Sync` (it may be shared), and
//! the type system enforces the rest: control calls and [`stats`](Channel::stats) take
//! `&self`, data calls take `&mut self`, so two threads can never send or receive on one
//! channel at once. Use one channel per thread for parallel data, as in C.
//!
//! # Event loops
//!
//! [`Channel::pollable`] arms the channel's descriptor (`machnet_channel_fd`); the channel
//! then implements [`AsRawFd`] and [`AsFd`], so it can be registered with epoll, mio or
//! tokio's `AsyncFd` next to sockets: receive until `Ok(None)`, then wait for readability.
//!
//! # Errors
//!
//! Every failure is a [`std::io::Error`] whose [`kind`](std::io::Error::kind) follows the
//! C function's `errno` (`ECONNREFUSED` → `ConnectionRefused`, `EADDRINUSE` → `AddrInUse`,
//! ..., with one change: `ENOBUFS`, "send buffers full, retry later", is `WouldBlock`). Its
//! inner error is a [`machnet::Error`](Error) with the errno, libmachnet's sentence
//! (`machnet_last_error()`) and, for a failed flow, the flow: see [`Error::of`].
//!
//! Linking: `pkg-config --libs machnet` (libmachnet-dev / libmachnet-devel), or the
//! directory in `MACHNET_LIB_DIR` (see machnet-sys).

#![deny(missing_docs)]

use std::ffi::{CStr, CString};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::Ipv4Addr;
use std::os::raw::c_void;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

pub use machnet_sys as sys;

/// The longest message the API accepts (`MACHNET_MSG_MAX_LEN`, 8 MiB). A daemon may be
/// configured lower: see [`ChannelStats::max_message_bytes`].
pub const MAX_MSG_LEN: usize = sys::MACHNET_MSG_MAX_LEN as usize;

/// A channel's counters as the daemon keeps them (`MachnetChannelStats_t`).
pub type ChannelStats = sys::MachnetChannelStats_t;

/// The Linux `errno` values machnet.h documents, for matching [`Error::errno`] without a
/// libc crate.
pub mod errno {
    #![allow(missing_docs)]
    pub const ENOENT: i32 = 2;
    pub const EINTR: i32 = 4;
    pub const EACCES: i32 = 13;
    pub const EINVAL: i32 = 22;
    pub const EMFILE: i32 = 24;
    pub const ENOSPC: i32 = 28;
    pub const EPROTO: i32 = 71;
    pub const EMSGSIZE: i32 = 90;
    pub const EADDRINUSE: i32 = 98;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETUNREACH: i32 = 101;
    pub const ECONNRESET: i32 = 104;
    pub const ENOBUFS: i32 = 105;
    pub const ENOTCONN: i32 = 107;
    pub const ETIMEDOUT: i32 = 110;
    pub const ECONNREFUSED: i32 = 111;
    pub const EHOSTUNREACH: i32 = 113;
}

/// One flow: the 4-tuple of a connection.
///
/// [`Channel::connect`] returns it with `src` = this side and `dst` = the remote. A received
/// [`Message`] carries it as the message travelled: `src` = the remote sender, `dst` = this
/// side; reply on [`reversed`](Flow::reversed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Source address.
    pub src_ip: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst_ip: Ipv4Addr,
    /// Destination port.
    pub dst_port: u16,
}

impl Flow {
    /// The same flow seen from the other end (source and destination swapped): the flow to
    /// reply on.
    pub fn reversed(&self) -> Flow {
        Flow { src_ip: self.dst_ip, src_port: self.dst_port, dst_ip: self.src_ip, dst_port: self.src_port }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} -> {}:{}", self.src_ip, self.src_port, self.dst_ip, self.dst_port)
    }
}

impl From<sys::MachnetFlow_t> for Flow {
    fn from(f: sys::MachnetFlow_t) -> Flow {
        Flow {
            src_ip: Ipv4Addr::from(f.src_ip),
            src_port: f.src_port,
            dst_ip: Ipv4Addr::from(f.dst_ip),
            dst_port: f.dst_port,
        }
    }
}

impl From<Flow> for sys::MachnetFlow_t {
    fn from(f: Flow) -> sys::MachnetFlow_t {
        sys::MachnetFlow_t {
            src_ip: u32::from(f.src_ip),
            dst_ip: u32::from(f.dst_ip),
            src_port: f.src_port,
            dst_port: f.dst_port,
        }
    }
}

/// What [`Channel::recv`] took: the message's bytes are `buf[..len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The message's length in bytes (0 for an empty message).
    pub len: usize,
    /// The flow as the message travelled (`src` = the sender).
    pub flow: Flow,
    /// The sender's flags, carried unchanged (0 from [`Channel::recv_timeout`]).
    pub flags: u16,
}

/// The details of a libmachnet failure, the inner error of the [`io::Error`]s this crate
/// returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    op: &'static str,
    errno: i32,
    message: String,
    flow: Option<Flow>,
}

impl Error {
    /// The machnet details of an error this crate returned (`None` for other errors).
    pub fn of(err: &io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref::<Error>()
    }

    /// The C function that failed, e.g. `"machnet_connect"`.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The `errno` it set (see [`errno`](mod@errno)).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// libmachnet's sentence about it (`machnet_last_error()`), or the system's text for
    /// the errno when the library gave none.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For `ECONNRESET` / `ETIMEDOUT` from a receive: the flow that failed, as travelled
    /// (`src` = the remote).
    pub fn flow(&self) -> Option<Flow> {
        self.flow
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.starts_with(self.op) {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.op, self.message)?;
        }
        if let Some(flow) = self.flow {
            write!(f, " (flow {})", flow)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The io::Error for errno `errno` from `op`, with libmachnet's sentence.
fn error_from(op: &'static str, errno: i32, flow: Option<Flow>) -> io::Error {
    // SAFETY: machnet_last_error returns a NUL-terminated string owned by the library,
    // valid until this thread's next libmachnet call; it is copied at once.
    let text = unsafe {
        let p = sys::machnet_last_error();
        if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    };
    let os = io::Error::from_raw_os_error(errno);
    let kind = if errno == errno::ENOBUFS { io::ErrorKind::WouldBlock } else { os.kind() };
    let message = if text.is_empty() { os.to_string() } else { text };
    io::Error::new(kind, Error { op, errno, message, flow })
}

/// The io::Error for the failure the last libmachnet call on this thread reported.
fn last_error(op: &'static str, flow: Option<Flow>) -> io::Error {
    // errno first: reading the sentence is a libmachnet call too.
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    error_from(op, errno, flow)
}

/// A Rust-side argument error (before any C call), as InvalidInput with errno EINVAL.
fn invalid(op: &'static str, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        Error { op, errno: errno::EINVAL, message: why, flow: None },
    )
}

fn c_string(op: &'static str, s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| invalid(op, format!("address contains a NUL byte: {:?}", s)))
}

/// Connects this process to machnetd (`machnet_init`): at the path in `MACHNET_SOCKET`, or
/// `/run/machnet/machnet.sock`. Idempotent and thread-safe; [`Channel::attach`] calls it, so
/// call it yourself only to check for the daemon early.
///
/// Errors: `NotFound` (no socket there), `ConnectionRefused` (no daemon behind it),
/// `PermissionDenied` (not in the daemon's group).
pub fn init() -> io::Result<()> {
    // SAFETY: no arguments; thread-safe per machnet.h.
    if unsafe { sys::machnet_init() } == 0 {
        Ok(())
    } else {
        Err(last_error("machnet_init", None))
    }
}

/// A channel to the daemon (`machnet_attach`). Detached when dropped.
///
/// `Send + Sync`: control calls take `&self` (libmachnet serialises them), data calls take
/// `&mut self` (machnet.h forbids concurrent data calls on one channel).
pub struct Channel {
    handle: NonNull<c_void>,
    fd: Option<RawFd>, // from machnet_channel_fd, once pollable() armed it
}

// SAFETY: machnet.h: a channel may be used from any thread, one thread at a time for data
// calls; the handle is not tied to the thread that attached it.
unsafe impl Send for Channel {}
// SAFETY: through &Channel only thread-safe calls are reachable (listen, connect,
// close_flow, stats: "Thread-safe" in machnet.h); send/recv need &mut Channel.
unsafe impl Sync for Channel {}

impl Channel {
    /// Connects to the daemon if needed ([`init`]) and creates a channel.
    ///
    /// Errors: those of [`init`]; `NotConnected` (the daemon went away), errno `ENOSPC`
    /// (the daemon's channel limit), `EPROTO` (daemon and library ABI differ).
    pub fn attach() -> io::Result<Channel> {
        init()?;
        // SAFETY: no arguments; returns an owned handle or NULL.
        let p = unsafe { sys::machnet_attach() };
        match NonNull::new(p) {
            Some(handle) => Ok(Channel { handle, fd: None }),
            None => Err(last_error("machnet_attach", None)),
        }
    }

    fn ptr(&self) -> *mut c_void {
        self.handle.as_ptr()
    }

    /// Listens on `local_ip:port` (the daemon's address as dotted-quad text); flows that
    /// connect there deliver their messages to this channel.
    ///
    /// Errors: `InvalidInput` (not an IPv4 address), `AddrNotAvailable` (not the daemon's
    /// address), `AddrInUse` (another channel listens there), `NotConnected`.
    pub fn listen(&self, local_ip: &str, port: u16) -> io::Result<()> {
        let ip = c_string("machnet_listen", local_ip)?;
        // SAFETY: valid handle and NUL-terminated string for the duration of the call.
        if unsafe { sys::machnet_listen(self.ptr(), ip.as_ptr(), port) } == 0 {
            Ok(())
        } else {
            Err(last_error("machnet_listen", None))
        }
    }

    /// Connects a flow from `local_ip` (the daemon's address) to `remote_ip:remote_port`;
    /// blocks until the daemon answers (for a remote address, until the peer accepted or
    /// `connect_timeout_ms` passed). Returns the flow with `src` = this side.
    ///
    /// Errors: `InvalidInput`, `AddrNotAvailable`, `ConnectionRefused` (nobody listens),
    /// `TimedOut`, errno `EHOSTUNREACH` (no ARP answer), `ENETUNREACH` (the daemon has no
    /// NIC), `EMFILE` (no free port), `NotConnected`.
    pub fn connect(&self, local_ip: &str, remote_ip: &str, remote_port: u16) -> io::Result<Flow> {
        let local = c_string("machnet_connect", local_ip)?;
        let remote = c_string("machnet_connect", remote_ip)?;
        let mut flow = sys::MachnetFlow_t::default();
        // SAFETY: valid handle, strings and out-pointer for the duration of the call.
        let r = unsafe {
            sys::machnet_connect(self.ptr(), local.as_ptr(), remote.as_ptr(), remote_port, &mut flow)
        };
        if r == 0 {
            Ok(flow.into())
        } else {
            Err(last_error("machnet_connect", None))
        }
    }

    /// Queues one message on `flow` (the bytes are copied before it returns).
    ///
    /// Errors: `WouldBlock` (errno `ENOBUFS`: the channel's buffers or send ring are full
    /// right now; retry), errno `EMSGSIZE` (longer than the channel's maximum). Delivery
    /// failures later are counted in [`stats`](Channel::stats), not reported here.
    pub fn send(&mut self, flow: &Flow, msg: &[u8]) -> io::Result<()> {
        // SAFETY: exclusive use of the channel (&mut); msg is valid for msg.len() bytes.
        let r = unsafe {
            sys::machnet_send(self.ptr(), (*flow).into(), msg.as_ptr() as *const c_void, msg.len())
        };
        if r == 0 {
            Ok(())
        } else {
            Err(last_error("machnet_send", None))
        }
    }

    /// As [`send`](Channel::send), gathering the message from `parts` and carrying `flags`
    /// to the receiver ([`Message::flags`]).
    pub fn send_vectored(&mut self, flow: &Flow, parts: &[IoSlice<'_>], flags: u16) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > u32::MAX as usize {
            return Err(invalid("machnet_sendmsg", format!("message of {} bytes is too long", total)));
        }
        let mut iov: Vec<sys::MachnetIovec_t> = parts
            .iter()
            .map(|p| sys::MachnetIovec_t { base: p.as_ptr() as *mut c_void, len: p.len() })
            .collect();
        let hdr = sys::MachnetMsgHdr_t {
            msg_size: total as u32,
            flow_info: (*flow).into(),
            msg_iov: iov.as_mut_ptr(),
            msg_iovlen: iov.len(),
            flags,
        };
        // SAFETY: exclusive use of the channel; the iovecs point into `parts`, which
        // outlive the call; libmachnet only reads through them.
        if unsafe { sys::machnet_sendmsg(self.ptr(), &hdr) } == 0 {
            Ok(())
        } else {
            Err(last_error("machnet_sendmsg", None))
        }
    }

    /// Takes the next message into `buf` without blocking: `Ok(Some(message))` (its bytes
    /// are `buf[..message.len]`), or `Ok(None)` when nothing is pending.
    ///
    /// Errors: errno `EMSGSIZE` (the message is longer than `buf`; it stays queued, call
    /// again with a larger buffer), `EPROTO` (the daemon handed over a malformed message;
    /// discarded), and once per failed flow `ConnectionReset` (reset by the peer) or
    /// `TimedOut` (the peer stopped answering), with [`Error::flow`] naming the flow.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<Message>> {
        let mut iov = sys::MachnetIovec_t { base: buf.as_mut_ptr() as *mut c_void, len: buf.len() };
        let mut hdr = sys::MachnetMsgHdr_t {
            msg_size: 0,
            flow_info: sys::MachnetFlow_t::default(),
            msg_iov: &mut iov,
            msg_iovlen: 1,
            flags: 0,
        };
        // SAFETY: exclusive use of the channel; the one iovec covers `buf`, which is
        // writable for its length.
        match unsafe { sys::machnet_recvmsg(self.ptr(), &mut hdr) } {
            1 => Ok(Some(Message { len: hdr.msg_size as usize, flow: hdr.flow_info.into(), flags: hdr.flags })),
            0 => Ok(None),
            _ => {
                let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                let flow = if errno == errno::ECONNRESET || errno == errno::ETIMEDOUT {
                    Some(hdr.flow_info.into())
                } else {
                    None
                };
                Err(error_from("machnet_recvmsg", errno, flow))
            }
        }
    }

    /// As [`recv`](Channel::recv), but sleeps on the channel's doorbell (no spinning) up to
    /// `timeout` (`None`: forever) for a message; `Ok(None)` when none came in time.
    /// [`Message::flags`] is 0 here.
    ///
    /// Errors: those of `recv`, and `Interrupted` when a signal cut the wait short.
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<Message>> {
        let timeout_ms = match timeout {
            None => -1,
            // Whole milliseconds, rounded up so a short timeout still waits.
            Some(d) => {
                let ms = d.as_micros().saturating_add(999) / 1000;
                ms.min(i32::MAX as u128) as i32
            }
        };
        let mut flow = sys::MachnetFlow_t::default();
        // SAFETY: errno is this thread's; clearing it lets us tell a timeout (0, ETIMEDOUT)
        // from an empty message (0, errno untouched).
        unsafe { *sys::__errno_location() = 0 };
        // SAFETY: exclusive use of the channel; buf is writable for its length.
        let n = unsafe {
            sys::machnet_recv_timeout(self.ptr(), buf.as_mut_ptr() as *mut c_void, buf.len(), &mut flow, timeout_ms)
        };
        if n >= 0 {
            if n == 0 && io::Error::last_os_error().raw_os_error() == Some(errno::ETIMEDOUT) {
                return Ok(None);
            }
            return Ok(Some(Message { len: n as usize, flow: flow.into(), flags: 0 }));
        }
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let failed = if errno == errno::ECONNRESET || errno == errno::ETIMEDOUT { Some(flow.into()) } else { None };
        Err(error_from("machnet_recv_timeout", errno, failed))
    }

    /// Closes this side's direction of a flow this channel connected or accepted (either
    /// direction of the tuple), in order: what was sent before is still delivered, then the
    /// peer closes its direction after delivering what it had queued. A message sent on the
    /// flow afterwards is not sent and is reported by `recv` as errno `EPIPE` (machnet.h).
    ///
    /// Errors: `NotFound` (no such flow on this channel), `NotConnected`.
    pub fn close_flow(&self, flow: &Flow) -> io::Result<()> {
        // SAFETY: valid handle; control calls are thread-safe per machnet.h.
        if unsafe { sys::machnet_close_flow(self.ptr(), (*flow).into()) } == 0 {
            Ok(())
        } else {
            Err(last_error("machnet_close_flow", None))
        }
    }

    /// The channel's counters as the daemon keeps them.
    pub fn stats(&self) -> io::Result<ChannelStats> {
        let mut stats = ChannelStats::default();
        // SAFETY: valid handle and out-pointer of the size passed; reads only.
        let r = unsafe { sys::machnet_get_channel_stats(self.ptr(), &mut stats, std::mem::size_of::<ChannelStats>()) };
        if r == 0 {
            Ok(stats)
        } else {
            Err(last_error("machnet_get_channel_stats", None))
        }
    }

    /// Gives the channel back now and reports a failure (dropping does the same silently).
    /// The daemon closes its listeners and flows. `NotConnected`: the daemon is gone; the
    /// local mapping is released anyway.
    pub fn detach(self) -> io::Result<()> {
        let p = self.ptr();
        std::mem::forget(self);
        // SAFETY: the handle is ours and never used again (self is forgotten).
        if unsafe { sys::machnet_detach(p) } == 0 {
            Ok(())
        } else {
            Err(last_error("machnet_detach", None))
        }
    }

    /// Arms and returns the channel's descriptor (`machnet_channel_fd`), to register with
    /// epoll, mio or tokio (`AsyncFd`). It becomes readable when a message or a flow event
    /// may be waiting. Use it like a non-blocking socket: [`recv`](Channel::recv) until it
    /// returns `Ok(None)`, then wait for readability (level- or edge-triggered), and again;
    /// a wake-up may find nothing. Messages queued before the first call do not make it
    /// readable: receive until `None` first.
    ///
    /// Idempotent (the same descriptor each time). Afterwards [`AsRawFd`] and [`AsFd`] give
    /// it. The library owns it and closes it when the channel is dropped: deregister it from
    /// your event loop first. Only channels you call this on pay for it (an empty receive
    /// then costs a load, and a read(2) after the daemon rang), so busy pollers do not.
    ///
    /// Errors: errno `ENOTSUP` (the daemon passed no doorbell for this channel).
    pub fn pollable(&mut self) -> io::Result<RawFd> {
        if let Some(fd) = self.fd {
            return Ok(fd);
        }
        // SAFETY: exclusive use of the channel (&mut): machnet.h counts this as a data call.
        let fd = unsafe { sys::machnet_channel_fd(self.ptr()) };
        if fd < 0 {
            return Err(last_error("machnet_channel_fd", None));
        }
        self.fd = Some(fd);
        Ok(fd)
    }

    /// The raw `void *` handle, for calling machnet-sys functions this crate does not wrap.
    /// It stays owned by the `Channel`: do not detach it, and keep to machnet.h's threading
    /// rules.
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and not used after this.
        unsafe { sys::machnet_detach(self.ptr()) };
    }
}

/// The descriptor [`Channel::pollable`] armed; waiting on it is safe from any thread.
///
/// # Panics
///
/// If `pollable()` was not called first (a channel is not pollable until armed, and
/// arming is a data call that needs `&mut`).
impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.expect("machnet::Channel::as_raw_fd: call Channel::pollable() first to arm the descriptor")
    }
}

/// As [`AsRawFd`]: the descriptor [`Channel::pollable`] armed, borrowed for as long as the
/// channel lives. Panics if `pollable()` was not called first.
impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open until the channel is detached, which needs the
        // Channel by value or its drop, so not while this borrow lives.
        unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel").field("handle", &self.handle).field("fd", &self.fd).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn channel_is_send_and_sync() {
        assert_send_sync::<Channel>();
    }

    #[test]
    fn flow_round_trips_and_reverses() {
        let f = Flow {
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            src_port: 1234,
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            dst_port: 7000,
        };
        let raw: sys::MachnetFlow_t = f.into();
        assert_eq!(raw.src_ip, 0x0a00_0001);
        assert_eq!(Flow::from(raw), f);
        assert_eq!(f.reversed().reversed(), f);
        assert_eq!(f.reversed().src_port, 7000);
        assert_eq!(f.to_string(), "10.0.0.1:1234 -> 10.0.0.2:7000");
    }

    #[test]
    fn enobufs_is_would_block_and_keeps_details() {
        let e = error_from("machnet_send", errno::ENOBUFS, None);
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(Error::of(&e).unwrap().errno(), errno::ENOBUFS);
        let e = error_from("machnet_connect", errno::ECONNREFUSED, None);
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().starts_with("machnet_connect: "), "{}", e);
    }
}
