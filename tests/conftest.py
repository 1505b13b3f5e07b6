"""Shared fixtures: a real HTTP server on 127.0.0.1 with well- and badly-behaved paths."""

from __future__ import annotations

import contextlib
import http.server
import os
import queue
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fakedata.py, tests/helpers


STREAM_LIMIT = 512 << 20  # bytes an endless body sends at most (should the client never stop)
LONG_EXTRA = 64 << 20  # bytes /long/ sends beyond the file
DRIP_INTERVAL = 0.2  # seconds between two bytes of /drip/


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``root`` under several behaviours, chosen by the first path component.

    /ok/<f>         the file
    /flaky<k>/<f>   HTTP 503 for the first k requests of <f>, then the file
    /truncated/<f>  announces the full length, sends half, closes
    /slow/<f>       sends nothing for 30 s (for timeouts)
    /endless/<f>    the file, then zeros without end (no Content-Length; closes the connection)
    /endless-chunked/<f>  the same, in chunked transfer encoding
    /long/<f>       announces and sends the file and LONG_EXTRA more bytes
    /drip/<f>       announces the file's length, then sends one byte every DRIP_INTERVAL s
    /redirect/<f>   HTTP 302 to /ok/<f>; /redirect-endless/<f>: to /endless/<f>
    /redirect-body/<f>  HTTP 302 to /ok/<f> whose own body never ends
    /loop/<f>       HTTP 302 to /loop2/<f>, which redirects back to /loop/<f>
    /redirect-file/<f>  HTTP 302 to file:///etc/passwd
    anything else   404

    The streaming modes (endless, long, drip, redirect-body) stop at STREAM_LIMIT bytes at the
    latest, or when the client goes away, and then put (path, bytes of body sent) on
    ``server.streamed`` (a queue).
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
        if mode in ("endless", "endless-chunked", "long", "drip", "redirect-body"):
            return self._stream(mode, data, name)
        redirects = {"redirect": f"/ok/{name}", "redirect-endless": f"/endless/{name}", "loop": f"/loop2/{name}",
                     "loop2": f"/loop/{name}", "redirect-file": "file:///etc/passwd"}
        if mode in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[mode])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(404, b"not found")

    def _stream(self, mode, data, name):
        """A body longer than the file (or slower than a deadline); counts what it sent."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)  # little in flight
        self.close_connection = True
        sent = 0
        chunked = mode == "endless-chunked"
        self.send_response(302 if mode == "redirect-body" else 200)
        if mode == "redirect-body":
            self.send_header("Location", f"/ok/{name}")
        if mode in ("long", "drip"):
            self.send_header("Content-Length", str(len(data) + (LONG_EXTRA if mode == "long" else 0)))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        body = data if mode != "redirect-body" else b""
        limit = len(data) + LONG_EXTRA if mode == "long" else (len(data) if mode == "drip" else STREAM_LIMIT)
        try:
            while sent < limit:
                if mode == "drip":
                    piece = data[sent : sent + 1]
                    threading.Event().wait(DRIP_INTERVAL)
                else:
                    piece = body[sent : sent + (1 << 16)] if sent < len(body) else bytes(min(1 << 16, limit - sent))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except OSError:  # the client went away
            pass
        finally:
            self.server.streamed.put((self.path, sent))
        return None

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
    server.streamed = queue.Queue()
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


# -- one run of the tiny workflow, shared by every test that reads its outputs -------------------
TINY_DESCRIPTION = 'Linear vs two-layer <b>net</b> & "quotes"'  # the report must show it as text, not markup


@pytest.fixture(scope="session")
def tiny_served(tmp_path_factory):
    """The generated MNIST-format dataset of the tiny workflow, served on 127.0.0.1 for the session."""
    with serving_idx_dataset(tmp_path_factory.mktemp("served"), n_train=240, n_test=60, seed=3) as served:
        yield served


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_served):
    """The README's two commands on the tiny workflow (workflow_helpers.tiny_config: the spiral,
    the served dataset and, where Debian's copy is installed, a Fashion-MNIST slice): a run with
    ``--configfile``, then ``snakemake --report results/report.html`` alone, while a default
    ``config/config.yaml`` with other studies sits in the working directory. Once per session;
    a test that changes anything works on a copy (``test_workflow.clone``).
    Returns (work, config, report, the paths the server was asked for by the run)."""
    from workflow_helpers import run_snakemake, tiny_config

    url, spec, server = tiny_served
    work = tmp_path_factory.mktemp("tiny_run")
    (work / "config").mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "config.yaml", work / "config" / "config.yaml")
    cfg = tiny_config(url, spec, fashion=REALDATA_DIR.is_dir())
    cfg["studies"]["spiral"]["description"] = TINY_DESCRIPTION
    asked = len(server.requests)
    run_snakemake(work, cfg, "--cores", "2")
    requests = list(server.requests[asked:])
    r = run_snakemake(work, None, "--report", "results/report.html")
    assert "Report created" in r.stdout + r.stderr
    return work, cfg, work / "results" / "report.html", requests


# -- a spiral study trained job by job, without Snakemake (one model diverges): the runner's and
# the analysis's tests read it (tests/study/run/test_runner.py, tests/study/analysis/test_aggregate.py)
SPIRAL_STEPS = {
    "studies": {
        "s": {
            "dataset": "spiral",
            "recipe": "spiral",
            "model": {"std": 0.01, "reg_convention": "half", "dtype": "float64"},
            "training": {"batch_size": None, "sampling": "full", "steps": 300, "eval_every": 100, "log_every": 10},
            "grid": [{"model": ["linear"], "lr": [1.0], "reg": [1.0e-3]},
                     {"model": ["twolayer"], "hidden": [20], "lr": [1.0, 1.0e6], "reg": [1.0e-3]}],
        }
    }
}


@pytest.fixture
def spiral_plan():
    """The plan of the spiral study the steps' tests train (SPIRAL_STEPS validated)."""
    from twolayer.study.plan.config import validate

    return validate(SPIRAL_STEPS)


def train_study_by_jobs(config, tmp):
    """Study ``s`` of ``config`` trained job by job, without Snakemake, into ``tmp``: its spiral data
    file and the metrics file of every point, as the workflow's jobs write them."""
    from twolayer.data.prepare import prepare_dataset
    from twolayer.data.preprocess import get_recipe
    from twolayer.data.sources import get_source
    from twolayer.study.plan.config import validate
    from twolayer.study.run.runner import run_job

    st = validate(config).study("s")
    data = tmp / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, data)
    metrics = []
    for p in st.points:
        out = tmp / "models" / p.id
        run_job(st.spec(p.id), data, out / "model.h5", out / "metrics.json")
        metrics.append(out / "metrics.json")
    return data, metrics


@pytest.fixture(scope="session")
def spiral_study(tmp_path_factory):
    """A trained spiral study (one model diverges), without Snakemake: (folder, data file, metrics files)."""
    tmp = tmp_path_factory.mktemp("study")
    data, metrics = train_study_by_jobs(SPIRAL_STEPS, tmp)
    return tmp, data, metrics


# -- running in parallel (pytest-xdist, `-n auto --dist loadgroup` in pyproject.toml) ----------------
# The tests of one file run on one worker, so that a module's fixture is made once; files that
# read one session fixture share a group, so that it is made once (each worker has its own session).
SHARED_GROUPS = {"test_workflow": "tiny_run", "test_pages": "tiny_run"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(True for _ in item.iter_markers("xdist_group")):
            name = item.module.__name__.rsplit(".", 1)[-1]
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(name, name)))
