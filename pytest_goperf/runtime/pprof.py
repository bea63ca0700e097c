"""The one HTTP client for a service's ``/debug/pprof/*`` endpoints.

Used by the service fixture, leak checks, measurement rounds and ``goperf
triage`` alike. Every request:

- goes on a fresh connection that is closed after the response, so no idle
  keep-alive connection of ours is left in the service to show up in the next
  goroutine dump as a "leak";
- has a timeout, and its body is read as a stream and cut off at
  ``max_bytes`` (a runaway answer fails with a message instead of filling the
  memory);
- never goes through a proxy from the environment (loopback services).

Failures are :class:`~pytest_goperf.errors.PprofError` with the HTTP
``status`` as a field (``None`` when the service could not be reached).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..config import check_service_url
from ..errors import PprofError

__all__ = ["DEFAULT_MAX_BYTES", "PprofClient"]

#: Largest body accepted by default: an execution trace of a busy service is a few MB a second.
DEFAULT_MAX_BYTES = 256 << 20

Params = Mapping[str, "str | int | float"]


class PprofClient:
    """Fetches profiles and dumps from ``base_url`` + ``/debug/pprof/...``.

    ``base_url`` must be an http(s) URL of a loopback host unless ``allow_remote``
    (e.g. a service in a container reached by name); otherwise :class:`ConfigError`.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, max_bytes: int = DEFAULT_MAX_BYTES,
                 allow_remote: bool = False) -> None:
        check_service_url(base_url, "the pprof URL", allow_remote=allow_remote, option="allow_remote=True")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Connection": "close"},
            trust_env=False,  # never route loopback requests through a proxy from the environment
        )
        self._leak_profile: bool | None = None

    def __repr__(self) -> str:
        return f"<PprofClient {self.base_url}>"

    def close(self) -> None:
        """Close the underlying HTTP client (its connections are never kept anyway)."""
        self._client.close()

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
                    body = resp.read()[:300].decode("utf-8", "replace").strip()
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
                raise PprofError(
                    f"the connection to {url} was cut after {size} bytes of its answer ({exc}): the service "
                    "closed it or died while sending; check its log, then capture again", status=200, url=url,
                ) from None
            raise PprofError(f"cannot reach {url}: {exc}; is the service running?", url=url) from None

    def check_enabled(self) -> None:
        """Raise :class:`PprofError` unless the pprof index answers."""
        self.get("")

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
    return PprofError(f"{url} answered {status}: {body}", status=status, url=url)
