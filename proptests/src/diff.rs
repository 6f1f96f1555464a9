//! The differential executor: applies a sequence of [`Op`]s to a real map and to the
//! sequential model (`(address, raw id) -> tag`), comparing every result, and checks
//! after every step that held values are intact and that no live value was dropped;
//! at the end, that every created value is dropped exactly once.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use shadow_vars::{AllocError, Parent, ShadowId, ShadowMap, TryAllocError};

use crate::api::{Api, CtorError};
use crate::model::{KeyOp, Obs, Ret, apply};
use crate::ops::{Config, Ctor, Op};
use crate::value::{
    DropLog, PlannedPanic, Value, ctor_delay, default_runs, install_quiet_panic_hook,
    set_current_log, set_default_tag,
};

/// How long [`run`] waits for deferred drops after the map is dropped without any
/// progress, and in all.
pub const DROP_STALL: Duration = Duration::from_secs(2);
/// See [`DROP_STALL`].
pub const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// Figures about one run, for sanity checks (e.g. that growth configs grew).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Steps executed (batched steps counted individually).
    pub steps: usize,
    /// Most entries the model held at once.
    pub peak_len: usize,
    /// Values created (0 for untracked types).
    pub created: usize,
}

/// Runs `ops` against a fresh map of `cfg` and the model. `Err` describes the first
/// disagreement (step path, operation, model state, what the map gave, what the
/// model expects).
pub fn run<V: Value>(cfg: &Config, ops: &[Op]) -> Result<Stats, String> {
    install_quiet_panic_hook();
    let log = V::TRACKED.then(DropLog::new);
    set_current_log(log.clone());
    let mut h = Harness::<V> {
        cfg,
        model: BTreeMap::new(),
        next_tag: 0,
        log: log.clone(),
        path: Vec::new(),
        stats: Stats::default(),
        _v: PhantomData,
    };
    let result = {
        let map = cfg.build_map();
        let mut held = Vec::new();
        let r = h.run_ops(&map, &map, ops, &mut held);
        drop(held);
        let r = r.and_then(|()| h.final_check(&map));
        drop(map);
        r
    };
    set_current_log(None);
    result?;
    if let Some(log) = &log {
        h.stats.created = log.created_count();
        log.wait_all_dropped_once(DROP_STALL, DROP_TIMEOUT)
            .map_err(|e| format!("[{}] after dropping the map: {e}", cfg.name))?;
    }
    Ok(h.stats)
}

struct Harness<'c, V> {
    cfg: &'c Config,
    /// (address, raw id) -> tag of the value the map must hold.
    model: BTreeMap<(usize, u64), u64>,
    next_tag: u64,
    log: Option<Arc<DropLog>>,
    /// Index of the current step, nested for pinned batches.
    path: Vec<usize>,
    stats: Stats,
    _v: PhantomData<fn() -> V>,
}

/// A value handed out by the map and kept: its expected tag and the handle.
type Held<O> = Vec<(u64, O)>;

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

