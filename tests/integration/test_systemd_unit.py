#!/usr/bin/env python3
"""systemd/machnet.service passes `systemd-analyze verify` and says what the appliance
promises (Type=notify, watchdog, reload, runtime directory, memlock)."""

import configparser
import os
import shutil
import subprocess
import tempfile
import unittest

from machnet_testlib import SOURCE_ROOT, main

UNIT = os.path.join(SOURCE_ROOT, "systemd", "machnet.service")


class SystemdUnitTest(unittest.TestCase):
    def test_unit_declares_the_contract(self):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(UNIT)
        service = parser["Service"]
        self.assertEqual(service["Type"], "notify")
        self.assertEqual(service["ExecStart"], "/usr/sbin/machnetd --config /etc/machnet/machnet.toml")
        self.assertIn("kill -HUP $MAINPID", service["ExecReload"])
        self.assertIn("WatchdogSec", service)
        self.assertEqual(service["RuntimeDirectory"], "machnet")
        self.assertEqual(service["Restart"], "on-failure")
        self.assertEqual(service["LimitMEMLOCK"], "infinity")
        self.assertIn("CAP_IPC_LOCK", service["CapabilityBoundingSet"])

    def test_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            raise unittest.SkipTest("systemd-analyze is not installed")
        # verify checks that the Exec*= programs exist: give it a root with copies of the
        # host's units and stand-ins for the programs the unit runs (the daemon need not be
        # installed). Links inside a --root resolve within it, hence copies, not links.
        with tempfile.TemporaryDirectory() as root:
            unit_dir = os.path.join(root, "etc", "systemd", "system")
            os.makedirs(unit_dir)
            shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr", "lib", "systemd", "system"),
                            symlinks=True)
            os.symlink("usr/bin", os.path.join(root, "bin"))
            shutil.copy(UNIT, unit_dir)
            for program in ("usr/sbin/machnetd", "usr/bin/kill"):
                path = os.path.join(root, program)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write("#!/bin/sh\n")
                os.chmod(path, 0o755)
            # --man=no: the man pages are checked by the packaging test, where they are installed.
            result = subprocess.run([analyze, "verify", "--man=no", f"--root={root}", "machnet.service"],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            problems = [line for line in result.stderr.splitlines() if "machnet.service" in line]
            self.assertEqual(problems, [], result.stderr)


if __name__ == "__main__":
    main()
