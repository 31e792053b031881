#!/usr/bin/env python3
"""The Rust binding (rust/): `cargo test` with Debian's cargo and rustc, offline and locked,
against a real machnetd with [nic] mode = "none" (local delivery) and the libmachnet of this
build: the echo example with messages of 0 B to 8 MiB byte for byte, a channel moved to a
thread, an echo server driven by the channel's descriptor, the documented errors
(rust/machnet/tests/). Also checks that docs/bindings.md and
the README show examples/echo.rs as it is. Not covered: the network (no NIC here), the
sanitizer build (the Rust code is not instrumented; libmachnet is covered by the C tests)."""

import os
import re
import subprocess
import unittest

from machnet_testlib import SOURCE_ROOT, TempDirTest, main

BUILD_ROOT = os.environ["MACHNET_BUILD_ROOT"]
CARGO = "/usr/bin/cargo"  # Debian's, not a rustup one earlier in PATH
RUST_DIR = os.path.join(SOURCE_ROOT, "rust")
ECHO = os.path.join(RUST_DIR, "machnet", "examples", "echo.rs")


def cargo_env(extra):
    env = dict(os.environ)
    # Debian's compiler and rustdoc too; the build output stays in the Meson build dir.
    env.update(RUSTC="/usr/bin/rustc", RUSTDOC="/usr/bin/rustdoc",
               CARGO_TARGET_DIR=os.path.join(BUILD_ROOT, "rust-target"),
               MACHNET_LIB_DIR=os.path.join(BUILD_ROOT, "lib"),
               LD_LIBRARY_PATH=os.path.join(BUILD_ROOT, "lib"))
    env.pop("RUSTFLAGS", None)
    env.update(extra)
    return env


class RustTest(TempDirTest):
    def test_cargo_test_against_daemon(self):
        if os.environ.get("MACHNET_SANITIZE", "none") not in ("", "none"):
            raise unittest.SkipTest("sanitizer build: libmachnet needs the sanitizer runtime first; "
                                    "the plain build runs this test")
        d = self.daemon('[nic]\nmode = "none"\n').start()
        r = subprocess.run([CARGO, "test", "--offline", "--locked", "--manifest-path",
                            os.path.join(RUST_DIR, "Cargo.toml")],
                           env=cargo_env({"MACHNET_SOCKET": d.app_socket}),
                           capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-6000:])
        self.assertNotIn("SKIPPED", out)
        passed = sum(int(n) for n in re.findall(r"test result: ok\. (\d+) passed", out))
        # 4 unit + 2 echo + 3 error + 1 no-daemon + 2 descriptor tests and the crate doc example.
        self.assertGreaterEqual(passed, 13, out[-6000:])
        self.assertIsNone(d.proc.poll(), f"machnetd died:\n{d.read_log()}")

    def test_docs_show_the_echo_example_as_it_is(self):
        with open(ECHO) as f:
            echo = f.read().strip()
        for doc in ("docs/bindings.md", "README.md"):
            with open(os.path.join(SOURCE_ROOT, doc)) as f:
                blocks = [b.strip() for b in re.findall(r"```rust\n(.*?)```", f.read(), re.S)]
            self.assertIn(echo, blocks, f"{doc} does not show rust/machnet/examples/echo.rs as it is")
        self.assertLessEqual(len(echo.splitlines()), 10)


if __name__ == "__main__":
    main()
