//! Finds libmachnet. Two ways, first match wins:
//!
//! 1. `MACHNET_LIB_DIR`: a directory holding libmachnet.so (the in-tree build: `build/lib`).
//!    Running the result then needs the same directory in `LD_LIBRARY_PATH`.
//! 2. `pkg-config --libs machnet`: the installed library (libmachnet-dev / libmachnet-devel),
//!    honouring `PKG_CONFIG_PATH` as usual.
//!
//! No crates: the pkg-config output is parsed here (`-L` and `-l` flags).

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MACHNET_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    if let Some(dir) = env::var_os("MACHNET_LIB_DIR") {
        let dir = dir.to_string_lossy().into_owned();
        println!("cargo:rustc-link-search=native={}", dir);
        println!("cargo:rustc-link-lib=dylib=machnet");
        return;
    }

    let output = Command::new("pkg-config").args(["--libs", "machnet"]).output();
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!(
            "machnet-sys: cannot run pkg-config ({}); install pkg-config and libmachnet-dev \
             (libmachnet-devel), or set MACHNET_LIB_DIR to the directory of libmachnet.so",
            e
        ),
    };
    if !output.status.success() {
        panic!(
            "machnet-sys: `pkg-config --libs machnet` failed: {}; install libmachnet-dev \
             (libmachnet-devel), set PKG_CONFIG_PATH, or set MACHNET_LIB_DIR to the directory \
             of libmachnet.so",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut linked = false;
    for flag in String::from_utf8_lossy(&output.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={}", lib);
            linked |= lib == "machnet";
        }
    }
    if !linked {
        println!("cargo:rustc-link-lib=dylib=machnet");
    }
}
