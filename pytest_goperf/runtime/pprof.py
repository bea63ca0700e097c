"""One HTTP client for a service's ``/debug/pprof/*`` endpoints.

Every request goes on a fresh connection that is closed after the response:
no idle keep-alive connection of ours is left in the service, so its serving
goroutine never shows up in the next goroutine dump as a "leak".
"""

from __future__ import annotations

from typing import Mapping

import httpx

from ..errors import PprofError

__all__ = ["PprofClient"]


class PprofClient:
    """Fetches profiles and dumps from ``base_url`` + ``/debug/pprof/...``."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Connection": "close"},
            trust_env=False,  # never route loopback requests through a proxy from the environment
        )
        self._leak_profile: bool | None = None

    def close(self) -> None:
        self._client.close()

    def get(self, name: str, params: Mapping[str, str | int | float] | None = None, *, timeout: float | None = None) -> bytes:
        """GET ``/debug/pprof/<name>`` and return the body; errors become :class:`PprofError`."""
        url = f"{self.base_url}/debug/pprof/{name}"
        try:
            resp = self._client.get(url, params=params, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            raise PprofError(f"{url} did not answer in time: the service may be overloaded or stuck") from None
        except httpx.HTTPError as exc:
            raise PprofError(f"cannot reach {url}: {exc}; is the service running?") from None
        if resp.status_code == 404:
            raise PprofError(
                f"{url} answered 404: pprof is not enabled on this listener. Import _ \"net/http/pprof\" "
                "(or register its handlers on your mux); if pprof is served on a separate listener, pass "
                "{pprof_addr} in [tool.goperf] args or --goperf-pprof-url"
            )
        if resp.status_code != 200:
            body = resp.text.strip()[:300]
            raise PprofError(f"{url} answered {resp.status_code}: {body}")
        return resp.content

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
                if "404" not in str(exc):
                    raise
                self._leak_profile = False
        return self._leak_profile

    def leak_dump(self) -> str | None:
        """A full dump after a leak-detecting GC cycle (leaked goroutines marked), or None when unavailable."""
        if not self.has_leak_profile():
            return None
        return self.get("goroutineleak", {"debug": 2}).decode("utf-8", "replace")
