//! Runs the C test program `tests/c/*.c` against the C ABI.
//!
//! The program is compiled with the `cc` crate the first time a test needs it, twice:
//! linked statically against `libklp_shadow.a` and dynamically against
//! `libklp_shadow.so`, both built by this same `cargo test` next to the test binary.
//! Each Rust test runs one C test in its own process and compares the library's
//! stderr with the lines the C test announced (`expect-stderr: ...` on stdout).
//!
//! Set `SHADOW_VARS_CAPI_VALGRIND=1` to run every C test under Valgrind
//! (memcheck, full leak check, errors fail the test).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const C_SOURCES: &[&str] = &[
    "main.c",
    "test_basic.c",
    "test_selftest.c",
    "test_threads.c",
];

/// How the test program links the library.
#[derive(Clone, Copy, Debug)]
enum Link {
    Static,
    Shared,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the `libklp_shadow.{a,so}` of this build: `cargo test` leaves
/// them in `target/<profile>/deps/` next to this test binary (it copies them up to
/// `target/<profile>/` only on `cargo build`, so the copies there may be stale).
fn artifact_dir() -> PathBuf {
    let exe = env::current_exe().expect("path of the test binary");
    let deps = exe
        .parent()
        .expect("test binary lies in deps/")
        .to_path_buf();
    for dir in [
        deps.clone(),
        deps.parent()
            .expect("deps/ lies in target/<profile>/")
            .to_path_buf(),
    ] {
        if dir.join("libklp_shadow.a").is_file() && dir.join("libklp_shadow.so").is_file() {
            return dir;
        }
    }
    panic!(
        "libklp_shadow.a and .so not found in {} or its parent",
        deps.display()
    );
}

fn compile(link: Link) -> PathBuf {
    let lib_dir = artifact_dir();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi-c-tests");
    std::fs::create_dir_all(&out_dir).expect("create the C test output folder");
    let exe = out_dir.join(match link {
        Link::Static => "klp_tests_static",
        Link::Shared => "klp_tests_shared",
    });

    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .target(env!("SHADOW_VARS_CAPI_TARGET"))
        .host(env!("SHADOW_VARS_CAPI_HOST"))
        .opt_level(1)
        .debug(true)
        .try_get_compiler()
        .expect("find a C compiler");
    let mut cmd = compiler.to_command();
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg("-I")
        .arg(manifest_dir().join("../include"))
        .args(
            C_SOURCES
                .iter()
                .map(|s| manifest_dir().join("tests/c").join(s)),
        )
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Static => {
            cmd.arg(lib_dir.join("libklp_shadow.a"));
        }
        Link::Shared => {
            cmd.arg(format!("-L{}", lib_dir.display()))
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
                .arg("-lklp_shadow");
        }
    }
    cmd.args(["-lpthread", "-ldl", "-lm"]);
    let output = cmd.output().expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling the C tests failed: {cmd:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

fn test_program(link: Link) -> &'static Path {
    static STATIC: OnceLock<PathBuf> = OnceLock::new();
    static SHARED: OnceLock<PathBuf> = OnceLock::new();
    let cell = match link {
        Link::Static => &STATIC,
        Link::Shared => &SHARED,
    };
    cell.get_or_init(|| compile(link))
}

fn run(link: Link, name: &str) -> Output {
    let exe = test_program(link);
    let valgrind = env::var_os("SHADOW_VARS_CAPI_VALGRIND").is_some_and(|v| v != "0");
    let log =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("valgrind-{name}-{link:?}.log"));
    let mut cmd = if valgrind {
        // Valgrind's report goes to its own file, so that stderr stays the library's.
        // Memory errors and definite leaks fail the run; "possibly lost" blocks are the
        // interior pointers of live tables (hashbrown, crossbeam-epoch) and are not.
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
        ])
        .arg(format!("--log-file={}", log.display()))
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let output = cmd.arg(name).output().expect("run the C test program");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = if valgrind {
        std::fs::read_to_string(&log).unwrap_or_default()
    } else {
        String::new()
    };
    assert!(
        output.status.success(),
        "C test {name} ({link:?}) failed: {}\n--- stdout\n{stdout}--- stderr\n{stderr}{report}",
        output.status
    );
    output
}

