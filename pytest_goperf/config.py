"""Settings of pytest-goperf: the ``[tool.goperf]`` table, validated once.

Everything is read into one frozen :class:`GoperfConfig`; command-line options
override the file. Validation messages name the key, what was wrong and what
is expected, so a typo in ``pyproject.toml`` is found at start-up, not as an
odd failure halfway through a run.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import reprlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

Method = Literal["bh", "holm"]
#: ``interleaved``: base and head rounds alternate in balanced order (ABBA...); ``duet``: both at once.
Schedule = Literal["interleaved", "duet"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BASELINES",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_LOG_LIMIT",
    "DEFAULT_METHOD",
    "DEFAULT_SCHEDULE",
    "DEFAULT_SETTLE_TIMEOUT",
    "DEFAULT_TOOL_CACHE_DIR",
    "ENV_CACHE_DIR",
    "ENV_COMPARE_TO",
    "GoperfConfig",
    "IgnoreSpec",
    "cache_dir",
    "check_service_url",
    "is_loopback",
    "load_config",
    "read_pyproject",
    "redact_url",
    "tool_cache_dir",
]

PLACEHOLDERS = ("{addr}", "{port}", "{host}", "{pprof_addr}", "{pprof_port}")

# Every default and environment variable, once. Paths are relative to the project root.

#: Seconds that goroutines started in a checked block get to finish ([tool.goperf.leak] settle_timeout).
DEFAULT_SETTLE_TIMEOUT: Final = 5.0
#: False-alarm rate of the regression gate over a run ([tool.goperf.gate] alpha).
DEFAULT_ALPHA: Final = 0.05
#: Multiple-comparison control of the gate: Benjamini-Hochberg ("bh") or Holm ([tool.goperf.gate] method).
DEFAULT_METHOD: Final[Method] = "bh"
#: Where baselines are stored ([tool.goperf] baselines, --goperf-baselines).
DEFAULT_BASELINES: Final = Path(".goperf") / "baselines"
#: Where built service binaries are cached, unless ENV_CACHE_DIR says otherwise.
DEFAULT_CACHE_DIR: Final = Path(".goperf") / "bin"
#: Bytes a service's log file may reach before its start is dropped (the last 256 KiB are kept beside it).
DEFAULT_LOG_LIMIT: Final = 64 * 1024 * 1024
#: Environment variable that moves the build cache (several projects or pytester runs share binaries).
ENV_CACHE_DIR: Final = "GOPERF_CACHE_DIR"
#: Where goperf's own helper binaries (the Go load worker) are cached without ENV_CACHE_DIR: under
#: ``$XDG_CACHE_HOME`` (default ``~/.cache``), as they belong to no one project.
DEFAULT_TOOL_CACHE_DIR: Final = Path("pytest-goperf") / "bin"
#: Environment variable naming the base to compare with in the same run ([tool.goperf.gate] compare_to).
ENV_COMPARE_TO: Final = "GOPERF_COMPARE_TO"
#: Same-run gate: a test measures ``rounds`` pairs, and while its gated metrics are undecided (no
#: regression shown, none ruled out) ``rounds`` more, up to this many batches; each look is judged at
#: alpha / looks, so early stopping spends no extra false alarms (bench/bench_noise.py measured it).
DEFAULT_LOOKS = 4
MAX_LOOKS = 10
#: How the base's and the head's rounds are scheduled in a same-run comparison (measured in bench/bench_noise.py).
DEFAULT_SCHEDULE: Final[Schedule] = "interleaved"


@dataclass(frozen=True)
class IgnoreSpec:
    """One ignore rule for leak checks, as written in ``[[tool.goperf.leak.ignore]]``.

    Every field that is set must match (patterns: exact name, shell glob such
    as ``main.worker*``, or a regular expression written ``re:...``).
    """

    top_function: str | None = None
    function: str | None = None
    created_by: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class GoperfConfig:
    """All settings of one run; see the README for each key."""

    root: Path
    package: str | None = None
    #: A prebuilt executable to start instead of building ``package`` (relative to the root).
    binary: str | None = None
    #: The directory of the go.mod in which an import-path ``package`` is built (default: the root);
    #: also where ``go_service_factory("example.com/...")`` builds.
    module_dir: str | None = None
    #: The service's main module path (its packages count as user code); default: the binary's build info.
    main_module: str | None = None
    args: tuple[str, ...] = ("-addr", "{addr}")
    env: Mapping[str, str] = field(default_factory=dict)
    build_flags: tuple[str, ...] = ()
    go: str = "go"
    ready_path: str = "/debug/pprof/"
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    build_timeout: float = 600.0
    url: str | None = None
    pprof_url: str | None = None
    leak_settle_timeout: float = DEFAULT_SETTLE_TIMEOUT
    leak_check_all: bool = False
    leak_ignore: tuple[IgnoreSpec, ...] = ()
    artifacts: Path | None = None
    baselines: Path = DEFAULT_BASELINES
    gate_alpha: float = DEFAULT_ALPHA
    gate_method: Method = DEFAULT_METHOD
    strict_environment: bool = False
    compare_to: str | None = None
    schedule: Schedule = DEFAULT_SCHEDULE
    #: Same-run gate: how many batches of ``rounds`` pairs a test may take while its verdict is undecided.
    gate_looks: int = DEFAULT_LOOKS
    #: ``[tool.goperf.pprof]``: how the plugin reaches pprof (scheme of a started service's pprof listener,
    #: TLS trust, extra headers with ``${ENV}`` references, basic auth with the password from an environment variable).
    pprof_scheme: Literal["http", "https"] = "http"
    pprof_ca_bundle: Path | None = None
    pprof_insecure: bool = False
    pprof_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    pprof_username: str | None = None
    pprof_password_env: str | None = None
    allow_remote: bool = False

    @property
    def package_dir(self) -> Path:
        """The directory of the main package to build (absolute); for an import path, the module directory."""
        if self.package is None:
            raise ConfigError(
                "no Go package to build: set `package` in [tool.goperf] of pyproject.toml "
                "(a directory holding a main package, e.g. package = \"./cmd/server\", or an import path), "
                "`binary` to a prebuilt executable, or attach to a running service with --goperf-url"
            )
        if self.import_path is not None:
            return (self.root / (self.module_dir or ".")).resolve()
        return (self.root / self.package).resolve()

    @property
    def import_path(self) -> str | None:
        """``package`` when it names an import path to build (``github.com/caddyserver/caddy/v2/cmd/caddy``), else None."""
        return package_import_path(self.package, self.root)

    @property
    def binary_path(self) -> Path | None:
        """The prebuilt executable (absolute), or None when the service is built."""
        return None if self.binary is None else (self.root / self.binary).resolve()


def package_import_path(package: str | None, root: Path) -> str | None:
    """``package`` if it is a Go import path rather than a directory: its first element has a dot
    (``example.com/...``), it does not start with ``.`` or ``/``, and no such directory exists."""
    if not package or package.startswith((".", "/")) or (root / package).is_dir():
        return None
    first = package.split("/", 1)[0]
    return package if "." in first else None


# key in [tool.goperf] -> (attribute, expected type description)
_SIMPLE_KEYS: dict[str, tuple[str, str]] = {
    "package": ("package", "str"),
    "binary": ("binary", "str"),
    "module_dir": ("module_dir", "str"),
    "main_module": ("main_module", "str"),
    "args": ("args", "list[str]"),
    "env": ("env", "table"),
    "build_flags": ("build_flags", "list[str]"),
    "go": ("go", "str"),
    "ready_path": ("ready_path", "str"),
    "start_timeout": ("start_timeout", "seconds"),
    "stop_timeout": ("stop_timeout", "seconds"),
    "build_timeout": ("build_timeout", "seconds"),
    "url": ("url", "str"),
    "pprof_url": ("pprof_url", "str"),
    "artifacts": ("artifacts", "path"),
    "baselines": ("baselines", "path"),
    "allow_remote": ("allow_remote", "bool"),
}
#: The longest wait any timeout may ask for: longer ones are typos (and overflow some OS waits).
MAX_SECONDS: Final = 86400.0

# Values in messages: short and safe for any nesting (reprlib stops at depth 3 and 60 characters).
_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 3, 60, 60, 6, 6


def _show(value: Any) -> str:
    return _short.repr(value)
_LEAK_KEYS = {"settle_timeout", "check_all_tests", "ignore"}
_GATE_KEYS = {"alpha", "method", "strict_environment", "compare_to", "schedule", "looks"}
_PPROF_KEYS = {"scheme", "ca_bundle", "insecure", "headers", "username", "password_env"}


def read_pyproject(path: Path) -> dict[str, Any]:
    """Return the ``[tool.goperf]`` table of ``path`` ({} when absent).

    :raises ConfigError: the file cannot be read, is not UTF-8 TOML, or its
        ``[tool]`` / ``[tool.goperf]`` is not a table.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}): TOML files must be UTF-8; "
                          "re-save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables are nested too deeply to read") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table, got {_show(tool)}")
    table = tool.get("goperf", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.goperf] must be a table, got {_show(table)}")
    return table


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a literal loopback address (no DNS lookup)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is IPv4 loopback too
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def redact_url(url: str) -> str:
    """``url`` without its password and with query values of secret-looking keys masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    query = re.sub(r"(?i)((?:token|key|secret|password|auth)[^=&]*=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def check_service_url(url: str, what: str, *, allow_remote: bool = False, option: str = "allow_remote = true") -> str:
    """``url`` if it is an ``http(s)://HOST[:PORT]`` URL of a loopback host (any host with ``allow_remote``).

    ``what`` names the setting in messages (``"[tool.goperf] url"``,
    ``"--goperf-url"``); ``option`` is how the user allows other hosts there.

    :raises ConfigError: another scheme, no host, a bad port, or a host that is
        not loopback without ``allow_remote``.
    """
    shown = _show(redact_url(url))
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"{what} {shown} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{what} must be an http:// or https:// URL such as http://127.0.0.1:8080, "
                          f"got {shown}")
    host = parts.hostname
    if not host:
        raise ConfigError(f"{what} {shown} has no host; e.g. http://127.0.0.1:8080")
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"{what} {shown}: host {host!r} is not a loopback address (127.0.0.0/8, ::1, localhost). "
            f"goperf talks only to services on this machine unless told otherwise: set {option} to attach to "
            "a service elsewhere (e.g. in a container reached by name)"
        )
    return url


def _no_nul(where: str, text: str) -> str:
    if "\0" in text:
        raise ConfigError(f"{where} contains a NUL character, which no path, argument or variable can hold")
    return text


def _check(key: str, value: Any, kind: str) -> Any:
    where = f"[tool.goperf] {key}"
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {_show(value)}")
        return _no_nul(where, value)
    if kind == "list[str]":
        if isinstance(value, str):
            raise ConfigError(f"{where} must be a list of strings, e.g. [\"-addr\", \"{{addr}}\"], got the string {_show(value)}")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {_show(value)}")
        return tuple(_no_nul(where, v) for v in value)
    if kind == "table":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where} must be a table of strings, e.g. {{ GOGC = \"100\" }}, got {_show(value)}")
        for k, v in value.items():
            if not k or "=" in k:
                raise ConfigError(f"{where} has the key {k!r}: an environment variable name is not empty and has no '='")
            _no_nul(f"{where}.{k}", k)
            _no_nul(f"{where}.{k}", v)
        return dict(value)
    if kind == "seconds":
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not 0 < value <= MAX_SECONDS):
            raise ConfigError(f"{where} must be a positive number of seconds (finite, at most {MAX_SECONDS:g}), "
                              f"got {_show(value)}")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {_show(value)}")
        return value
    if kind == "path":
        return Path(_check(key, value, "str"))
    raise AssertionError(kind)  # pragma: no cover


def _check_pattern(where: str, pattern: str) -> None:
    """Compile a ``re:`` pattern now, so a typo is reported at start-up and not when a rule is first used."""
    if pattern.startswith("re:"):
        try:
            re.compile(pattern[3:])
        except re.error as exc:
            raise ConfigError(f"{where} = {_show(pattern)} is not a valid regular expression: {exc}") from None


def _ignore_specs(value: Any, where: str) -> tuple[IgnoreSpec, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of tables, e.g. [{{ top_function = \"main.worker\" }}]")
    names = {f.name for f in fields(IgnoreSpec)}
    specs = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not item:
            raise ConfigError(f"{where}[{i}] must be a non-empty table with keys from {sorted(names)}")
        unknown = set(item) - names
        if unknown:
            raise ConfigError(f"{where}[{i}] has unknown key(s) {sorted(unknown)}; use {sorted(names)}")
        for k, v in item.items():
            if not isinstance(v, str):
                raise ConfigError(f"{where}[{i}].{k} must be a string, got {_show(v)}")
            _check_pattern(f"{where}[{i}].{k}", v)
        specs.append(IgnoreSpec(**item))
    return tuple(specs)


def _gate_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError("[tool.goperf.gate] must be a table")
    unknown = set(value) - _GATE_KEYS
    if unknown:
        raise ConfigError(f"[tool.goperf.gate] has unknown key(s) {sorted(unknown)}; use {sorted(_GATE_KEYS)}")
    out: dict[str, Any] = {}
    if "alpha" in value:
        alpha = value["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
            raise ConfigError(f"[tool.goperf.gate] alpha must be a number between 0 and 0.5, got {_show(alpha)}")
        out["gate_alpha"] = float(alpha)
    if "method" in value:
        if value["method"] not in ("bh", "holm"):
            raise ConfigError(
                f"[tool.goperf.gate] method must be \"bh\" (Benjamini-Hochberg) or \"holm\", got {_show(value['method'])}")
        out["gate_method"] = value["method"]
    if "strict_environment" in value:
        if not isinstance(value["strict_environment"], bool):
            raise ConfigError("[tool.goperf.gate] strict_environment must be true or false")
        out["strict_environment"] = value["strict_environment"]
    if "compare_to" in value:
        if not isinstance(value["compare_to"], str) or not value["compare_to"].strip():
            raise ConfigError(
                "[tool.goperf.gate] compare_to must be a git revision (\"origin/main\", a commit) or a directory, "
                f"got {value['compare_to']!r}")
        out["compare_to"] = value["compare_to"].strip()
    if "schedule" in value:
        if value["schedule"] not in ("interleaved", "duet"):
            raise ConfigError(
                f"[tool.goperf.gate] schedule must be \"interleaved\" or \"duet\", got {value['schedule']!r}")
        out["schedule"] = value["schedule"]
    if "looks" in value:
        looks = value["looks"]
        if isinstance(looks, bool) or not isinstance(looks, int) or not 1 <= looks <= MAX_LOOKS:
            raise ConfigError(f"[tool.goperf.gate] looks must be a whole number from 1 (a fixed number of pairs) "
                              f"to {MAX_LOOKS}, got {_show(looks)}")
        out["gate_looks"] = looks
    return out


def _pprof_table(value: Any) -> dict[str, Any]:
    where = "[tool.goperf.pprof]"
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(value) - _PPROF_KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {sorted(unknown)}; use {sorted(_PPROF_KEYS)}")
    out: dict[str, Any] = {}
    if "scheme" in value:
        if value["scheme"] not in ("http", "https"):
            raise ConfigError(f"{where} scheme must be \"http\" or \"https\", got {value['scheme']!r}")
        out["pprof_scheme"] = value["scheme"]
    if "ca_bundle" in value:
        out["pprof_ca_bundle"] = _check("pprof.ca_bundle", value["ca_bundle"], "path")
    if "insecure" in value:
        if not isinstance(value["insecure"], bool):
            raise ConfigError(f"{where} insecure must be true or false")
        out["pprof_insecure"] = value["insecure"]
    if "headers" in value:
        headers = _check("pprof.headers", value["headers"], "table")
        for name, v in headers.items():
            if "${" not in v and name.lower() in ("authorization", "cookie", "x-api-key"):
                raise ConfigError(
                    f"{where} headers.{name} holds a literal credential: keep secrets out of pyproject.toml and "
                    f"read it from the environment, e.g. {name} = \"Bearer ${{PPROF_TOKEN}}\"")
        out["pprof_headers"] = headers
    if "username" in value:
        out["pprof_username"] = _check("pprof.username", value["username"], "str")
    if "password_env" in value:
        out["pprof_password_env"] = _check("pprof.password_env", value["password_env"], "str")
    return out


def config_from_table(table: Mapping[str, Any], root: Path) -> GoperfConfig:
    """Validate a ``[tool.goperf]`` table into a :class:`GoperfConfig`."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _SIMPLE_KEYS:
            attr, kind = _SIMPLE_KEYS[key]
            values[attr] = _check(key, value, kind)
        elif key == "leak":
            if not isinstance(value, dict):
                raise ConfigError("[tool.goperf.leak] must be a table")
            unknown = set(value) - _LEAK_KEYS
            if unknown:
                raise ConfigError(f"[tool.goperf.leak] has unknown key(s) {sorted(unknown)}; use {sorted(_LEAK_KEYS)}")
            if "settle_timeout" in value:
                values["leak_settle_timeout"] = _check("leak.settle_timeout", value["settle_timeout"], "seconds")
            if "check_all_tests" in value:
                if not isinstance(value["check_all_tests"], bool):
                    raise ConfigError("[tool.goperf.leak] check_all_tests must be true or false")
                values["leak_check_all"] = value["check_all_tests"]
            if "ignore" in value:
                values["leak_ignore"] = _ignore_specs(value["ignore"], "[tool.goperf.leak] ignore")
        elif key == "gate":
            values.update(_gate_table(value))
        elif key == "pprof":
            values.update(_pprof_table(value))
        else:
            known = sorted([*_SIMPLE_KEYS, "leak", "gate", "pprof"])
            raise ConfigError(f"unknown key {key!r} in [tool.goperf]; known keys: {', '.join(known)}")
    config = GoperfConfig(root=root, **values)
    _validate(config)
    return config


