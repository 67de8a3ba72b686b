//! Where a reader of the global order stands, and how a read moves it on.
//!
//! Messages are ordered by the id of the transaction that wrote them, then
//! by global position. A reader takes everything its snapshot shows
//! committed past its place, and steps over the transactions the snapshot
//! shows running: it remembers them and reads what they wrote once they
//! end. A transaction that writes no message then delays nothing, and one
//! that does delays only its own messages.

use serde::{Deserialize, Serialize};

/// A place in the global order: what a reader has read, and what it still
/// owes to transactions that were running when it read past them.
///
/// Opaque to readers: a reader starts at [`START`](Self::START) (or at the
/// cursor a read returned) and resumes from the cursor each read returns.
/// It serializes, so a reader may keep it between runs. Only stores look
/// inside: one whose global order is a gap-free sequence keeps its
/// position in the frontier ([`at`](Self::at)) and never owes anything;
/// one whose readers may step over running transactions moves it with
/// [`advanced`](Self::advanced).
///
/// ```
/// use beckett::GlobalCursor;
///
/// let start = GlobalCursor::START;
/// let json = serde_json::to_string(&start)?;
/// assert_eq!(serde_json::from_str::<GlobalCursor>(&json)?, start);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlobalCursor {
    /// Everything up to here in (transaction, position) order is read,
    /// except what `pending` lists.
    frontier: Place,
    /// Transactions below the frontier that were running when it moved
    /// past them, in transaction order.
    pending: Vec<Pending>,
}

/// A message's place in the global order: its writing transaction (0 in
/// stores that order by position alone), then its global position.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Place {
    /// The id of the transaction that wrote the message.
    pub transaction_id: i64,
    /// The message's global position.
    pub global_position: i64,
}

/// A transaction whose messages are still to be read, after a global
/// position (0 until some are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pending {
    /// The transaction's id.
    pub transaction_id: i64,
    /// The global position of its last message read, or 0.
    pub after: i64,
}

impl GlobalCursor {
    /// Before every message.
    pub const START: Self = Self {
        frontier: Place {
            transaction_id: 0,
            global_position: 0,
        },
        pending: Vec::new(),
    };

    /// A cursor past `frontier`, owing `pending`, as a store kept it.
    pub fn new(frontier: Place, pending: Vec<Pending>) -> Self {
        Self { frontier, pending }
    }

    /// The cursor past global position `position`, in a store whose global
    /// order is the positions' (no transaction ids, nothing ever owed).
    ///
    /// ```
    /// use beckett::GlobalCursor;
    ///
    /// assert_eq!(GlobalCursor::at(0), GlobalCursor::START);
    /// assert_eq!(GlobalCursor::at(7).frontier().global_position, 7);
    /// ```
    pub fn at(position: i64) -> Self {
        Self {
            frontier: Place {
                transaction_id: 0,
                global_position: position,
            },
            pending: Vec::new(),
        }
    }

    /// The cursor just past `message`: a reader from it reads every message
    /// after it in the global order.
    ///
    /// ```
    /// # fn demo(message: &beckett::Envelope) {
    /// let from_there = beckett::GlobalCursor::after(message);
    /// assert_eq!(from_there.frontier().global_position, message.global_position);
    /// # }
    /// ```
    pub fn after(message: &super::Envelope) -> Self {
        Self::new(
            Place {
                transaction_id: message.transaction_id,
                global_position: message.global_position,
            },
            Vec::new(),
        )
    }

    /// Everything up to here is read, except what [`pending`](Self::pending)
    /// lists.
    pub fn frontier(&self) -> Place {
        self.frontier
    }

    /// Transactions below the frontier whose messages are still to be
    /// read, in transaction order.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// The cursor after a read from this one that returned the messages at
    /// `read` (in order, `full` when the read stopped at its limit), taken
    /// while the transactions `running` had not ended.
    pub fn advanced(&self, read: &[Place], full: bool, running: &[i64]) -> Self {
        let last = read.last().copied();
        let frontier = last.filter(|l| *l > self.frontier).unwrap_or(self.frontier);
        let mut pending: Vec<Pending> = Vec::new();
        for owed in &self.pending {
            let mut owed = *owed;
            if let Some(newest) = read
                .iter()
                .filter(|p| p.transaction_id == owed.transaction_id)
                .map(|p| p.global_position)
                .max()
            {
                owed.after = newest;
            }
            let ended = !running.contains(&owed.transaction_id);
            // An ended transaction is read through unless the read stopped
            // at or before its messages.
            let read_through =
                ended && (!full || last.is_some_and(|l| l.transaction_id > owed.transaction_id));
            if !read_through {
                pending.push(owed);
            }
        }
        for &transaction_id in running {
            let stepped_over = transaction_id < frontier.transaction_id;
            if stepped_over && !pending.iter().any(|p| p.transaction_id == transaction_id) {
                pending.push(Pending {
                    transaction_id,
                    after: 0,
                });
            }
        }
        pending.sort_by_key(|p| p.transaction_id);
        Self { frontier, pending }
    }