/// The stderr lines the C test announced, and the ones the library printed, sorted
/// (threads print in any order).
fn stderr_lines(output: &Output) -> (Vec<String>, Vec<String>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut expected: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("expect-stderr: "))
        .map(str::to_owned)
        .collect();
    let mut actual: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    expected.sort();
    actual.sort();
    (expected, actual)
}

/// Runs C test `name` and requires exactly the announced lines on stderr.
fn c_test(name: &str) {
    let output = run(Link::Static, name);
    let (expected, actual) = stderr_lines(&output);
    assert_eq!(actual, expected, "stderr of C test {name}");
}

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            c_test(stringify!($name));
        }
    )*};
}

c_tests!(
    get_absent,
    alloc_zeroed_aligned,
    size_zero,
    stable_address,
    ctor_once,
    get_or_alloc_ignores_args,
    ctor_failure,
    duplicate,
    out_of_memory,
    free_dtor,
    free_all,
    kernel_selftest,
    threads_get_or_alloc,
    threads_alloc,
    threads_get_vs_free,
);

/// A ctor asking for its own pair makes the map panic; the panic is reported by the
/// panic hook on stderr and must end at the C boundary as NULL, with no other line.
#[test]
fn reentrant() {
    let output = run(Link::Static, "reentrant");
    let (expected, actual) = stderr_lines(&output);
    assert!(expected.is_empty());
    let stderr = actual.join("\n");
    assert!(
        !stderr.contains("Duplicate shadow variable") && !stderr.contains("Failed to construct"),
        "unexpected kernel line on stderr:\n{stderr}"
    );
}

/// Every C test, in one process, through the shared library.
#[test]
fn all_in_one_process_shared_library() {
    let output = run(Link::Shared, "all");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let listed = run(Link::Shared, "list");
    for name in String::from_utf8_lossy(&listed.stdout).lines() {
        assert!(
            stdout.lines().any(|l| l == format!("ok {name}")),
            "C test {name} did not run:\n{stdout}"
        );
    }
}

/// The header compiles as C++ (extern "C" linkage) with the kernel's typedefs.
#[test]
fn header_compiles_as_cpp() {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .cpp(true)
        .target(env!("SHADOW_VARS_CAPI_TARGET"))
        .host(env!("SHADOW_VARS_CAPI_HOST"))
        .opt_level(0)
        .try_get_compiler()
        .expect("find a C++ compiler");
    let src = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("klp_shadow_header_check.cpp");
    std::fs::write(
        &src,
        "#include \"klp_shadow.h\"\n\
         #include <type_traits>\n\
         static_assert(std::is_same<decltype(&klp_shadow_get), void *(*)(void *, unsigned long)>::value, \"get\");\n\
         static_assert(std::is_same<decltype(&klp_shadow_alloc), void *(*)(void *, unsigned long, size_t, gfp_t, klp_shadow_ctor_t, void *)>::value, \"alloc\");\n\
         static_assert(std::is_same<decltype(&klp_shadow_get_or_alloc), void *(*)(void *, unsigned long, size_t, gfp_t, klp_shadow_ctor_t, void *)>::value, \"get_or_alloc\");\n\
         static_assert(std::is_same<decltype(&klp_shadow_free), void (*)(void *, unsigned long, klp_shadow_dtor_t)>::value, \"free\");\n\
         static_assert(std::is_same<decltype(&klp_shadow_free_all), void (*)(unsigned long, klp_shadow_dtor_t)>::value, \"free_all\");\n\
         static_assert(std::is_same<gfp_t, unsigned int>::value, \"gfp_t\");\n\
         static_assert(std::is_same<klp_shadow_ctor_t, int (*)(void *, void *, void *)>::value, \"ctor\");\n\
         static_assert(std::is_same<klp_shadow_dtor_t, void (*)(void *, void *)>::value, \"dtor\");\n\
         #include \"klp_shadow.h\" /* include guard */\n",
    )
    .expect("write the C++ check");
    let output = compiler
        .to_command()
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(manifest_dir().join("../include"))
        .arg(&src)
        .output()
        .expect("run the C++ compiler");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
