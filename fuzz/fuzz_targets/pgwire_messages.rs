//! The PostgreSQL wire client reading whatever a server sends: startup and
//! authentication, row descriptions, data rows and their text values,
//! errors and notices, a stream cut anywhere. The first byte picks the TLS
//! negotiation, the statement form and how the bytes are split into reads;
//! the rest is the server's side of the conversation.
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use ledger::ports::{Db, Value};
use ledger_pgwire::{Connect, Pool, Transport, WireDb};
use libfuzzer_sys::fuzz_target;

/// The server's bytes, shared by every connection the pool opens.
#[derive(Clone)]
struct Replay {
    server: Rc<RefCell<VecDeque<u8>>>,
    chunk: usize,
}

impl Transport for Replay {
    async fn write_all(&mut self, _bytes: Vec<u8>) -> io::Result<()> {
        Ok(())
    }

    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let mut server = self.server.borrow_mut();
        let n = self.chunk.min(server.len());
        buf.extend(server.drain(..n));
        Ok(n)
    }
}

impl Connect for Replay {
    type Transport = Replay;
    async fn connect(&self, _addr: SocketAddr) -> io::Result<Replay> {
        Ok(self.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, server)) = data.split_first() else { return };
    let replay =
        Replay { server: Rc::new(RefCell::new(server.iter().copied().collect())), chunk: usize::from(mode >> 2) + 1 };
    // No password: a server asking for one is refused before any hashing.
    let sslmode = if mode & 1 == 0 { "disable" } else { "prefer" };
    let url = format!("postgres://fuzz@127.0.0.1:5432/ledger?sslmode={sslmode}");
    let Ok(pool) = Pool::from_url(replay, &url, 1) else { return };
    let db = WireDb::new(Rc::new(pool));
    let params: &[Value] = if mode & 2 == 0 { &[] } else { &[Value::Int(1), Value::Text("x".into())] };
    futures::executor::block_on(async {
        for sql in ["SELECT id, body FROM t WHERE a = $1 AND b = $2", "BEGIN", "UPDATE t SET a = 1", "COMMIT"] {
            if let Ok(rows) = db.query(sql, params).await {
                for row in &rows {
                    let _ = (row.opt_str("id"), row.opt_i64("id"), row.json("body"));
                }
            }
        }
    });
});
