//! A linearizability checker for concurrent histories of single-key operations.
//!
//! Operations on different keys commute in the model, so a history is linearizable
//! iff each key's sub-history is (Herlihy & Wing's locality); [`check_history`] splits
//! by key and [`check_key`] searches each key's sub-history for a legal sequential
//! order, Wing & Gong style: repeatedly pick an operation that no other pending
//! operation finished before (real-time order), apply it to the model
//! ([`crate::model::apply`]), keep it if the model produces the observed outcome, and
//! backtrack otherwise. Visited (set of linearized operations, model state) pairs are
//! memoized (Lowe's optimization), so the search is linear in practice when few
//! operations overlap.
//!
//! Timestamps come from one shared counter (`fetch_add` before the call and after
//! it), so `a.resp < b.inv` means `a` really returned before `b` was invoked.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Debug};

use crate::model::{KeyOp, Obs, State, apply};

/// One completed operation on one key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Which thread ran it (for messages only).
    pub thread: usize,
    /// Timestamp taken just before the call.
    pub inv: u64,
    /// Timestamp taken just after the call returned.
    pub resp: u64,
    /// The operation.
    pub op: KeyOp,
    /// What it returned.
    pub obs: Obs,
}

impl Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "t{} [{:>4},{:>4}] {:?} -> {:?}",
            self.thread, self.inv, self.resp, self.op, self.obs
        )
    }
}

/// Upper bound on search nodes per key before giving up as inconclusive.
pub const MAX_NODES: usize = 5_000_000;

/// Why a key's sub-history was rejected.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The key's events, sorted by invocation.
    pub events: Vec<Event>,
    /// The longest prefix of a legal order the search found (indices into `events`).
    pub best_prefix: Vec<usize>,
    /// True if the search hit [`MAX_NODES`] instead of exhausting the space.
    pub inconclusive: bool,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({} events); longest legal prefix has {} events: {:?}",
            if self.inconclusive {
                "search budget exhausted"
            } else {
                "no legal sequential order"
            },
            self.events.len(),
            self.best_prefix.len(),
            self.best_prefix,
        )?;
        for (i, e) in self.events.iter().enumerate() {
            writeln!(f, "  #{i:<3} {e:?}")?;
        }
        Ok(())
    }
}

struct Search<'e> {
    ev: &'e [Event],
    done: Vec<u64>,
    memo: HashSet<(Vec<u64>, State)>,
    order: Vec<usize>,
    best: Vec<usize>,
    nodes: usize,
}

impl Search<'_> {
    fn is_done(&self, i: usize) -> bool {
        self.done[i / 64] & (1 << (i % 64)) != 0
    }

    fn flip(&mut self, i: usize) {
        self.done[i / 64] ^= 1 << (i % 64);
    }

    /// `Some(true)`: the remaining events can be linearized from `state`.
    /// `None`: node budget exhausted.
    fn dfs(&mut self, state: State, first: usize) -> Option<bool> {
        let n = self.ev.len();
        let first = (first..n).find(|&i| !self.is_done(i)).unwrap_or(n);
        if first == n {
            return Some(true);
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return None;
        }
        if !self.memo.insert((self.done.clone(), state)) {
            return Some(false);
        }
        // Only an event invoked before every pending event's response can go next.
        let min_resp = (first..n)
            .filter(|&i| !self.is_done(i))
            .map(|i| self.ev[i].resp)
            .min()?;
        for i in first..n {
            if self.ev[i].inv > min_resp {
                break; // sorted by inv: no later event can go next either
            }
            if self.is_done(i) {
                continue;
            }
            let (next, expect) = apply(state, self.ev[i].op);
            if expect != self.ev[i].obs {
                continue;
            }
            self.flip(i);
            self.order.push(i);
            if self.order.len() > self.best.len() {
                self.best = self.order.clone();
            }
            let r = self.dfs(next, first);
            if r != Some(false) {
                return r;
            }
            self.order.pop();
            self.flip(i);
        }
        Some(false)
    }
}

/// Checks one key's sub-history, starting from `init`. `Ok` carries a legal order
/// (indices into the events sorted by invocation).
pub fn check_key(init: State, events: &[Event]) -> Result<Vec<usize>, Rejection> {
    let mut ev = events.to_vec();
    ev.sort_by_key(|e| e.inv);
    let mut s = Search {
        ev: &ev,
        done: vec![0; ev.len().div_ceil(64)],
        memo: HashSet::new(),
        order: Vec::with_capacity(ev.len()),
        best: Vec::new(),
        nodes: 0,
    };
    match s.dfs(init, 0) {
        Some(true) => Ok(s.order),
        r => Err(Rejection {
            best_prefix: s.best,
            events: ev,
            inconclusive: r.is_none(),
        }),
    }
}

/// Checks a whole history (every key starting absent): `Ok(number of keys)` if
/// every key's sub-history is linearizable, else the first rejected key and why.
pub fn check_history<K: Ord + Debug>(
    events: impl IntoIterator<Item = (K, Event)>,
) -> Result<usize, String> {
    let mut by_key: BTreeMap<K, Vec<Event>> = BTreeMap::new();
    for (k, e) in events {
        assert!(e.inv < e.resp, "event with inv >= resp: {e:?}");
        by_key.entry(k).or_default().push(e);
    }
    for (k, evs) in &by_key {
        check_key(None, evs).map_err(|r| format!("key {k:x?}: {r}"))?;
    }
    Ok(by_key.len())
}
