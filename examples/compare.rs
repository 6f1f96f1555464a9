//! One-minute side-by-side comparison of shadow-vars with its peers.
//!
//! ```text
//! cargo run --release --example compare [-- path/to/chart.svg]
//! ```
//!
//! Runs short versions of every benchmark workload (throughput mixes, get
//! latency against an unsynchronized `HashMap` floor, slow-constructor
//! isolation, constructor race, growth, memory), prints tables of ops/s and
//! ratios, and writes an SVG bar chart (default `target/compare.svg`).
//!
//! Knobs (environment; all listed in `docs/BENCHMARKS.md`), with their
//! defaults: `SV_THREADS=1,2,4`; `SV_CELL_MS=20`, `SV_WARM_MS=10` and
//! `SV_ROUNDS=3` per throughput cell; `SV_LAT_SIZES=10000,4000000`,
//! `SV_LAT_MS=25`, `SV_LAT_ROUNDS=3`; `SV_ISO_MS=20`, `SV_ISO_ROUNDS=3`,
//! `SV_ISO_CTOR=sleep|spin`; `SV_RACE_N=20000`; `SV_GROWTH_N=1000000`,
//! `SV_GROWTH_ROUNDS=3`, `SV_GROWTH_CAP_MS=600`; `SV_MEM_N=1000000`;
//! `SV_BACKENDS=shadow,papaya` (substrings of row names); `SV_SHARDS=n`
//! (shadow-vars shard count);
//! `SV_SECTIONS=tp,lat,iso,race,growth,mem`.

#[path = "../benches/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::backends::{Backend, BoxedFloor, Floor, Row, Visit, for_each_backend, rows};
use common::workload::{self, DISTS, Dist, MIXES, Mix};
use common::{env_ms, env_num, thread_counts};
use common::{report, run};

#[global_allocator]
static ALLOC: common::mem::CountingAlloc = common::mem::CountingAlloc;

/// One measured number per row.
type Results = Vec<(Row, f64)>;

fn main() {
    if common::mem::child_main() {
        return;
    }
    let svg_path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "target/compare.svg".to_string());
    let started = Instant::now();
    let threads = thread_counts();
    let focus = if threads.contains(&2) { 2 } else { threads[0] };
    print_machine();

    let on = |name: &str| {
        std::env::var("SV_SECTIONS").map_or(true, |v| v.split(',').any(|s| s.trim() == name))
    };
    let timed = |name: &'static str| {
        let t = Instant::now();
        move || println!("({name} section: {:.1} s)", t.elapsed().as_secs_f64())
    };
    let mut tp = Tp::new();
    if on("tp") {
        let done = timed("throughput");
        tp = throughput_section(&threads, focus);
        done();
    }
    let mut lat = Lat {
        sizes: Vec::new(),
        floor: Vec::new(),
        rows: Vec::new(),
    };
    if on("lat") {
        let done = timed("latency");
        lat = latency_section();
        done();
    }
    let mut iso = Vec::new();
    if on("iso") {
        let done = timed("isolation");
        iso = report::isolation_section();
        done();
    }
    let mut race = Vec::new();
    if on("race") {
        let done = timed("race");
        race = report::race_section();
        done();
    }
    if on("growth") {
        let done = timed("growth");
        report::growth_section();
        done();
    }
    let mut mem = Vec::new();
    if on("mem") {
        let done = timed("memory");
        mem = report::memory_section();
        done();
    }
    targets_section(&tp, focus, &lat, &iso, &race, &mem);

    let svg = chart(&tp, focus, &lat);
    if let Some(dir) = std::path::Path::new(&svg_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&svg_path, svg) {
        Ok(()) => println!("\nchart: {svg_path}"),
        Err(e) => println!("\nchart: could not write {svg_path}: {e}"),
    }
    println!(
        "total time: {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
}

/// `/proc/loadavg`'s first three fields: other load on the machine skews results.
fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let f: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("load average {}", f.join(" "))
}