def resolve(config: GoperfConfig, path: Path) -> Path:
    """``path`` relative to the project root (absolute paths stay)."""
    return path if path.is_absolute() else config.root / path


def cache_dir(root: Path) -> Path:
    """Where built binaries are cached: ``$GOPERF_CACHE_DIR``, else ``ROOT/.goperf/bin``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env) if env else root / DEFAULT_CACHE_DIR


def tool_cache_dir() -> Path:
    """Where goperf's own helper binaries are built: ``$GOPERF_CACHE_DIR``, else the user's cache directory."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / DEFAULT_TOOL_CACHE_DIR


def _validate(config: GoperfConfig) -> None:
    if config.ready_path and not config.ready_path.startswith("/"):
        raise ConfigError(f"[tool.goperf] ready_path must start with '/', got {_show(config.ready_path)}")
    allow = "allow_remote = true in [tool.goperf] (or --goperf-allow-remote)"
    for key in ("url", "pprof_url"):
        value = getattr(config, key)
        if value is not None:
            if not isinstance(value, str):
                raise ConfigError(f"[tool.goperf] {key} must be a string, got {_show(value)}")
            check_service_url(value, f"[tool.goperf] {key} (or --goperf-{key.replace('_', '-')})",
                              allow_remote=config.allow_remote, option=allow)
    for i, spec in enumerate(config.leak_ignore):
        for f in fields(IgnoreSpec):
            v = getattr(spec, f.name)
            if isinstance(v, str):
                _check_pattern(f"[tool.goperf.leak] ignore[{i}].{f.name}", v)
    if config.package is not None and config.binary is not None:
        raise ConfigError(
            "[tool.goperf] sets both package and binary: give package to build the service, or binary to start "
            "a prebuilt executable, not both")
    if config.module_dir is not None and config.package is not None and config.import_path is None:
        raise ConfigError(
            f"[tool.goperf] module_dir is for a package given as an import path (example.com/x/cmd/y); package "
            f"{config.package!r} is a directory")
    started = config.package is not None or config.binary is not None
    if config.url is None and started and not passes_listen_address(config.args, config.env):
        raise ConfigError(
            "[tool.goperf] args or env must pass the listen address to the service with {addr} "
            "(host:port) or {port}, e.g. args = [\"-addr\", \"{addr}\"] or env = { PORT = \"{port}\" }: "
            "goperf picks a free loopback port")


def passes_listen_address(args: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether ``{addr}`` or ``{port}`` appears in the arguments or an environment value."""
    return any("{addr}" in v or "{port}" in v for v in (*args, *env.values()))


def load_config(root: Path, pyproject: Path | None = None, overrides: Mapping[str, Any] | None = None) -> GoperfConfig:
    """Read ``[tool.goperf]`` from ``pyproject`` (default ``root/pyproject.toml``) and apply overrides.

    ``overrides`` maps attribute names of :class:`GoperfConfig` to values from
    the command line; ``None`` values are ignored. ``GOPERF_COMPARE_TO`` sits
    between the two.
    """
    table = read_pyproject(pyproject or root / "pyproject.toml")
    config = config_from_table(table, root)
    # The environment overrides the file, the command line overrides both.
    env_base = os.environ.get(ENV_COMPARE_TO, "").strip()
    if env_base:
        config = replace(config, compare_to=env_base)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    # A binary on the command line replaces the file's package, and a package its binary.
    if "binary" in changes and "package" not in changes:
        changes["package"] = None
    elif "package" in changes and "binary" not in changes:
        changes["binary"] = None
    if changes:
        config = replace(config, **changes)
        _validate(config)
    return config
