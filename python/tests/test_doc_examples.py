"""The echo examples of docs/bindings.md (and the README) run as written: each block marked
`<!-- example: NAME -->` is extracted, the servers are started against the session's daemon
and the Python client example talks to each of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import python_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def examples(path: str) -> dict[str, str]:
    with open(path) as f:
        text = f.read()
    return {m.group(1): m.group(2) for m in
            re.finditer(r"<!-- example: ([\w-]+) -->\n```\w+\n(.*?)```", text, re.S)}


def run_client(daemon, tmp_path, code: str) -> str:
    path = tmp_path / "client.py"
    path.write_text(code)
    deadline = time.monotonic() + 20
    while True:  # the server may not listen yet: the client sees ECONNREFUSED then
        r = subprocess.run([sys.executable, str(path)], env=python_env(daemon), capture_output=True, text=True,
                           timeout=30)
        if r.returncode == 0 or "ConnectionRefusedError" not in r.stderr or time.monotonic() > deadline:
            return r.stdout + r.stderr
        time.sleep(0.1)


def port_free(daemon, port: int) -> bool:
    return all(port not in c.get("listening", []) for c in daemon.ctl_json("channels")["channels"])


def serve_and_ask(daemon, tmp_path, server_cmd: list[str], client: str) -> str:
    deadline = time.monotonic() + 10
    while not port_free(daemon, 7000):  # the previous example's listener goes with its process
        assert time.monotonic() < deadline, "port 7000 still taken"
        time.sleep(0.05)
    server = subprocess.Popen(server_cmd, env=python_env(daemon), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        return run_client(daemon, tmp_path, client)
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("doc,server", [
    ("docs/bindings.md", "python-echo-server"), ("docs/bindings.md", "python-asyncio-echo-server"),
    ("docs/bindings.md", "c-echo-server"), ("README.md", "python-echo-server"), ("README.md", "c-echo-server")])
def test_echo_example_runs_as_written(daemon, tmp_path, doc: str, server: str) -> None:
    found = examples(os.path.join(ROOT, doc))
    assert server in found and "python-echo-client" in found, f"{doc} lost its {server} example"
    client = found["python-echo-client"]
    if server.startswith("c-"):
        cc = shutil.which("cc") or shutil.which("gcc")
        assert cc, "no C compiler"
        src, exe = tmp_path / "echo.c", tmp_path / "echo"
        src.write_text(found[server])
        lib = os.path.dirname(os.environ["MACHNET_LIBRARY"])
        subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(src),
                        "-I", os.path.join(ROOT, "lib", "include"), "-L", lib, "-lmachnet", f"-Wl,-rpath,{lib}"],
                       check=True, timeout=60)
        cmd = [str(exe)]
    else:
        path = tmp_path / "server.py"
        path.write_text(found[server])
        cmd = [sys.executable, str(path)]
    out = serve_and_ask(daemon, tmp_path, cmd, client)
    assert "reply: hello" in out, out
