"""Start, watch and stop the Go service under test.

A service is started from a built binary on free loopback ports, with its
output appended to a log file (a file, not a pipe, so a chatty service can
never block on a full pipe). It is ready when its readiness path answers
2xx/3xx; then pprof must answer too. It is stopped by PID: SIGTERM, a grace
period, then SIGKILL of its process group. Children die with the test run
even when pytest itself is killed (``PR_SET_PDEATHSIG`` on Linux) and
are swept at interpreter exit otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from ..analysis.leaks import LeakPolicy
from ..config import DEFAULT_LOG_LIMIT, check_service_url
from ..errors import (
    ConfigError,
    GoperfError,
    PprofError,
    ServiceDiedError,
    ServiceStartError,
)
from .logcap import LogCap, read_tail
from .pprof import PprofAccess, PprofClient

if TYPE_CHECKING:
    from ..formats.goroutines import Goroutine

__all__ = ["GoService", "ServiceSpec", "start_service"]

LOOPBACK = "127.0.0.1"
_PORT_CLASH = ("address already in use", "bind: address", "EADDRINUSE")
_live: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service: binary, argument template, environment, timeouts."""

    binary: Path
    args: Sequence[str] = ("-addr", "{addr}")
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_path: str = "/debug/pprof/"
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    name: str = "service"
    #: Scheme of the service's pprof listener ("https": served over TLS); a service without a
    #: separate pprof listener is then reached over HTTPS altogether.
    pprof_scheme: str = "http"
    pprof_access: PprofAccess | None = field(default=None, repr=False)
    #: Bytes the log file may hold before its start is dropped (see :mod:`.logcap`; the last 256 KiB are always kept).
    log_limit: int = DEFAULT_LOG_LIMIT


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed if pytest dies without cleaning up
    except (OSError, AttributeError):
        pass


def _sweep() -> None:
    for pid, proc in list(_live.items()):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            proc.wait()
    _live.clear()


atexit.register(_sweep)


def _render(args: Sequence[str], ports: Mapping[str, str]) -> list[str]:
    out = []
    for a in args:
        for key, value in ports.items():
            a = a.replace("{" + key + "}", value)
        out.append(a)
    return out


