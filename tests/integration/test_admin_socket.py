#!/usr/bin/env python3
"""The admin socket against hostile and careless clients: garbage, oversized requests,
clients that vanish mid-answer, many requests on one connection, idle connections. The
daemon must answer with errors and keep serving."""

import json
import socket
import time

from machnet_testlib import TempDirTest, main

NONE_MODE = '[nic]\nmode = "none"\n'


class AdminSocketTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(NONE_MODE).start()

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.admin_socket)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def read_line(s):
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def ask(self, s, raw):
        s.sendall(raw)
        return json.loads(self.read_line(s))

    def assert_still_serving(self):
        self.assertIsNone(self.d.proc.poll(), "daemon died")
        self.assertEqual(self.d.ctl_json("status")["state"], "running")

    def test_several_requests_on_one_connection(self):
        s = self.connect()
        for _ in range(3):
            self.assertTrue(self.ask(s, b'{"cmd":"status"}\n')["ok"])
        # A request split across writes is reassembled.
        s.sendall(b'{"cmd":')
        time.sleep(0.05)
        s.sendall(b'"status"}\r\n')
        self.assertTrue(json.loads(self.read_line(s))["ok"])

    def test_garbage_gets_error_answers(self):
        s = self.connect()
        for raw in (b"hello\n", b"\x00\xff\xfe\n", b"[]\n", b'{"cmd":"nope"}\n', b"\n"):
            answer = self.ask(s, raw)
            self.assertFalse(answer["ok"], raw)
            self.assertIn("error", answer)
        self.assert_still_serving()

    def test_oversized_request_is_refused_and_connection_closed(self):
        s = self.connect()
        payload = b"x" * (100 * 1024)
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = json.loads(self.read_line(s))
        self.assertFalse(answer["ok"])
        self.assertIn("too large", answer["error"])
        self.assert_still_serving()

    def test_clients_that_vanish_do_no_harm(self):
        for _ in range(50):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.admin_socket)
            s.sendall(b'{"cmd":"config"}\n')
            s.close()  # before reading the answer
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.admin_socket)
            s.close()  # before sending anything
        self.assert_still_serving()

    def test_idle_connections_do_not_block_others(self):
        idle = [self.connect() for _ in range(10)]
        self.assertEqual(len(idle), 10)
        self.assert_still_serving()


if __name__ == "__main__":
    main()
