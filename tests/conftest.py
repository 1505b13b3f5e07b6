"""Shared fixtures: a real HTTP server on 127.0.0.1 with well- and badly-behaved paths."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fakedata.py, tests/helpers


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``root`` under several behaviours, chosen by the first path component.

    /ok/<f>         the file
    /flaky<k>/<f>   HTTP 503 for the first k requests of <f>, then the file
    /truncated/<f>  announces the full length, sends half, closes
    /slow/<f>       sends nothing for 30 s (for timeouts)
    anything else   404
    """

    root: Path
    counts: dict
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        parts = self.path.strip("/").split("/", 1)
        if len(parts) != 2:
            return self._send(404, b"not found")
        mode, name = parts
        path = self.root / name
        if not path.is_file() or "/" in name:
            return self._send(404, b"not found")
        data = path.read_bytes()
        self.server.requests.append(self.path)
        if mode == "ok":
            return self._send(200, data)
        if mode.startswith("flaky"):
            k = int(mode[5:] or 1)
            n = self.counts.get(self.path, 0)
            self.counts[self.path] = n + 1
            return self._send(503, b"busy") if n < k else self._send(200, data)
        if mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        if mode == "slow":
            threading.Event().wait(30)
            return self._send(200, data)
        return self._send(404, b"not found")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_server(root):
    """Serve ``root`` on 127.0.0.1 in a thread; returns (base_url, server). Stop with stop_server."""
    handler = type("H", (_Handler,), {"root": Path(root), "counts": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def stop_server(server):
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def serving_idx_dataset(root, **sizes):
    """A generated MNIST-format dataset (fakedata) served from ``root``: yields (base_url, source spec, server)."""
    from fakedata import make_idx_dataset

    _, spec = make_idx_dataset(root, **sizes)
    url, server = start_server(root)
    try:
        yield url, spec, server
    finally:
        stop_server(server)


@pytest.fixture
def http_server(tmp_path):
    """(base_url, root_dir, server): files put in root_dir are served on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    url, server = start_server(root)
    try:
        yield url, root, server
    finally:
        stop_server(server)


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port with nothing listening (connections are refused at once)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


REALDATA_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def fashion_mnist_dir():
    """Debian's Fashion-MNIST; required (not skipped) when TWOLAYER_REQUIRE_REALDATA=1, as in .ci/run."""
    if not REALDATA_DIR.is_dir():
        if os.environ.get("TWOLAYER_REQUIRE_REALDATA") == "1":
            pytest.fail("Debian's dataset-fashion-mnist is not installed: apt-get install -y dataset-fashion-mnist")
        pytest.skip("needs Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
    return REALDATA_DIR


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium, for the report's tests (skipped without it unless required)."""
    for exe in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if exe and Path(exe).is_file():
            return exe
    why = "needs Chromium to render the report (Debian: apt-get install -y chromium)"
    if os.environ.get("TWOLAYER_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"TWOLAYER_REQUIRE_CHROMIUM=1 but no chromium found: {why}")
    pytest.skip(why)