fn print_machine() {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "shadow-vars compare: {cpus} CPUs available, {model}; {} at start",
        loadavg()
    );
    println!(
        "rows: 'pin x64' / 'guard x64' = one guard held for a batch of 64 operations; \
         all other rows = one call per operation"
    );
}

// ------------------------------------------------------------------ throughput

/// `(mix, dist, threads)` -> results.
type Tp = BTreeMap<(usize, usize, usize), Results>;

fn throughput_section(threads: &[usize], focus: usize) -> Tp {
    let warm = env_ms("SV_WARM_MS", 10);
    let slice = env_ms("SV_CELL_MS", 20);
    let rounds = env_num("SV_ROUNDS", 3usize);
    let max_t = *threads.iter().max().unwrap();
    println!(
        "\n== Throughput, Mops/s (all threads together; prefill {} of {} keys; median of \
         {rounds} x {} ms per cell, each after {} ms untimed, rows measured round-robin) ==",
        workload::PREFILL,
        workload::KEY_SPACE,
        slice.as_millis(),
        warm.as_millis()
    );
    let mut tp = Tp::new();
    for (mi, &mix) in MIXES.iter().enumerate() {
        for (di, &dist) in DISTS.iter().enumerate() {
            let streams = workload::streams(mix, dist, max_t);
            let mut cs = run::contestants();
            for &t in threads {
                tp.insert(
                    (mi, di, t),
                    run::round_robin(&mut cs, &streams[..t], warm, slice, rounds),
                );
            }
            drop(cs);
            print_tp_table(&tp, mi, di, mix, dist, threads);
        }
    }
    print_peer_ratios(&tp, focus);
    tp
}

fn cell_name(mix: Mix, dist: Dist) -> String {
    format!("{} {}", mix.name, dist.name())
}

fn print_tp_table(tp: &Tp, mi: usize, di: usize, mix: Mix, dist: Dist, threads: &[usize]) {
    let mut s = format!("\n{:<26}", cell_name(mix, dist));
    for t in threads {
        let _ = write!(s, "{:>10}", format!("{t} thr"));
    }
    println!("{s}");
    let names: Vec<Row> = tp[&(mi, di, threads[0])].iter().map(|(r, _)| *r).collect();
    for (k, row) in names.iter().enumerate() {
        let mut s = format!("{:<26}", row.name);
        for &t in threads {
            let _ = write!(s, "{:>10.2}", tp[&(mi, di, t)][k].1 / 1e6);
        }
        println!("{s}");
    }
    for ours in names.iter().filter(|r| r.ours) {
        let mut s = format!("{:<26}", format!("{} / best peer", short(ours.name)));
        for &t in threads {
            let res = &tp[&(mi, di, t)];
            match (value(res, ours.name), best_peer(res)) {
                (Some(v), Some((_, b))) => {
                    let _ = write!(s, "{:>10}", format!("{:.2}x", v / b));
                }
                _ => s.push_str(&format!("{:>10}", "-")),
            }
        }
        println!("{s}");
    }
    let mut s = format!("{:<26}", "best peer");
    for &t in threads {
        let name = best_peer(&tp[&(mi, di, t)])
            .map(|(r, _)| r.name)
            .unwrap_or("-");
        let _ = write!(s, "  {name}");
        if t != *threads.last().unwrap() {
            s.push(';');
        }
    }
    println!("{s}");
}

/// A row label shortened for the ratio lines: `shadow-vars` becomes `sv`.
fn short(name: &str) -> String {
    match name.strip_prefix("shadow-vars") {
        Some("") => "sv".to_string(),
        Some(" pin x64") => "sv pin".to_string(),
        Some(rest) => format!("sv{rest}"),
        None => name.to_string(),
    }
}

fn value(res: &Results, name: &str) -> Option<f64> {
    res.iter().find(|(r, _)| r.name == name).map(|(_, v)| *v)
}

