fn main() -> std::io::Result<()> {
    let mut ch = machnet::Channel::attach()?;
    ch.listen("127.0.0.1", 7000)?;
    let mut buf = vec![0u8; machnet::MAX_MSG_LEN];
    loop {
        if let Some(m) = ch.recv_timeout(&mut buf, None)? {
            ch.send(&m.flow.reversed(), &buf[..m.len])?;
        }
    }
}
