//! TCP to PostgreSQL from inside the component (`wasi:sockets`), so the
//! wire client keeps connections and prepared statements across the
//! requests an instance serves.

use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use ledger_pgwire::{Connect, Transport};
use spin_sdk::wasip3::sockets::types::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, TcpSocket,
};
use spin_sdk::wasip3::wit_bindgen::rt::async_support::{FutureReader, StreamReader, StreamResult, StreamWriter};
use spin_sdk::wasip3::wit_stream;

pub struct SocketConnect;

pub struct SocketStream {
    outgoing: StreamWriter<u8>,
    incoming: StreamReader<u8>,
    scratch: Vec<u8>,
    // Held for the connection's lifetime: the socket, and the host's
    // results for both directions.
    _sent: FutureReader<Result<(), ErrorCode>>,
    _received: FutureReader<Result<(), ErrorCode>>,
    _socket: TcpSocket,
}

impl Connect for SocketConnect {
    type Transport = SocketStream;

    async fn connect(&self, addr: SocketAddr) -> io::Result<SocketStream> {
        let (family, remote) = match addr {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                (
                    IpAddressFamily::Ipv4,
                    IpSocketAddress::Ipv4(Ipv4SocketAddress { port: v4.port(), address: (a, b, c, d) }),
                )
            }
            SocketAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h] = v6.ip().segments();
                let address = (a, b, c, d, e, f, g, h);
                let socket = Ipv6SocketAddress { port: v6.port(), flow_info: 0, address, scope_id: v6.scope_id() };
                (IpAddressFamily::Ipv6, IpSocketAddress::Ipv6(socket))
            }
        };
        let socket = TcpSocket::create(family).map_err(io_error)?;
        socket.connect(remote).await.map_err(io_error)?;
        let (outgoing, to_host) = wit_stream::new::<u8>();
        let sent = socket.send(to_host);
        let (incoming, received) = socket.receive();
        Ok(SocketStream {
            outgoing,
            incoming,
            scratch: Vec::with_capacity(16 * 1024),
            _sent: sent,
            _received: received,
            _socket: socket,
        })
    }
}

impl Transport for SocketStream {
    async fn write_all(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let unsent = self.outgoing.write_all(bytes).await;
        if unsent.is_empty() { Ok(()) } else { Err(io::ErrorKind::BrokenPipe.into()) }
    }

    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let (result, scratch) = self.incoming.read(scratch).await;
            buf.extend_from_slice(&scratch);
            self.scratch = scratch;
            match result {
                StreamResult::Complete(0) => continue,
                StreamResult::Complete(n) => return Ok(n),
                StreamResult::Dropped => return Ok(0),
                StreamResult::Cancelled => return Err(io::ErrorKind::Interrupted.into()),
            }
        }
    }
}

fn io_error(code: ErrorCode) -> io::Error {
    let kind = match code {
        ErrorCode::AccessDenied => io::ErrorKind::PermissionDenied,
        ErrorCode::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        ErrorCode::Timeout => io::ErrorKind::TimedOut,
        ErrorCode::NotSupported => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}
