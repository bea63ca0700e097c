"""The one HTTP client for a service's ``/debug/pprof/*`` endpoints.

Used by the service fixture, leak checks, measurement rounds and ``goperf
triage`` alike. Every request:

- goes on a fresh connection that is closed after the response, so no idle
  keep-alive connection of ours is left in the service to show up in the next
  goroutine dump as a "leak";
- has a timeout, and its body is read as a stream and cut off at
  ``max_bytes`` (a runaway answer fails with a message instead of filling the
  memory);
- never goes through a proxy from the environment (loopback services);
- over HTTPS, verifies the certificate against :attr:`PprofAccess.ca_bundle`
  (else ``SSL_CERT_FILE``, else the system's store) unless ``insecure``;
- sends the access's extra headers and basic auth. Credentials in the URL
  (``https://user:pass@host``) become basic auth and leave the URL.

No credential ever appears in an error message or :attr:`PprofClient.base_url`:
URLs are shown through :func:`redact_url`, and header values never.

Failures are :class:`~pytest_goperf.errors.PprofError` with the HTTP
``status`` as a field (``None`` when the service could not be reached).
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ..config import check_service_url, redact_url
from ..errors import ConfigError, PprofError

if TYPE_CHECKING:
    from ..config import GoperfConfig

__all__ = ["DEFAULT_MAX_BYTES", "PprofAccess", "PprofClient", "access_from_config", "expand_env", "is_pprof_index",
           "redact_url"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, environ: Mapping[str, str] | None = None, *, what: str = "a pprof header") -> str:
    """Replace each ``${NAME}`` in ``value`` by the environment variable NAME.

    :raises ConfigError: NAME is not set (the message names the variable, never a value).
    """
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise ConfigError(f"{what} refers to ${{{name}}}, but the environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(sub, value)


@dataclass(frozen=True)
class PprofAccess:
    """How to reach a guarded pprof endpoint: TLS trust, extra headers, basic auth.

    ``headers`` values are sent as given (expand ``${NAME}`` references with
    :func:`expand_env` first, as the plugin and the command line do);
    ``repr`` never shows header values or the password.
    """

    ca_bundle: Path | None = None
    insecure: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def ssl_verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies HTTPS with: the CA bundle, else ``SSL_CERT_FILE``, else the system store."""
        if self.insecure:
            return False
        cafile = self.ca_bundle or (Path(os.environ["SSL_CERT_FILE"]) if os.environ.get("SSL_CERT_FILE") else None)
        try:
            if cafile is not None:
                return ssl.create_default_context(cafile=str(cafile))
            return ssl.create_default_context()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read the CA bundle {cafile} for pprof over HTTPS: {exc}; set [tool.goperf.pprof] ca_bundle "
                "(or SSL_CERT_FILE) to a PEM file of the certificate(s) to trust, or insecure = true"
            ) from None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential value, to keep out of messages."""
        out = [v.split(" ", 1)[-1] for v in self.headers.values() if v]
        out += [v for v in self.headers.values() if v]
        if self.password:
            out.append(self.password)
        return tuple(sorted({v for v in out if len(v) >= 4}, key=len, reverse=True))


def _split_credentials(url: str, access: PprofAccess) -> tuple[str, PprofAccess]:
    """Move ``user:password@`` out of ``url`` into the access's basic auth."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, access
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    if access.username is not None:
        return clean, access
    return clean, PprofAccess(access.ca_bundle, access.insecure, access.headers, unquote(user), unquote(password))

#: Largest body accepted by default: an execution trace of a busy service is a few MB a second.
DEFAULT_MAX_BYTES = 256 << 20

Params = Mapping[str, "str | int | float"]