class GoService:
    """A running Go service: its URLs, process, log and pprof client.

    Attributes:
        url: base URL of the service's API, e.g. ``http://127.0.0.1:41234``.
        pprof_url: base URL that serves ``/debug/pprof/`` (same as ``url`` unless separate).
        pid: process id, or ``None`` when attached to a service started elsewhere.
        log_path: file with the service's stdout and stderr, or ``None`` when attached.
    """

    def __init__(
        self,
        url: str,
        pprof_url: str | None = None,
        *,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        spec: ServiceSpec | None = None,
        argv: Sequence[str] = (),
        go_version: str = "",
        leak_policy: LeakPolicy | None = None,
        main_module: str | None = None,
        pprof_access: PprofAccess | None = None,
        allow_remote: bool = False,
    ) -> None:
        if process is None:  # attached: the one place a user names the host
            check_service_url(url, "the service URL", allow_remote=allow_remote, option="allow_remote=True")
        self.url = url.rstrip("/")
        self._process = process
        self._client: httpx.Client | None = None
        self.pprof = PprofClient((pprof_url or url).rstrip("/"), access=pprof_access,
                                 allow_remote=allow_remote or process is not None)
        #: The pprof base URL, without credentials (they live in ``pprof.access``).
        self.pprof_url = self.pprof.base_url
        self.log_path = log_path
        self.spec = spec
        self.argv = list(argv)
        self.stop_status: int | None = None
        self.go_version = go_version  # the toolchain that built it ("" when attached)
        #: How leak checks on this service judge (the project's [tool.goperf.leak] for a plugin service).
        self.leak_policy = leak_policy or LeakPolicy()
        self._main_module = main_module
        self._main_module_read = main_module is not None
        #: Keeps the log file bounded while the process runs (None when attached).
        self._log_cap: LogCap | None = None

    def __repr__(self) -> str:
        return f"<GoService {self.url} pid={self.pid}>"

    @property
    def main_module(self) -> str | None:
        """The service's main module path (its packages count as user code).

        Given (``main_module`` in ``[tool.goperf]``), else from the binary's
        build info; attached to a running service, from the build info of the
        binary its CPU profile names, once a window has been analysed.
        """
        if not self._main_module_read:
            self._main_module_read = True
            if self.spec is not None:
                from ..formats.profile._buildinfo import read_build_info_file

                try:
                    self._main_module = read_build_info_file(self.spec.binary).main_module or None
                except GoperfError:
                    self._main_module = None
        return self._main_module

    def learn(self, *, main_module: str | None = None, go_version: str | None = None) -> None:
        """Fill in what an attached service did not say: its main module and Go version (from a window)."""
        if main_module and self._main_module is None:
            self._main_module, self._main_module_read = main_module, True
        if go_version and not self.go_version:
            self.go_version = go_version

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def client(self) -> httpx.Client:
        """An ``httpx.Client`` whose base URL is :attr:`url` (created on first use)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)
        return self._client

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has ended (negative: killed by that signal)."""
        return self._process.poll() if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is None or self._process.poll() is None

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the service's log ("" when attached)."""
        if self.log_path is None:
            return ""
        lines = read_tail(self.log_path).decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])

    def check_alive(self) -> None:
        """Raise :class:`ServiceDiedError` (with exit status and log tail) if the process has exited."""
        if self.alive:
            return
        raise ServiceDiedError(describe_exit(self.returncode, self.log_path, self.log_tail()))

    def goroutine_dump(self, debug: int = 2) -> str:
        """The raw text of ``/debug/pprof/goroutine?debug=N``."""
        self.check_alive()
        return self.pprof.goroutine_dump(debug)

    def goroutines(self) -> list[Goroutine]:
        """A parsed snapshot of every goroutine in the service."""
        from ..formats.goroutines import parse_goroutines

        return parse_goroutines(self.goroutine_dump(2))

    def stop(self) -> int | None:
        """Stop the process: SIGTERM, wait ``stop_timeout``, then SIGKILL. Returns its exit status."""
        if self._client is not None:
            self._client.close()
        self.pprof.close()
        proc = self._process
        if proc is None:
            return None
        try:
            return self._stop_process(proc)
        finally:
            if self._log_cap is not None:
                self._log_cap.stop()

    def _stop_process(self, proc: subprocess.Popen[bytes]) -> int:
        if proc.poll() is None:
            timeout = self.spec.stop_timeout if self.spec else 10.0
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
        status = self.stop_status = proc.wait()
        _live.pop(proc.pid, None)
        return status


    def _adopt(self, other: GoService) -> None:
        """Take over the process and URLs of a restarted copy of this service."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self.pprof.close()
        self.url, self.pprof_url, self.argv = other.url, other.pprof_url, other.argv
        self._process, self.pprof, self.stop_status = other._process, other.pprof, None
        self._log_cap, other._log_cap = other._log_cap, None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def describe_exit(code: int | None, log_path: Path | None, tail: str) -> str:
    """A message for a service that exited: status (or signal), log path and log tail."""
    if code is None:
        status = "is still running"
    elif code < 0:
        try:
            status = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            status = f"was killed by signal {-code}"
    else:
        status = f"exited with status {code}"
    where = f" (log: {log_path})" if log_path else ""
    body = f"\n--- last lines of the service log ---\n{tail}" if tail else "\n(the service wrote nothing)"
    return f"the Go service {status}{where}{body}"


def start_service(
    spec: ServiceSpec,
    log_path: Path,
    *,
    attempts: int = 3,
    go_version: str = "",
    leak_policy: LeakPolicy | None = None,
) -> GoService:
    """Start ``spec`` on free loopback ports and wait until it is ready.

    Retries with new ports when the chosen port was taken meanwhile (another
    process may grab a free port between our probe and the service's bind).
    """
    from ..config import passes_listen_address

    joined = " ".join(spec.args)
    if not passes_listen_address(spec.args, spec.env):
        raise ConfigError("the service's arguments or environment must contain {addr} or {port} so goperf can "
                          "choose a free loopback port (e.g. args = [\"-addr\", \"{addr}\"] or env = {PORT = \"{port}\"})")
    if not spec.binary.is_file() or not os.access(spec.binary, os.X_OK):
        raise ConfigError(f"the service binary {spec.binary} is not an executable file: build it first, or fix "
                          "`binary` in [tool.goperf]")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    last_error: ServiceStartError | None = None
    for _ in range(attempts):
        port, pprof_port = _free_port(), _free_port()
        ports = {
            "host": LOOPBACK,
            "port": str(port),
            "addr": f"{LOOPBACK}:{port}",
            "pprof_port": str(pprof_port),
            "pprof_addr": f"{LOOPBACK}:{pprof_port}",
        }
        argv = [str(spec.binary), *_render(spec.args, ports)]
        env = dict(os.environ)
        env.update({k: _render([v], ports)[0] for k, v in spec.env.items()})
        separate = "{pprof_" in joined or any("{pprof_" in v for v in spec.env.values())
        url = f"{'http' if separate else spec.pprof_scheme}://{LOOPBACK}:{port}"
        pprof_url = f"{spec.pprof_scheme}://{LOOPBACK}:{pprof_port}" if separate else url
        with log_path.open("ab") as log:
            line = " ".join(argv)
            for secret in spec.pprof_access.secrets if spec.pprof_access is not None else ():
                line = line.replace(secret, "***")  # the log never shows a credential
            log.write(f"--- goperf: starting {line}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a group, spared the terminal's ^C
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        _live[proc.pid] = proc
        service = GoService(url, pprof_url, process=proc, log_path=log_path, spec=spec, argv=argv,
                            go_version=go_version, leak_policy=leak_policy, pprof_access=spec.pprof_access)
        service._log_cap = LogCap(log_path, spec.log_limit).start()
        try:
            _wait_ready(service, spec)
            return service
        except ServiceStartError as exc:
            service.stop()
            tail = service.log_tail(200)
            if any(marker in tail for marker in _PORT_CLASH):
                last_error = exc
                continue
            raise
        except BaseException:
            service.stop()
            raise
    assert last_error is not None
    raise ServiceStartError(
        f"a port the service binds stayed in use after {attempts} attempts with fresh ports: "
        "a fixed address in [tool.goperf] args or env may be taken by another process "
        "(let goperf choose with {addr}/{port} and {pprof_addr}/{pprof_port}).\n"
        f"{last_error}"
    )


def _wait_ready(service: GoService, spec: ServiceSpec) -> None:
    deadline = time.monotonic() + spec.start_timeout
    if not spec.ready_path:
        _wait_port(service, spec, deadline)
        _wait_pprof(service, spec, deadline)
        return
    probe_url = service.url + spec.ready_path
    last = "no answer yet"
    delay = 0.01
    verify = service.pprof.access.ssl_verify() if probe_url.startswith("https:") else True
    with httpx.Client(timeout=2.0, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0),
                      verify=verify) as client:
        while True:
            if not service.alive:
                raise ServiceStartError(
                    "the service exited while starting: "
                    + describe_exit(service.returncode, service.log_path, service.log_tail())
                )
            try:
                resp = client.get(probe_url)
                if 200 <= resp.status_code < 400:
                    break
                last = f"{probe_url} answered {resp.status_code}"
                if resp.status_code == 404 and spec.ready_path.startswith("/debug/pprof"):
                    raise PprofError(
                        f"{probe_url} answered 404: pprof is not enabled. Import _ \"net/http/pprof\" in the "
                        "service (or register its handlers on your mux), or set ready_path in [tool.goperf] "
                        "to a path the service serves and {pprof_addr} for a separate pprof listener"
                    )
            except httpx.TransportError as exc:
                last = f"{probe_url}: {exc.__class__.__name__}"
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"the service did not become ready within {spec.start_timeout:.0f} s ({last}). "
                    "Check that it listens on the address passed as {addr}, that ready_path is right, "
                    f"or raise start_timeout in [tool.goperf].\n--- last lines of the service log ---\n"
                    f"{service.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    _wait_pprof(service, spec, deadline)


def _wait_port(service: GoService, spec: ServiceSpec, deadline: float) -> None:
    """Ready when the service's port accepts a TCP connection (``ready_path = ""``: NATS, gRPC, raw TCP)."""
    host, _, port = service.url.rsplit("/", 1)[-1].rpartition(":")
    delay = 0.01
    while True:
        if not service.alive:
            raise ServiceStartError(
                "the service exited while starting: "
                + describe_exit(service.returncode, service.log_path, service.log_tail()))
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"the service did not accept a connection on {host}:{port} within {spec.start_timeout:.0f} s "
                    f"({exc}). Check that it listens on the address passed as {{addr}}/{{port}}, or raise "
                    f"start_timeout in [tool.goperf].\n--- last lines of the service log ---\n{service.log_tail()}"
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _wait_pprof(service: GoService, spec: ServiceSpec, deadline: float) -> None:
    """pprof must answer, as pprof, before ``deadline``: retried while it cannot be reached (a separate
    listener may be bound after the API), refused at once when it answers wrong (404, 401, not pprof)."""
    delay = 0.01
    while True:
        try:
            service.pprof.check_enabled()
            return
        except PprofError as exc:
            if exc.status is not None or time.monotonic() >= deadline:
                if exc.status is None:
                    raise PprofError(
                        f"the service is ready but its pprof endpoint did not answer within start_timeout "
                        f"({spec.start_timeout:.0f} s): {exc}", url=exc.url) from None
                raise
            if not service.alive:
                raise ServiceStartError(
                    "the service exited while starting: "
                    + describe_exit(service.returncode, service.log_path, service.log_tail())
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
