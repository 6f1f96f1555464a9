//! Forwards the target and host triples to the tests, which compile the C test
//! program with the `cc` crate at run time (outside a build script, `cc` cannot
//! learn them from the environment). Nothing here touches the library build.

use std::env;

fn main() {
    for var in ["TARGET", "HOST"] {
        let value = env::var(var).unwrap_or_else(|_| panic!("cargo sets {var} for build scripts"));
        println!("cargo::rustc-env=SHADOW_VARS_CAPI_{var}={value}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