    /// The cursor behind both: it has read only what both have read, so a
    /// reader moving from either to it reads some messages again but misses
    /// none.
    pub(crate) fn meet(&self, other: &Self) -> Self {
        let mut frontier = self.frontier.min(other.frontier);
        // A transaction one owes that the other's frontier stands in: only
        // what both read of it counts as read.
        for owed in self.pending.iter().chain(&other.pending) {
            if owed.transaction_id == frontier.transaction_id {
                frontier = frontier.min(Place {
                    transaction_id: owed.transaction_id,
                    global_position: owed.after,
                });
            }
        }
        let mut pending: Vec<Pending> = Vec::new();
        for owed in self.pending.iter().chain(&other.pending) {
            if owed.transaction_id >= frontier.transaction_id {
                continue;
            }
            match pending
                .iter_mut()
                .find(|p| p.transaction_id == owed.transaction_id)
            {
                Some(known) => known.after = known.after.min(owed.after),
                None => pending.push(*owed),
            }
        }
        pending.sort_by_key(|p| p.transaction_id);
        Self { frontier, pending }
    }

    /// The transaction ids still owed, and after which position each.
    pub fn owed(&self) -> (Vec<i64>, Vec<i64>) {
        self.pending
            .iter()
            .map(|p| (p.transaction_id, p.after))
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(transaction_id: i64, global_position: i64) -> Place {
        Place {
            transaction_id,
            global_position,
        }
    }

    fn owed(transaction_id: i64, after: i64) -> Pending {
        Pending {
            transaction_id,
            after,
        }
    }

    #[test]
    fn a_running_transaction_stepped_over_is_owed() {
        let cursor = GlobalCursor::START.advanced(&[at(10, 1), at(12, 3)], false, &[11, 13]);
        assert_eq!(cursor.frontier, at(12, 3));
        // 13 is past the frontier: it is read in order when it commits.
        assert_eq!(cursor.pending, [owed(11, 0)]);
    }

    #[test]
    fn an_owed_transaction_that_ended_is_read_through() {
        let cursor = GlobalCursor {
            frontier: at(12, 3),
            pending: vec![owed(11, 0)],
        };
        let next = cursor.advanced(&[at(11, 2)], false, &[]);
        assert_eq!(next.frontier, at(12, 3));
        assert!(next.pending.is_empty());
        // Rolled back: it wrote nothing, and is owed nothing.
        assert!(cursor.advanced(&[], false, &[]).pending.is_empty());
    }

    #[test]
    fn an_owed_transaction_still_running_stays_owed() {
        let cursor = GlobalCursor {
            frontier: at(12, 3),
            pending: vec![owed(11, 0)],
        };
        let next = cursor.advanced(&[at(14, 5)], false, &[11]);
        assert_eq!(next.frontier, at(14, 5));
        assert_eq!(next.pending, [owed(11, 0)]);
    }

    #[test]
    fn a_full_read_keeps_what_it_did_not_reach() {
        let cursor = GlobalCursor {
            frontier: at(20, 9),
            pending: vec![owed(11, 0), owed(15, 0)],
        };
        // The limit stopped the read inside transaction 11's messages.
        let next = cursor.advanced(&[at(11, 2), at(11, 4)], true, &[]);
        assert_eq!(next.frontier, at(20, 9));
        assert_eq!(next.pending, [owed(11, 4), owed(15, 0)]);
        // Past 11, into 15: 11 is read through.
        let next = next.advanced(&[at(11, 6), at(15, 7)], true, &[]);
        assert_eq!(next.pending, [owed(15, 7)]);
    }

    #[test]
    fn the_meet_reads_again_what_either_has_not_read() {
        let ahead = GlobalCursor {
            frontier: at(30, 9),
            pending: vec![owed(12, 0), owed(25, 0)],
        };
        let behind = GlobalCursor {
            frontier: at(20, 5),
            pending: vec![owed(12, 4), owed(14, 0)],
        };
        let meet = ahead.meet(&behind);
        assert_eq!(meet.frontier, at(20, 5));
        assert_eq!(meet.pending, [owed(12, 0), owed(14, 0)]);
        assert_eq!(behind.meet(&ahead), meet);
    }

    #[test]
    fn the_meet_reads_again_what_one_owes_in_the_others_frontier() {
        let owing = GlobalCursor {
            frontier: at(30, 9),
            pending: vec![owed(20, 3)],
        };
        let inside = GlobalCursor {
            frontier: at(20, 5),
            pending: Vec::new(),
        };
        let meet = owing.meet(&inside);
        assert_eq!(meet.frontier, at(20, 3));
        assert!(meet.pending.is_empty());
    }
}
