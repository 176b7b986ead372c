//! Host connections an instance keeps between its requests. Opening one
//! costs the host work each time (a pooled PostgreSQL connection has its
//! session reset on checkout; a Redis connection is a new TCP connection),
//! so a connection is lent to one request at a time and taken back only in
//! a known clean state. An instance serves up to 16 requests at once, so at
//! most that many stay idle.

use std::cell::RefCell;

const MAX_IDLE: usize = 16;

pub struct Idle<T> {
    items: RefCell<Vec<T>>,
}

impl<T> Idle<T> {
    pub const fn new() -> Self {
        Idle { items: RefCell::new(Vec::new()) }
    }

    pub fn take(&self) -> Option<T> {
        self.items.borrow_mut().pop()
    }

    pub fn give_back(&self, item: T) {
        let mut items = self.items.borrow_mut();
        if items.len() < MAX_IDLE {
            items.push(item);
        }
    }
}
