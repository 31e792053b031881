//! Raw declarations of libmachnet's C API, `machnet.h`, written by hand (no bindgen).
//!
//! Every function here is `unsafe` and follows machnet.h's contract exactly: the comments
//! there are the documentation (ownership, threading, errno values). The safe binding is
//! the `machnet` crate; use this one only to reach something it does not wrap.
//!
//! Linking: `build.rs` takes `MACHNET_LIB_DIR` if set, else `pkg-config --libs machnet`.

#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

/// `ssize_t` on the Linux targets libmachnet supports.
pub type ssize_t = isize;

/// `MACHNET_MSG_MAX_LEN`: the longest message the API accepts (8 MiB).
pub const MACHNET_MSG_MAX_LEN: u32 = 8 * 1024 * 1024;

/// `MachnetFlow_t`: the 4-tuple of a flow, host byte order.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MachnetFlow_t {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
}

/// `MachnetIovec_t`: one piece of a scatter-gather message.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MachnetIovec_t {
    pub base: *mut c_void,
    pub len: usize,
}

/// `MachnetMsgHdr_t`: a message for `machnet_sendmsg` / `machnet_recvmsg`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MachnetMsgHdr_t {
    pub msg_size: u32,
    pub flow_info: MachnetFlow_t,
    pub msg_iov: *mut MachnetIovec_t,
    pub msg_iovlen: usize,
    pub flags: u16,
}

/// `MachnetChannelStats_t`: a channel's counters as the daemon keeps them.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MachnetChannelStats_t {
    pub msgs_sent: u64,
    pub bytes_sent: u64,
    pub msgs_received: u64,
    pub bytes_received: u64,
    pub drops_total: u64,
    pub drops_bad_ring_index: u64,
    pub drops_bad_buffer_index: u64,
    pub drops_bad_chain: u64,
    pub drops_bad_length: u64,
    pub drops_unknown_flow: u64,
    pub drops_bad_free_index: u64,
    pub drops_peer_gone: u64,
    pub drops_receiver_full: u64,
    pub max_message_bytes: u32,
    pub channel_id: u32,
}

extern "C" {
    pub fn machnet_init() -> c_int;
    pub fn machnet_attach() -> *mut c_void;
    pub fn machnet_listen(channel: *mut c_void, local_ip: *const c_char, port: u16) -> c_int;
    pub fn machnet_connect(
        channel: *mut c_void,
        local_ip: *const c_char,
        remote_ip: *const c_char,
        remote_port: u16,
        flow: *mut MachnetFlow_t,
    ) -> c_int;
    pub fn machnet_send(
        channel: *const c_void,
        flow: MachnetFlow_t,
        buf: *const c_void,
        len: usize,
    ) -> c_int;
    pub fn machnet_sendmsg(channel: *const c_void, msghdr: *const MachnetMsgHdr_t) -> c_int;
    pub fn machnet_sendmmsg(
        channel: *const c_void,
        msghdrs: *const MachnetMsgHdr_t,
        vlen: c_int,
    ) -> c_int;
    pub fn machnet_recv(
        channel: *const c_void,
        buf: *mut c_void,
        len: usize,
        flow: *mut MachnetFlow_t,
    ) -> ssize_t;
    pub fn machnet_recvmsg(channel: *const c_void, msghdr: *mut MachnetMsgHdr_t) -> c_int;
    pub fn machnet_get_channel_stats(
        channel: *const c_void,
        stats: *mut MachnetChannelStats_t,
        stats_size: usize,
    ) -> c_int;
    pub fn machnet_recv_timeout(
        channel: *const c_void,
        buf: *mut c_void,
        len: usize,
        flow: *mut MachnetFlow_t,
        timeout_ms: c_int,
    ) -> ssize_t;
    pub fn machnet_close_flow(channel: *mut c_void, flow: MachnetFlow_t) -> c_int;
    pub fn machnet_detach(channel: *mut c_void) -> c_int;
    pub fn machnet_last_error() -> *const c_char;
    pub fn machnet_channel_fd(channel: *mut c_void) -> c_int;

    /// glibc's (and musl's) errno location: lets the safe layer clear errno before a call
    /// whose 0 return is ambiguous (`machnet_recv_timeout`).
    pub fn __errno_location() -> *mut c_int;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    // The sizes and offsets gcc gives these structs on LP64 Linux (sizeof/offsetof on
    // machnet.h).
    #[test]
    fn layouts_match_machnet_h() {
        assert_eq!(size_of::<MachnetFlow_t>(), 12);
        assert_eq!(size_of::<MachnetIovec_t>(), 16);
        assert_eq!(size_of::<MachnetMsgHdr_t>(), 40);
        assert_eq!(size_of::<MachnetChannelStats_t>(), 112);
        let h = std::mem::MaybeUninit::<MachnetMsgHdr_t>::uninit();
        let base = h.as_ptr() as usize;
        // SAFETY: addr_of! on a field of an uninitialised value reads nothing.
        let flags = unsafe { std::ptr::addr_of!((*h.as_ptr()).flags) } as usize;
        assert_eq!(flags - base, 32);
    }
}