/// The fastest row that is not this crate's (higher is better).
fn best_peer(res: &Results) -> Option<(Row, f64)> {
    res.iter()
        .filter(|(r, _)| !r.ours)
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn print_peer_ratios(tp: &Tp, focus: usize) {
    let cells: Vec<(usize, usize)> = (0..MIXES.len())
        .flat_map(|m| (0..DISTS.len()).map(move |d| (m, d)))
        .collect();
    let Some(first) = tp.get(&(0, 0, focus)) else {
        return;
    };
    for ours in first.iter().filter(|(r, _)| r.ours).map(|(r, _)| r.name) {
        println!("\n{ours} / peer, throughput ratio at {focus} threads (>1: shadow-vars faster)");
        let mut s = format!("{:<26}", "peer");
        for &(m, d) in &cells {
            let _ = write!(
                s,
                "{:>10}",
                format!("{}-{}", &MIXES[m].name[..4], &DISTS[d].name()[..4])
            );
        }
        println!("{s}");
        for (peer, _) in first.iter().filter(|(r, _)| !r.ours) {
            let mut s = format!("{:<26}", peer.name);
            for &(m, d) in &cells {
                let res = &tp[&(m, d, focus)];
                match (value(res, ours), value(res, peer.name)) {
                    (Some(a), Some(b)) => {
                        let _ = write!(s, "{:>10}", format!("{:.2}x", a / b));
                    }
                    _ => s.push_str(&format!("{:>10}", "-")),
                }
            }
            println!("{s}");
        }
    }
}

// --------------------------------------------------------------------- latency

/// Per size: the floor's (dep, indep) ns (median of its measurements), and per
/// row (dep ns, indep ns, dep ratio, indep ratio), each ratio taken against the
/// floor measured alternately with that row.
struct Lat {
    sizes: Vec<usize>,
    floor: Vec<(f64, f64)>,
    rows: Vec<(Row, Vec<[f64; 4]>)>,
}

fn latency_section() -> Lat {
    let dur = env_ms("SV_LAT_MS", 25);
    let rounds = env_num("SV_LAT_ROUNDS", 3usize);
    let sizes: Vec<usize> = std::env::var("SV_LAT_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![10_000, 4_000_000]);
    println!(
        "\n== Single-thread get latency on hits, ns per lookup, best of {rounds} slices of {} ms; \
         (x) = ratio to the floor (an unsynchronized std HashMap with the same hasher), \
         measured in slices alternating with the row's; floor shown = median of those; \
         '(ref)' = the floor with every value boxed: no synchronization, values that never \
         move, not a peer ==",
        (dur / rounds as u32).as_millis()
    );
    let mut lat = Lat {
        sizes: sizes.clone(),
        floor: Vec::new(),
        rows: Vec::new(),
    };
    for &n in &sizes {
        let set = run::LatencySet::new(n);
        struct V<'a> {
            set: &'a run::LatencySet,
            floor: Floor,
            slice: Duration,
            rounds: usize,
            floors: Vec<(f64, f64)>,
            out: Vec<(Row, [f64; 4])>,
        }
        impl Visit for V<'_> {
            fn visit<B: Backend>(&mut self) {
                let r = rows::<B>();
                if r.is_empty() {
                    return;
                }
                let map = B::new();
                self.set.fill(&map);
                for row in r {
                    let x = run::latency_vs_floor(
                        &map,
                        row.pinned,
                        self.set,
                        &self.floor,
                        self.slice,
                        self.rounds,
                    );
                    self.floors.push((x.floor_dep, x.floor_indep));
                    let ratios = [x.dep / x.floor_dep, x.indep / x.floor_indep];
                    self.out.push((row, [x.dep, x.indep, ratios[0], ratios[1]]));
                }
            }
        }
        let mut v = V {
            set: &set,
            floor: set.floor(),
            slice: dur / rounds as u32,
            rounds,
            floors: Vec::new(),
            out: Vec::new(),
        };
        {
            // The reference row first, and gone before the maps are built.
            let boxed = set.boxed_floor();
            let x = run::ops_latency_vs_floor(|| &boxed, &set, &v.floor, v.slice, rounds);
            v.floors.push((x.floor_dep, x.floor_indep));
            let row = Row {
                name: BoxedFloor::NAME,
                pinned: false,
                ours: false,
            };
            let ratios = [x.dep / x.floor_dep, x.indep / x.floor_indep];
            v.out.push((row, [x.dep, x.indep, ratios[0], ratios[1]]));
        }
        for_each_backend(&mut v);
        let floor = (
            run::median(v.floors.iter().map(|f| f.0).collect()),
            run::median(v.floors.iter().map(|f| f.1).collect()),
        );
        lat.floor.push(floor);
        for (row, x) in v.out {
            match lat.rows.iter_mut().find(|(r, _)| r.name == row.name) {
                Some((_, xs)) => xs.push(x),
                None => lat.rows.push((row, vec![x])),
            }
        }
    }
    let mut s = format!("{:<26}", "");
    for &n in &sizes {
        let _ = write!(
            s,
            "{:>21}{:>21}",
            format!("{} dep", human(n)),
            format!("{} indep", human(n))
        );
    }
    println!("{s}");
    let mut s = format!("{:<26}", "floor (median)");
    for &(d, i) in &lat.floor {
        let _ = write!(s, "{:>21}{:>21}", format!("{d:.1}"), format!("{i:.1}"));
    }
    println!("{s}");
    for (row, xs) in &lat.rows {
        let mut s = format!("{:<26}", row.name);
        for &[d, i, rd, ri] in xs {
            let _ = write!(
                s,
                "{:>21}{:>21}",
                format!("{d:.1} ({rd:.2}x)"),
                format!("{i:.1} ({ri:.2}x)")
            );
        }
        println!("{s}");
    }
    lat
}

fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// --------------------------------------------------------------------- targets

fn targets_section(
    tp: &Tp,
    focus: usize,
    lat: &Lat,
    iso: &[(Row, run::Isolation)],
    race: &[(Row, run::Race)],
    mem: &[(&'static str, common::mem::Mem)],
) {
    println!("\n== Issue 4 targets, this run (focus: {focus} threads) ==");
    let ours: Vec<Row> = tp
        .values()
        .next()
        .map(|r| r.iter().filter(|(r, _)| r.ours).map(|(r, _)| *r).collect())
        .unwrap_or_default();
    let check = |ok: bool| if ok { "met" } else { "MISSED" };
    for row in &ours {
        let name = &row.name;
        // Against the kernel model in the same mode: per call against per
        // call, one pin per batch against one pin per batch.
        let kernel = if row.pinned {
            "kernel-style pin x64"
        } else {
            "kernel-style"
        };
        println!("{name}:");
        for (mi, mix) in MIXES.iter().enumerate() {
            let want = if mi == 0 { 1.5 } else { 1.2 };
            for (di, dist) in DISTS.iter().enumerate() {
                let Some(res) = tp.get(&(mi, di, focus)) else {
                    continue;
                };
                if let (Some(v), Some((b, bv))) = (value(res, name), best_peer(res)) {
                    let k = value(res, kernel);
                    println!(
                        "  {:<22} {:.2}x best peer ({}; want >= {want}x) {}{}",
                        cell_name(*mix, *dist),
                        v / bv,
                        b.name,
                        check(v / bv >= want),
                        k.map(|k| format!(
                            "; {:.1}x {kernel} (want >= 10x) {}",
                            v / k,
                            check(v / k >= 10.0)
                        ))
                        .unwrap_or_default()
                    );
                }
            }
        }
        if let Some((_, xs)) = lat.rows.iter().find(|(r, _)| r.name == *name) {
            for (k, &[_, _, rd, ri]) in xs.iter().enumerate() {
                println!(
                    "  get latency {:<10} dependent {:.2}x floor (want <= 1.1) {}; independent \
                     {:.2}x (want <= 1.5) {}",
                    human(lat.sizes[k]),
                    rd,
                    check(rd <= 1.1),
                    ri,
                    check(ri <= 1.5)
                );
            }
        }
        if let Some((_, i)) = iso.iter().find(|(r, _)| r.name == *name) {
            println!(
                "  isolation {:.3} (want >= 0.95) {}",
                i.ratio(),
                check(i.ratio() >= 0.95)
            );
        }
        // Extra constructor runs are counted where two creators race on the
        // same keys (the isolation scenario's writer never races anyone).
        if let Some((_, x)) = race.iter().find(|(r, _)| r.name == *name) {
            println!(
                "  constructor race: {} extra ctor runs, {} disagreements (want 0) {}",
                x.extra(),
                x.disagreements,
                check(x.extra() == 0 && x.disagreements == 0)
            );
        }
    }
    if let Some((_, m)) = mem.iter().find(|(n, _)| *n == "shadow-vars") {
        println!(
            "  memory {:.1} B/entry (want <= 48) {}; after free-all {} B vs empty map {} B {}",
            m.per_entry(),
            check(m.per_entry() <= 48.0),
            m.after_free,
            m.empty,
            check(m.after_free <= m.empty)
        );
    }
}

// ----------------------------------------------------------------------- chart

/// A fixed colour per row, so charts from different runs compare at a glance.
fn color_of(name: &str) -> &'static str {
    match name {
        "shadow-vars" => "#d62728",
        "shadow-vars pin x64" => "#8b0a0a",
        "kernel-style" => "#7f7f7f",
        "Mutex<HashMap>" => "#ff7f0e",
        "RwLock<HashMap>" => "#ffbb78",
        "dashmap" => "#8c564b",
        "papaya" => "#bcbd22",
        "papaya blocking" => "#2ca02c",
        "papaya blocking pin x64" => "#98df8a",
        "scc HashMap" => "#1f77b4",
        "scc HashIndex" => "#17becf",
        "scc HashIndex guard x64" => "#9467bd",
        BoxedFloor::NAME => "#c7c7c7",
        _ => "#e377c2",
    }
}

/// Two grouped bar charts: throughput at `focus` threads, and latency as a ratio
/// to the floor (log scale).
fn chart(tp: &Tp, focus: usize, lat: &Lat) -> String {
    let mut series: Vec<(&'static str, Vec<Option<f64>>)> = Vec::new();
    let mut groups = Vec::new();
    for (mi, mix) in MIXES.iter().enumerate() {
        for (di, dist) in DISTS.iter().enumerate() {
            let Some(res) = tp.get(&(mi, di, focus)) else {
                continue;
            };
            groups.push(cell_name(*mix, *dist));
            for (r, v) in res {
                let s = match series.iter_mut().find(|(n, _)| *n == r.name) {
                    Some(s) => s,
                    None => {
                        series.push((r.name, Vec::new()));
                        series.last_mut().unwrap()
                    }
                };
                s.1.push(Some(v / 1e6));
            }
        }
    }
    let mut lgroups = Vec::new();
    let mut lseries: Vec<(&'static str, Vec<Option<f64>>)> =
        lat.rows.iter().map(|(r, _)| (r.name, Vec::new())).collect();
    for (k, &n) in lat.sizes.iter().enumerate() {
        for (dep, label) in [(true, "dependent"), (false, "independent")] {
            lgroups.push(format!("{} {label}", human(n)));
            for (s, (_, xs)) in lseries.iter_mut().zip(&lat.rows) {
                s.1.push(xs.get(k).map(|x| if dep { x[2] } else { x[3] }));
            }
        }
    }
    // Every row of either chart, once (the latency chart has the reference
    // row, which the throughput chart has not).
    let mut names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    for (n, _) in &lseries {
        if !names.contains(n) {
            names.push(n);
        }
    }
    let color = color_of;
    let (w, h1, h2) = (1100.0, 380.0, 340.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
"#,
        h1 + h2 + 40.0
    );
    bars(
        &mut svg,
        &format!("Throughput at {focus} threads, Mops/s (higher is better)"),
        &groups,
        &series,
        &color,
        false,
        (10.0, 10.0, w - 230.0, h1),
    );
    bars(
        &mut svg,
        "Get latency on hits, ratio to unsynchronized std HashMap (log scale, lower is better)",
        &lgroups,
        &lseries,
        &color,
        true,
        (10.0, h1 + 30.0, w - 230.0, h2),
    );
    // Legend.
    for (i, name) in names.iter().enumerate() {
        let y = 40.0 + i as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            w - 205.0,
            y,
            color(name),
            w - 188.0,
            y + 10.0,
            esc(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[allow(clippy::too_many_arguments)]
fn bars(
    svg: &mut String,
    title: &str,
    groups: &[String],
    series: &[(&'static str, Vec<Option<f64>>)],
    color: &dyn Fn(&str) -> &'static str,
    log: bool,
    (x0, y0, w, h): (f64, f64, f64, f64),
) {
    let (left, top, bottom) = (50.0, 24.0, 40.0);
    let (px, py, pw, ph) = (x0 + left, y0 + top, w - left, h - top - bottom);
    let vals = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let (min, max) = vals.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let max = max.max(if log { 2.0 } else { 1e-9 });
    let _ = writeln!(
        svg,
        r#"<text x="{x0}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        y0 + 14.0,
        esc(title)
    );
    // Axis scale and ticks. Log axis: from 0.5 (0.1 if something is more than
    // twice as fast as the floor) up to the next power of ten.
    let lo_v = if min < 0.5 { 0.1 } else { 0.5 };
    let (lo, hi) = if log {
        (f64::log10(lo_v), nice(max).log10())
    } else {
        (0.0, nice(max))
    };
    let ypos = |v: f64| {
        let t = if log { v.max(lo_v).log10() } else { v };
        py + ph - (t - lo) / (hi - lo) * ph
    };
    let ticks: Vec<f64> = if log {
        let mut t = Vec::new();
        let mut d = 10f64.powf(lo.floor());
        while d.log10() <= hi + 1e-9 {
            for m in [1.0, 2.0, 5.0] {
                let v = d * m;
                if v >= lo_v * 0.999 && v.log10() <= hi + 1e-9 {
                    t.push(v);
                }
            }
            d *= 10.0;
        }
        t
    } else {
        (0..=5).map(|i| hi * i as f64 / 5.0).collect()
    };
    for t in ticks {
        let y = ypos(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{px}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            px + pw,
            px - 4.0,
            y + 4.0,
            if t >= 10.0 || t == 0.0 {
                format!("{t:.0}")
            } else {
                format!("{t}")
            }
        );
    }
    if log {
        let y = ypos(1.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{px}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#000"/>"##,
            px + pw
        );
    }
    let ng = groups.len().max(1) as f64;
    let gw = pw / ng;
    let bw = (gw * 0.85) / series.len().max(1) as f64;
    for (g, name) in groups.iter().enumerate() {
        let gx = px + g as f64 * gw + gw * 0.075;
        for (k, (sname, v)) in series.iter().enumerate() {
            let Some(Some(val)) = v.get(g) else { continue };
            let y = ypos(*val);
            let base = ypos(if log { 1.0 } else { 0.0 });
            let (top_y, height) = if y < base {
                (y, base - y)
            } else {
                (base, y - base)
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {val:.3}</title></rect>"#,
                gx + k as f64 * bw,
                bw.max(1.0) - 0.5,
                height.max(0.5),
                color(sname),
                esc(sname)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            px + g as f64 * gw + gw / 2.0,
            py + ph + 16.0,
            esc(name)
        );
    }
}

/// A round axis maximum at or above `v`.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}
