//! The sequential model of one key: its state is the tag of the value stored under
//! it, or nothing. Shared by the differential tests, the linearizability checker
//! and the fuzz target, so all three judge the map by the same rules (SPEC §1):
//!
//! - `alloc`/`try_alloc` on an existing key: `Exists`, constructor not run;
//! - `insert` on an existing key: `Exists` (its value given back); on an absent key
//!   its value is stored (no constructor is involved);
//! - `get_or_alloc`/`try_get_or_alloc`/`get_or_default` on an existing key: the
//!   existing value, constructor not run;
//! - on an absent key the constructor runs exactly once; if it fails or panics
//!   nothing is inserted and its error (or panic) reaches the caller;
//! - `free`/`free_with` report whether something was freed; the dtor sees the value.

use crate::ops::Ctor;

/// State of one key in the model: the tag of its value, if present.
pub type State = Option<u64>;

/// A single-key operation, with the tag its constructor would create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyOp {
    /// `get`.
    Get,
    /// `contains`.
    Contains,
    /// `alloc` (the ctor never returns `Err`).
    Alloc { tag: u64, ctor: Ctor },
    /// `insert` of a value carrying `tag`, built before the call (no ctor).
    Insert { tag: u64 },
    /// `try_alloc`.
    TryAlloc { tag: u64, ctor: Ctor },
    /// `get_or_alloc` (the ctor never returns `Err`).
    GetOrAlloc { tag: u64, ctor: Ctor },
    /// `try_get_or_alloc`.
    TryGetOrAlloc { tag: u64, ctor: Ctor },
    /// `get_or_default`, whose `Default` yields `tag`.
    GetOrDefault { tag: u64 },
    /// `free`: result is `Ret::Bool`.
    Free,
    /// `free_with` (or one key's share of `free_all_with`): result is `Ret::Freed`
    /// with the tag the dtor saw.
    FreeWith,
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A value with this tag (`Some`, `Ok`).
    Val(u64),
    /// `None` from `get`.
    NoVal,
    /// A `bool` result.
    Bool(bool),
    /// `Err(Exists)`.
    Exists,
    /// The constructor's own error, carrying its tag.
    CtorErr(u64),
    /// The constructor's planned panic reached the caller.
    Panicked,
    /// `free_with`: the tag the dtor saw, `None` if nothing was freed.
    Freed(Option<u64>),
}

/// An observed outcome: the returned value and whether the caller's constructor ran.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Obs {
    /// What the call returned.
    pub ret: Ret,
    /// Whether the constructor passed to this call ran.
    pub ran: bool,
}

impl std::fmt::Debug for Obs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}{}", self.ret, if self.ran { "+ctor" } else { "" })
    }
}

const fn obs(ret: Ret, ran: bool) -> Obs {
    Obs { ret, ran }
}

/// The creating half of every alloc-like call on an absent key.
fn create(tag: u64, ctor: Ctor, fallible: bool) -> (State, Obs) {
    match ctor {
        Ctor::Ok => (Some(tag), obs(Ret::Val(tag), true)),
        Ctor::Err if fallible => (None, obs(Ret::CtorErr(tag), true)),
        Ctor::Err => (Some(tag), obs(Ret::Val(tag), true)),
        Ctor::Panic => (None, obs(Ret::Panicked, true)),
    }
}

/// Applies `op` to a key in `state`: the new state and the outcome the map must give.
pub fn apply(state: State, op: KeyOp) -> (State, Obs) {
    match (op, state) {
        (KeyOp::Get, Some(t)) => (state, obs(Ret::Val(t), false)),
        (KeyOp::Get, None) => (state, obs(Ret::NoVal, false)),
        (KeyOp::Contains, _) => (state, obs(Ret::Bool(state.is_some()), false)),
        (KeyOp::Alloc { .. } | KeyOp::TryAlloc { .. }, Some(_)) => (state, obs(Ret::Exists, false)),
        (KeyOp::Alloc { tag, ctor }, None) => create(tag, ctor, false),
        (KeyOp::Insert { .. }, Some(_)) => (state, obs(Ret::Exists, false)),
        (KeyOp::Insert { tag }, None) => (Some(tag), obs(Ret::Val(tag), false)),
        (KeyOp::TryAlloc { tag, ctor }, None) => create(tag, ctor, true),
        (
            KeyOp::GetOrAlloc { .. } | KeyOp::TryGetOrAlloc { .. } | KeyOp::GetOrDefault { .. },
            Some(t),
        ) => (state, obs(Ret::Val(t), false)),
        (KeyOp::GetOrAlloc { tag, ctor }, None) => create(tag, ctor, false),
        (KeyOp::TryGetOrAlloc { tag, ctor }, None) => create(tag, ctor, true),
        (KeyOp::GetOrDefault { tag }, None) => create(tag, Ctor::Ok, false),
        (KeyOp::Free, _) => (None, obs(Ret::Bool(state.is_some()), false)),
        (KeyOp::FreeWith, _) => (None, obs(Ret::Freed(state), false)),
    }
}