impl<V: Value> Harness<'_, V> {
    fn fresh_tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    fn fail(&self, op: &dyn std::fmt::Debug, msg: String) -> String {
        format!("[{}] step {:?} {op:?}: {msg}", self.cfg.name, self.path)
    }

    fn run_ops<'a, A: Api<V>>(
        &mut self,
        map: &ShadowMap,
        recv: &'a A,
        ops: &[Op],
        held: &mut Held<A::Out<'a>>,
    ) -> Result<(), String> {
        for (i, op) in ops.iter().enumerate() {
            self.path.push(i);
            self.stats.steps += 1;
            self.exec(map, recv, op, held)?;
            self.check_invariants(op, held)?;
            self.stats.peak_len = self.stats.peak_len.max(self.model.len());
            self.path.pop();
        }
        Ok(())
    }

    /// Held values keep their tag and are not dropped; live model values are not dropped.
    fn check_invariants<O: std::ops::Deref<Target = V>>(
        &self,
        op: &Op,
        held: &Held<O>,
    ) -> Result<(), String> {
        if let Some(log) = &self.log {
            // Drop counts first: reading a dropped value's tag would be a use after free.
            for (tag, _) in held {
                if log.drops(*tag) != 0 {
                    return Err(self.fail(
                        op,
                        format!("held value {tag} was dropped while still referenced"),
                    ));
                }
            }
            for (key, tag) in &self.model {
                if log.drops(*tag) != 0 {
                    return Err(
                        self.fail(op, format!("value {tag} of live key {key:x?} was dropped"))
                    );
                }
            }
        }
        for (tag, h) in held {
            if h.tag() != *tag {
                return Err(self.fail(
                    op,
                    format!("held value changed: tag {tag} now reads {}", h.tag()),
                ));
            }
        }
        Ok(())
    }

    fn exec<'a, A: Api<V>>(
        &mut self,
        map: &ShadowMap,
        recv: &'a A,
        op: &Op,
        held: &mut Held<A::Out<'a>>,
    ) -> Result<(), String> {
        let cfg = self.cfg;
        let tag = |h: &mut Self| h.fresh_tag();
        match *op {
            Op::Get { k, hold } => {
                self.key_op(recv, op, cfg.pidx(k.p), k.id, KeyOp::Get, hold, held)
            }
            Op::Contains { k } => {
                self.key_op(recv, op, cfg.pidx(k.p), k.id, KeyOp::Contains, false, held)
            }
            Op::Alloc { k, ctor } => {
                let kop = KeyOp::Alloc {
                    tag: tag(self),
                    ctor,
                };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, false, held)
            }
            Op::TryAlloc { k, ctor } => {
                let kop = KeyOp::TryAlloc {
                    tag: tag(self),
                    ctor,
                };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, false, held)
            }
            Op::Insert { k } => {
                let kop = KeyOp::Insert { tag: tag(self) };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, false, held)
            }
            Op::GetOrAlloc { k, ctor, hold } => {
                let kop = KeyOp::GetOrAlloc {
                    tag: tag(self),
                    ctor,
                };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, hold, held)
            }
            Op::TryGetOrAlloc { k, ctor } => {
                let kop = KeyOp::TryGetOrAlloc {
                    tag: tag(self),
                    ctor,
                };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, false, held)
            }
            Op::GetOrDefault { k } => {
                let kop = KeyOp::GetOrDefault { tag: tag(self) };
                self.key_op(recv, op, cfg.pidx(k.p), k.id, kop, false, held)
            }
            Op::Free { k } => self.key_op(recv, op, cfg.pidx(k.p), k.id, KeyOp::Free, false, held),
            Op::FreeWith { k } => {
                self.key_op(recv, op, cfg.pidx(k.p), k.id, KeyOp::FreeWith, false, held)
            }
            Op::Fill { id, from, n } => {
                for i in 0..usize::from(n) {
                    let kop = KeyOp::GetOrAlloc {
                        tag: tag(self),
                        ctor: Ctor::Ok,
                    };
                    self.key_op(recv, op, usize::from(from) + i, id, kop, false, held)?;
                }
                Ok(())
            }
            Op::FreeAll { id } => {
                let raw = cfg.raw_id(id);
                let want = self.remove_where(|&(_, i)| i == raw).len();
                let got = recv.free_all(cfg.id(id));
                if got != want {
                    return Err(
                        self.fail(op, format!("free_all returned {got}, model expects {want}"))
                    );
                }
                Ok(())
            }
            Op::FreeAllWith { id } => {
                let raw = cfg.raw_id(id);
                let typed = cfg.id::<V>(id);
                let mut want: Vec<(usize, u64)> = self
                    .remove_where(|&(_, i)| i == raw)
                    .into_iter()
                    .map(|((a, _), t)| (a, t))
                    .collect();
                let seen = RefCell::new(Vec::new());
                let still_reachable = Cell::new(None);
                let got = recv.free_all_with(typed, |p, v: &V| {
                    if recv.contains(p, typed) {
                        still_reachable.set(Some(p.addr()));
                    }
                    seen.borrow_mut().push((p.addr(), v.tag()));
                });
                let mut seen = seen.into_inner();
                seen.sort_unstable();
                want.sort_unstable();
                if let Some(a) = still_reachable.get() {
                    return Err(self.fail(
                        op,
                        format!("dtor ran while parent {a:#x} was still reachable by contains()"),
                    ));
                }
                if seen != want || got != want.len() {
                    return Err(self.fail(
                        op,
                        format!("free_all_with returned {got}, dtor saw (addr, tag) {seen:x?}; model expects {} freed: {want:x?}", want.len()),
                    ));
                }
                Ok(())
            }
            Op::FreeParent { p } => {
                let addr = Config::parent(cfg.pidx(p)).addr();
                let want = self.remove_where(|&(a, _)| a == addr).len();
                let got = recv.free_parent(Config::parent(cfg.pidx(p)));
                if got != want {
                    return Err(self.fail(
                        op,
                        format!("free_parent returned {got}, model expects {want}"),
                    ));
                }
                Ok(())
            }
            Op::Len => {
                let got = recv.len();
                if got != self.model.len() {
                    return Err(
                        self.fail(op, format!("len() = {got}, model has {}", self.model.len()))
                    );
                }
                Ok(())
            }
            Op::IsEmpty => {
                let got = recv.is_empty();
                if got != self.model.is_empty() {
                    return Err(self.fail(
                        op,
                        format!("is_empty() = {got}, model has {} entries", self.model.len()),
                    ));
                }
                Ok(())
            }
            Op::Iter { id } => self.check_iter(recv, op, id),
            Op::Release => {
                held.clear();
                Ok(())
            }
            Op::Pinned(ref inner) => {
                let pin = map.pin();
                let mut pinned_held: Held<&V> = Vec::new();
                self.run_ops(map, &pin, inner, &mut pinned_held)?;
                drop(pinned_held);
                drop(pin);
                Ok(())
            }
        }
    }

    fn remove_where(&mut self, f: impl Fn(&(usize, u64)) -> bool) -> Vec<((usize, u64), u64)> {
        let keys: Vec<_> = self.model.keys().copied().filter(|k| f(k)).collect();
        keys.into_iter()
            .map(|k| (k, self.model.remove(&k).unwrap()))
            .collect()
    }

    fn check_iter<A: Api<V>>(
        &self,
        recv: &A,
        op: &dyn std::fmt::Debug,
        id: u8,
    ) -> Result<(), String> {
        let raw = self.cfg.raw_id(id);
        let mut got = recv.iter_tags(self.cfg.id(id));
        got.sort_unstable();
        let want: Vec<(usize, u64)> = self
            .model
            .iter()
            .filter(|((_, i), _)| *i == raw)
            .map(|(&(a, _), &t)| (a, t))
            .collect();
        if got != want {
            return Err(self.fail(
                op,
                format!("iter(id {raw:#x}) gave (addr, tag) {got:x?}, model has {want:x?}"),
            ));
        }
        Ok(())
    }

    fn call_on<'a, A: Api<V>>(
        &self,
        recv: &'a A,
        pidx: usize,
        id: u8,
        kop: KeyOp,
    ) -> Result<(Obs, Option<A::Out<'a>>), String> {
        call(recv, Config::parent(pidx), self.cfg.id::<V>(id), kop, true)
    }

    /// Applies one single-key operation to the map and the model and compares.
    #[allow(clippy::too_many_arguments)]
    fn key_op<'a, A: Api<V>>(
        &mut self,
        recv: &'a A,
        op: &Op,
        pidx: usize,
        id: u8,
        kop: KeyOp,
        hold: bool,
        held: &mut Held<A::Out<'a>>,
    ) -> Result<(), String> {
        let key = (Config::parent(pidx).addr(), self.cfg.raw_id(id));
        let before = self.model.get(&key).copied();
        let (after, want) = apply(before, kop);
        let (got, out) = self
            .call_on(recv, pidx, id, kop)
            .map_err(|e| self.fail(op, format!("{kop:?} on {key:x?}: {e}")))?;
        if got != want {
            return Err(self.fail(
                op,
                format!("{kop:?} on key {key:x?} holding {before:?}: map gave {got:?}, model expects {want:?}"),
            ));
        }
        match after {
            Some(t) => self.model.insert(key, t),
            None => self.model.remove(&key),
        };
        if let (true, Some(o)) = (hold, out) {
            held.push((o.tag(), o));
        }
        Ok(())
    }

    /// After the sequence: `len`, `is_empty`, every key of the space and every id's
    /// `iter` agree with the model.
    fn final_check(&self, map: &ShadowMap) -> Result<(), String> {
        let op = "final check";
        let len = Api::<V>::len(map);
        if len != self.model.len() || Api::<V>::is_empty(map) != self.model.is_empty() {
            return Err(self.fail(
                &op,
                format!("len() = {len}, model has {}", self.model.len()),
            ));
        }
        for id in 0..self.cfg.ids {
            self.check_iter(map, &op, id)?;
            for pidx in 0..usize::from(self.cfg.parents) {
                let key = (Config::parent(pidx).addr(), self.cfg.raw_id(id));
                let got = map
                    .get(Config::parent(pidx), self.cfg.id::<V>(id))
                    .map(|v| v.tag());
                if got != self.model.get(&key).copied() {
                    return Err(self.fail(
                        &op,
                        format!(
                            "get{key:x?} = {got:?}, model has {:?}",
                            self.model.get(&key)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Applies one single-key operation to `recv`, with the harness's constructors
/// (tagged values, planned errors and panics), and reports what it observed.
/// `Err` only for outcomes outside the model's vocabulary
/// (an unplanned panic, a dtor run twice or on the wrong parent, ...).
///
/// With `exclusive` (no other thread uses the map), `free_with`'s dtor also checks
/// that the key is no longer reachable while it runs; under concurrency another
/// thread may legitimately re-create it by then.
pub fn call<'a, V: Value, A: Api<V>>(
    recv: &'a A,
    p: Parent,
    typed: ShadowId<V>,
    kop: KeyOp,
    exclusive: bool,
) -> Result<(Obs, Option<A::Out<'a>>), String> {
    let ran = Cell::new(0u32);
    let make = |tag: u64, ctor: Ctor| -> Result<V, CtorError> {
        ran.set(ran.get() + 1);
        ctor_delay();
        match ctor {
            Ctor::Ok => Ok(V::new(tag)),
            Ctor::Err => Err(CtorError(tag)),
            Ctor::Panic => std::panic::panic_any(PlannedPanic),
        }
    };
    let infallible = |tag: u64, ctor: Ctor| {
        let c = if ctor == Ctor::Err { Ctor::Ok } else { ctor };
        make(tag, c).unwrap_or_else(|_| unreachable!())
    };
    let caught = catch_unwind(AssertUnwindSafe(
        || -> Result<(Ret, Option<A::Out<'a>>), String> {
            Ok(match kop {
                KeyOp::Get => match recv.get(p, typed) {
                    Some(v) => (Ret::Val(v.tag()), Some(v)),
                    None => (Ret::NoVal, None),
                },
                KeyOp::Contains => (Ret::Bool(recv.contains(p, typed)), None),
                KeyOp::Alloc { tag, ctor } => {
                    match recv.alloc(p, typed, || infallible(tag, ctor)) {
                        Ok(v) => (Ret::Val(v.tag()), Some(v)),
                        Err(AllocError::Exists) => (Ret::Exists, None),
                    }
                }
                KeyOp::TryAlloc { tag, ctor } => match recv.try_alloc(p, typed, || make(tag, ctor))
                {
                    Ok(v) => (Ret::Val(v.tag()), Some(v)),
                    Err(TryAllocError::Exists) => (Ret::Exists, None),
                    Err(TryAllocError::Ctor(CtorError(t))) => (Ret::CtorErr(t), None),
                },
                KeyOp::Insert { tag } => match recv.insert(p, typed, V::new(tag)) {
                    Ok(v) => (Ret::Val(v.tag()), Some(v)),
                    Err(back) if back.tag() == tag => (Ret::Exists, None),
                    Err(back) => {
                        return Err(format!(
                            "insert gave back a value tagged {} instead of its own {tag}",
                            back.tag()
                        ));
                    }
                },
                KeyOp::GetOrAlloc { tag, ctor } => {
                    let v = recv.get_or_alloc(p, typed, || infallible(tag, ctor));
                    (Ret::Val(v.tag()), Some(v))
                }
                KeyOp::TryGetOrAlloc { tag, ctor } => {
                    match recv.try_get_or_alloc(p, typed, || make(tag, ctor)) {
                        Ok(v) => (Ret::Val(v.tag()), Some(v)),
                        Err(CtorError(t)) => (Ret::CtorErr(t), None),
                    }
                }
                KeyOp::GetOrDefault { tag } => {
                    set_default_tag(tag);
                    let runs = default_runs();
                    let v = recv.get_or_default(p, typed);
                    ran.set(u32::try_from(default_runs() - runs).unwrap_or(u32::MAX));
                    (Ret::Val(v.tag()), Some(v))
                }
                KeyOp::Free => (Ret::Bool(recv.free(p, typed)), None),
                KeyOp::FreeWith => {
                    let seen = RefCell::new(Vec::new());
                    let reachable = Cell::new(false);
                    let freed = recv.free_with(p, typed, |pp, v: &V| {
                        reachable.set(reachable.get() || (exclusive && recv.contains(p, typed)));
                        seen.borrow_mut().push((pp.addr(), v.tag()));
                    });
                    let seen = seen.into_inner();
                    if seen.len() > 1
                        || freed != (seen.len() == 1)
                        || seen.iter().any(|s| s.0 != p.addr())
                    {
                        return Err(format!(
                            "free_with returned {freed}; dtor calls (addr, tag): {seen:x?}"
                        ));
                    }
                    if reachable.get() {
                        return Err(
                            "free_with's dtor ran while the key was still reachable by contains()"
                                .into(),
                        );
                    }
                    (Ret::Freed(seen.first().map(|s| s.1)), None)
                }
            })
        },
    ));
    let (ret, out) = match caught {
        Ok(r) => r?,
        Err(payload) if payload.is::<PlannedPanic>() => (Ret::Panicked, None),
        Err(payload) => return Err(format!("the map panicked: {}", panic_text(&*payload))),
    };
    match ran.get() {
        0 | 1 => Ok((
            Obs {
                ret,
                ran: ran.get() == 1,
            },
            out,
        )),
        n => Err(format!("constructor ran {n} times in one call")),
    }
}