class PprofClient:
    """Fetches profiles and dumps from ``base_url`` + ``/debug/pprof/...``.

    ``base_url`` must be an http(s) URL of a loopback host unless ``allow_remote``
    (e.g. a service in a container reached by name); otherwise :class:`ConfigError`.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, max_bytes: int = DEFAULT_MAX_BYTES,
                 access: PprofAccess | None = None, allow_remote: bool = False) -> None:
        check_service_url(base_url, "the pprof URL", allow_remote=allow_remote, option="allow_remote=True")
        url, self.access = _split_credentials(base_url.rstrip("/"), access or PprofAccess())
        #: The base URL, without credentials.
        self.base_url = url
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client_: httpx.Client | None = None
        self._leak_profile: bool | None = None

    @property
    def _client(self) -> httpx.Client:
        # Made on first use: a service that writes its own certificate at start-up has written it by then.
        if self._client_ is None:
            self._client_ = self._new_client()
        return self._client_

    def _new_client(self) -> httpx.Client:
        a = self.access
        auth = httpx.BasicAuth(a.username, a.password or "") if a.username is not None else None
        return httpx.Client(
            timeout=self.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Connection": "close", **a.headers},
            auth=auth,
            verify=a.ssl_verify() if self.base_url.startswith("https:") else True,
            trust_env=False,  # never route loopback requests through a proxy from the environment
        )

    def __repr__(self) -> str:
        return f"<PprofClient {redact_url(self.base_url)}>"

    def close(self) -> None:
        """Close the underlying HTTP client (its connections are never kept anyway)."""
        if self._client_ is not None:
            self._client_.close()
            self._client_ = None

    def redact(self, text: str) -> str:
        """``text`` with every credential of this client masked."""
        for secret in self.access.secrets:
            text = text.replace(secret, "***")
        return text

    def url_of(self, name: str) -> str:
        """The full URL of the endpoint ``name`` (``""`` is the index)."""
        return f"{self.base_url}/debug/pprof/{name}"

    def get(
        self,
        name: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> bytes:
        """GET ``/debug/pprof/<name>`` and return the body.

        :raises PprofError: the endpoint answered another status than 200
            (``status`` set), sent more than ``max_bytes``, did not answer
            within ``timeout`` seconds, or could not be reached.
        """
        url = self.url_of(name)
        limit = self.max_bytes if max_bytes is None else max_bytes
        wait = self.timeout if timeout is None else timeout
        binary = _is_binary(name, params)
        size = -1  # bytes of the body received; -1 until the service has answered
        try:
            with self._client.stream("GET", url, params=dict(params or {}), timeout=wait) as resp:
                if resp.status_code != 200:
                    body = self.redact(resp.read()[:300].decode("utf-8", "replace").strip())
                    raise _status_error(url, resp.status_code, body)
                if binary and "html" in resp.headers.get("content-type", "").lower():
                    raise _html_error(url, resp.read()[:200])
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    if binary and size == 0 and _looks_like_html(chunk):
                        raise _html_error(url, chunk[:200])
                    size += len(chunk)
                    if size > limit:
                        raise PprofError(
                            f"{url} sent more than {limit} bytes: capture stopped there "
                            "(use a shorter window, or raise the size limit)",
                            status=200, url=url,
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            if size >= 0:
                raise PprofError(
                    f"{url} stopped sending after {size} bytes of its answer and sent nothing more for {wait:g} s: "
                    "the service may be stuck or overloaded", status=200, url=url,
                ) from None
            raise PprofError(
                f"{url} did not answer within {wait:g} s: the service may be overloaded or stuck", url=url
            ) from None
        except httpx.HTTPError as exc:
            if size >= 0:
                raise PprofError(self.redact(
                    f"the connection to {url} was cut after {size} bytes of its answer ({exc}): the service "
                    "closed it or died while sending; check its log, then capture again"), status=200, url=url,
                ) from None
            raise PprofError(self.redact(_transport_message(url, exc)), url=url) from None

    def check_enabled(self) -> None:
        """Raise :class:`PprofError` unless the pprof index answers, and answers as pprof.

        A listener that answers 200 to every path (a catch-all handler, the
        wrong port) is refused at once, with the start of what it sent.
        """
        body = self.get("", max_bytes=1 << 20)
        if not is_pprof_index(body):
            head = self.redact(body[:80].decode("utf-8", "replace").strip())
            raise PprofError(
                f"{self.url_of('')} answered 200, but not as pprof (it sent {head!r}): this listener is not the "
                "pprof endpoint. Set pprof_url in [tool.goperf] (or --goperf-pprof-url, or pass {pprof_addr} in args "
                "for a separate pprof listener) to where the service registers net/http/pprof",
                status=200, url=self.url_of(""),
            )

    def goroutine_dump(self, debug: int = 2) -> str:
        """The text dump of every goroutine (``debug=2``) or the grouped profile (``debug=1``)."""
        return self.get("goroutine", {"debug": debug}).decode("utf-8", "replace")

    def has_leak_profile(self) -> bool:
        """Whether the service serves ``/debug/pprof/goroutineleak`` (Go 1.27, or 1.26 with the experiment)."""
        if self._leak_profile is None:
            try:
                self.get("goroutineleak", {"debug": 1})
                self._leak_profile = True
            except PprofError as exc:
                if exc.status != 404:
                    raise
                self._leak_profile = False
        return self._leak_profile

    def leak_dump(self) -> str | None:
        """A full dump after a leak-detecting GC cycle (leaked goroutines marked), or None when unavailable."""
        if not self.has_leak_profile():
            return None
        return self.get("goroutineleak", {"debug": 2}).decode("utf-8", "replace")


def is_pprof_index(body: bytes) -> bool:
    """Whether ``body`` is the ``/debug/pprof/`` index page of net/http/pprof."""
    head = body[:65536]
    return b"/debug/pprof/" in head or (b"goroutine" in head and b"profile" in head)


def _transport_message(url: str, exc: httpx.HTTPError) -> str:
    text = str(exc)
    if isinstance(exc, httpx.ConnectError) and ("CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text):
        return (f"cannot reach {url} over HTTPS: {text}. Trust the service's certificate with [tool.goperf.pprof] "
                "ca_bundle = \"path/to/ca.pem\" (or SSL_CERT_FILE, or goperf --ca-bundle), or set insecure = true")
    if isinstance(exc, httpx.RemoteProtocolError) and url.startswith("http:"):
        return f"cannot reach {url}: {text}; if pprof is served over HTTPS, use an https:// URL"
    return f"cannot reach {url}: {text}; is the service running?"
# Endpoints whose answer is text: the index, cmdline, symbol, and any ?debug=N > 0.
_TEXT_ENDPOINTS = frozenset({"", "cmdline", "symbol"})


def _is_binary(name: str, params: Params | None) -> bool:
    """Whether ``name`` answers a protobuf profile or a trace (so an HTML page is a wrong answer)."""
    debug = dict(params or {}).get("debug", 0)
    return name not in _TEXT_ENDPOINTS and str(debug) in ("", "0")


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:15].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))


def _html_error(url: str, head: bytes) -> PprofError:
    text = " ".join(head.decode("utf-8", "replace").split())[:120]
    return PprofError(
        f"{url} answered with an HTML page, not a profile or trace ({text!r}...): the URL probably reaches "
        "another handler (a router's catch-all, a login or proxy page, the pprof index). Check --goperf-pprof-url "
        "/ [tool.goperf] pprof_url, or that net/http/pprof's handlers are registered on this listener",
        status=200, url=url,
    )


def _status_error(url: str, status: int, body: str) -> PprofError:
    if status == 404:
        return PprofError(
            f"{url} answered 404: this endpoint is not served on this listener. For the pprof endpoints, import "
            "_ \"net/http/pprof\" (or register its handlers on your mux); if pprof is served on a separate "
            "listener, pass {pprof_addr} in [tool.goperf] args or --goperf-pprof-url. The goroutineleak "
            "profile needs Go 1.27, or 1.26 built with GOEXPERIMENT=goroutineleakprofile",
            status=status, url=url,
        )
    if status in (401, 403):
        return PprofError(
            f"{url} answered {status} ({body[:80]}): pprof wants credentials. Set [tool.goperf.pprof] headers "
            "(e.g. Authorization = \"Bearer ${PPROF_TOKEN}\", read from the environment) or username and "
            "password_env (basic auth); with goperf triage: --header / --user",
            status=status, url=url,
        )
    return PprofError(f"{url} answered {status}: {body}", status=status, url=url)


def access_from_config(config: GoperfConfig, environ: Mapping[str, str] | None = None) -> PprofAccess:
    """The :class:`PprofAccess` of ``[tool.goperf.pprof]``: ``${NAME}`` in header values and the
    password (``password_env``) are read from the environment now, never stored in the config.

    :raises ConfigError: a variable it names is not set.
    """
    env = os.environ if environ is None else environ
    headers = {k: expand_env(v, env, what=f"[tool.goperf.pprof] headers.{k}") for k, v in config.pprof_headers.items()}
    password = None
    if config.pprof_password_env is not None:
        if config.pprof_password_env not in env:
            raise ConfigError(f"[tool.goperf.pprof] password_env names {config.pprof_password_env}, which is not set "
                              "in the environment")
        password = env[config.pprof_password_env]
    ca = None if config.pprof_ca_bundle is None else (
        config.pprof_ca_bundle if config.pprof_ca_bundle.is_absolute() else config.root / config.pprof_ca_bundle)
    return PprofAccess(ca_bundle=ca, insecure=config.pprof_insecure, headers=headers,
                       username=config.pprof_username, password=password)
