//! Upload slots (DESIGN §8): at most `upload_slots` connections are served `read`s at
//! once, so that a peer's upload goes to a few downloaders whole rather than to many in
//! slivers.
//!
//! A connection takes a slot with its first `read` and keeps it until it closes or has
//! had no `read` for [`SLOT_IDLE`], counted from the end of sending the last read's data:
//! a slow, long read never loses its slot mid-way, and a downloader's pipelined reads
//! follow each other well within it. A read whose data the client stopped taking (the
//! socket took no byte for [`SLOT_IDLE`]) counts as idle too: a client that asks and
//! never reads cannot sit on a slot. When every slot is taken, another connection's
//! `read` is answered `busy` and the connection stays open (the client retries); `ping`,
//! `search`, `info` and `peers` never ask for a slot.
//!
//! A slot gone idle is not freed by a timer: the next connection that wants a slot takes
//! it over, and the idle holder finds out at its next `read`, where it asks again like
//! anyone else (a stalled read that wakes up finishes sending, slot or not). Nothing here
//! reads the clock (callers pass `now`) or touches a socket, so the rules are tested
//! without sleeps.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::message::{ErrorCode, RemoteError};

/// How long a slot stays with a connection that asks for nothing more, or whose client
/// takes none of the data it asked for.
pub const SLOT_IDLE: Duration = Duration::from_secs(2);

/// The slots of one server, shared by its connections. The count may change while the
/// server runs: fewer slots take effect as holders leave, more at once.
#[derive(Debug)]
pub struct UploadSlots {
    table: Arc<Mutex<Table>>,
}

#[derive(Debug)]
struct Table {
    count: usize,
    next_id: u64,
    holders: Vec<Holder>,
}

#[derive(Debug)]
struct Holder {
    connection: u64,
    state: Use,
}

/// What a slot's holder is doing.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// Sending a read's data; `Some`: the socket has taken nothing since then.
    Sending { stalled_since: Option<Instant> },
    /// Between reads, since the last read's data was sent.
    Idle { since: Instant },
}

impl Holder {
    fn expired(&self, now: Instant) -> bool {
        let since = match self.state {
            Use::Sending {
                stalled_since: Some(since),
            }
            | Use::Idle { since } => since,
            Use::Sending {
                stalled_since: None,
            } => return false,
        };
        now.saturating_duration_since(since) >= SLOT_IDLE
    }
}

impl UploadSlots {
    pub(crate) fn new(count: usize) -> UploadSlots {
        UploadSlots {
            table: Arc::new(Mutex::new(Table {
                count: count.max(1),
                next_id: 0,
                holders: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    /// How many connections may be served `read`s at once.
    pub fn count(&self) -> usize {
        self.lock().count
    }

    /// Changes the number of slots (at least 1). With fewer, connections holding a slot
    /// keep it until they close or go idle; nobody new gets one until they are under the
    /// new count.
    pub fn set_count(&self, count: usize) {
        self.lock().count = count.max(1);
    }

    /// Slots held at `now` (those idle for [`SLOT_IDLE`] not counted).
    pub fn in_use(&self, now: Instant) -> usize {
        let table = self.lock();
        table.holders.iter().filter(|h| !h.expired(now)).count()
    }

    /// One connection's claim on the slots; it holds none until its first `read`, and
    /// gives its slot back when it drops.
    pub(crate) fn for_connection(&self) -> SlotClaim {
        let mut table = self.lock();
        table.next_id += 1;
        SlotClaim {
            table: self.table.clone(),
            connection: table.next_id,
        }
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's claim on an upload slot.
#[derive(Debug)]
pub(crate) struct SlotClaim {
    table: Arc<Mutex<Table>>,
    connection: u64,
}

impl SlotClaim {
    fn with_holder(&self, change: impl FnOnce(&mut Holder)) {
        let mut table = lock(&self.table);
        if let Some(holder) = table
            .holders
            .iter_mut()
            .find(|h| h.connection == self.connection)
        {
            change(holder);
        }
    }

    /// Before sending a read's data: `true` when this connection holds a slot (kept, or
    /// free, or taken over from a holder idle for [`SLOT_IDLE`]); `false`: every slot is
    /// taken, answer `busy`.
    pub(crate) fn begin_read(&self, now: Instant) -> bool {
        let mut table = lock(&self.table);
        let sending = Use::Sending {
            stalled_since: None,
        };
        if let Some(holder) = table
            .holders
            .iter_mut()
            .find(|h| h.connection == self.connection)
        {
            if !holder.expired(now) {
                holder.state = sending;
                return true;
            }
        }
        table.holders.retain(|h| !h.expired(now));
        if table.holders.len() >= table.count {
            return false;
        }
        table.holders.push(Holder {
            connection: self.connection,
            state: sending,
        });
        true
    }

    /// The socket has taken no byte of the read's data since `since`.
    pub(crate) fn stalled(&self, since: Instant) {
        self.with_holder(|holder| {
            if let Use::Sending { stalled_since } = &mut holder.state {
                stalled_since.get_or_insert(since);
            }
        });
    }

    /// The socket took bytes again.
    pub(crate) fn moving(&self) {
        self.with_holder(|holder| {
            if let Use::Sending { stalled_since } = &mut holder.state {
                *stalled_since = None;
            }
        });
    }

    /// The read's data is sent (at `now`): the slot goes idle from here unless another
    /// read follows within [`SLOT_IDLE`].
    pub(crate) fn end_read(&self, now: Instant) {
        self.with_holder(|holder| holder.state = Use::Idle { since: now });
    }
}

impl Drop for SlotClaim {
    fn drop(&mut self) {
        lock(&self.table)
            .holders
            .retain(|h| h.connection != self.connection);
    }
}

/// The answer to a `read` when every slot is taken.
pub(crate) fn busy_error(count: usize) -> RemoteError {
    let slots = if count == 1 { "slot is" } else { "slots are" };
    RemoteError::new(
        ErrorCode::Busy,
        format!("all {count} upload {slots} taken; try again shortly"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_slot_is_kept_from_the_first_read_until_close_or_two_idle_seconds() {
        let slots = UploadSlots::new(1);
        let t0 = Instant::now();
        let first = slots.for_connection();
        let second = slots.for_connection();
        assert!(first.begin_read(t0));
        assert!(!second.begin_read(t0), "one slot, taken");
        // A long read keeps its slot however long it takes to send.
        assert!(!second.begin_read(t0 + SLOT_IDLE * 10));
        let t1 = t0 + SLOT_IDLE * 10;
        first.end_read(t1);
        // Idle for less than SLOT_IDLE: still the first's, and its next read goes on.
        assert!(!second.begin_read(t1 + SLOT_IDLE - MS));
        assert!(first.begin_read(t1 + SLOT_IDLE - MS));
        first.end_read(t1 + SLOT_IDLE);
        // Idle for SLOT_IDLE: the next connection takes it over...
        let t2 = t1 + SLOT_IDLE * 2;
        assert_eq!(slots.in_use(t2), 0);
        assert!(second.begin_read(t2));
        // ...and the first now waits like anyone else.
        assert!(!first.begin_read(t2));
        assert_eq!(slots.in_use(t2), 1);
        // Closing gives the slot back at once.
        drop(second);
        assert_eq!(slots.in_use(t2), 0);
        assert!(first.begin_read(t2 + MS));
    }

    #[test]
    fn a_read_whose_data_is_not_taken_loses_its_slot_after_two_seconds() {
        let slots = UploadSlots::new(1);
        let t0 = Instant::now();
        let (reader, waiting) = (slots.for_connection(), slots.for_connection());
        assert!(reader.begin_read(t0));
        // Slow, but moving: kept.
        reader.stalled(t0);
        reader.moving();
        reader.stalled(t0 + SLOT_IDLE);
        reader.stalled(t0 + SLOT_IDLE + MS * 500); // still since the first
        assert!(!waiting.begin_read(t0 + SLOT_IDLE * 2 - MS));
        // Nothing taken for SLOT_IDLE: someone waiting takes the slot over.
        assert!(waiting.begin_read(t0 + SLOT_IDLE * 2));
        // The stalled read may finish; its next read waits like anyone else's.
        reader.end_read(t0 + SLOT_IDLE * 4);
        assert!(!reader.begin_read(t0 + SLOT_IDLE * 4));
        assert_eq!(slots.in_use(t0 + SLOT_IDLE * 4), 1);
    }

    #[test]
    fn the_count_can_change_while_slots_are_held() {
        let slots = UploadSlots::new(2);
        let now = Instant::now();
        let (a, b, c) = (
            slots.for_connection(),
            slots.for_connection(),
            slots.for_connection(),
        );
        assert!(a.begin_read(now) && b.begin_read(now));
        assert!(!c.begin_read(now));
        slots.set_count(3);
        assert!(c.begin_read(now), "a new slot is free at once");
        slots.set_count(1);
        assert_eq!(slots.count(), 1);
        // Holders keep what they have; a slot given back is not given out again while
        // the others are over the new count.
        assert!(a.begin_read(now));
        drop(b);
        assert_eq!(slots.in_use(now), 2);
        let late = slots.for_connection();
        assert!(!late.begin_read(now));
        slots.set_count(0);
        assert_eq!(slots.count(), 1, "never fewer than one slot");
        assert_eq!(busy_error(1).code, ErrorCode::Busy);
    }
}
