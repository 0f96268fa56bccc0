"""Typed settings, and the loader that reads them: YAML, `${VAR}` interpolation, every problem
reported at once with the path to its key, and never a secret value in a message.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from yaml.constructor import ConstructorError

from monitor.core.lifecycle import WORKSPACE_DEFAULTS
from monitor.core.model import IssueKind
from monitor.redact import url_origin

CONFIG_ENV = "SMARTLEAD_MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/monitor.yaml")
MAX_SECONDS = 366 * 86400.0  # a year: longer intervals are typos that would overflow timers
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


# --- value checks shared by the models (they raise ValueError; messages carry no value) ------


def blank_to_none(value: Any) -> Any:
    """An empty env var means "off": `""` (or only spaces) becomes None."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def url_problem(url: str) -> str | None:
    """What is wrong with a URL the monitor will call, or None: http(s) with a host."""
    if any(c.isspace() for c in url):
        return "URL must not contain whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "URL has no host"
    return None


def _checked_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _checked_secret_url(url: SecretStr | None) -> SecretStr | None:
    if url is not None:
        _checked_url(url.get_secret_value())
    return url


def _checked_optional_url(url: str | None) -> str | None:
    return None if url is None else _checked_url(url).rstrip("/")


_LISTEN = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.%a-z]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d+)$"
)


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::]:9877`) into its parts; ValueError if it is not one."""
    found = _LISTEN.match(listen)
    if not found or int(found["port"]) > 65535:
        raise ValueError("must be host:port, e.g. 0.0.0.0:9877 or [::]:9877")
    return found["v6"] or found["host"], int(found["port"])


def glob_problem(pattern: str) -> str | None:
    """What makes an email glob useless, or None: empty, spaces, an unclosed `[`, no `@`."""
    if not pattern:
        return "empty email glob"
    if any(c.isspace() for c in pattern):
        return "email glob must not contain whitespace"
    opening = pattern.find("[")
    while opening != -1:
        close = pattern.find("]", opening + 2)  # fnmatch reads `[]...]` as a set holding `]`
        if close == -1:
            return "email glob has an unclosed '['"
        opening = pattern.find("[", close + 1)
    if "@" not in pattern and not any(c in pattern for c in "*?["):
        return "email glob can never match an address (no '@' and no wildcard; e.g. *@acme.com)"
    return None


def _as_list(value: Any) -> Any:
    """Matchers take one value or a list of values; a lone value becomes a list of one."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _as_utc(value: Any) -> Any:
    """A date or a datetime without zone is read as UTC, so `until` always compares."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


# --- the models -------------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        """A key left empty in YAML (`notifiers:`) means its default, as if it were left out."""
        if isinstance(data, dict):
            known = {info.alias or name for name, info in cls.model_fields.items()}
            return {k: v for k, v in data.items() if v is not None or k not in known}
        return data


Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
OptionalText = Annotated[str | None, BeforeValidator(blank_to_none)]
OptionalUrl = Annotated[
    str | None, BeforeValidator(blank_to_none), AfterValidator(_checked_optional_url)
]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_to_none)]
OptionalSecretUrl = Annotated[
    SecretStr | None, BeforeValidator(blank_to_none), AfterValidator(_checked_secret_url)
]


class RetrySettings(Model):
    max_retries: int = Field(4, ge=0, le=20)
    initial_backoff: Seconds = 0.5
    max_backoff: Seconds = 30.0
    timeout: Seconds = 30.0  # seconds per request


class WorkspaceSettings(Model):
    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    api_key: SecretStr
    base_url: str = "https://server.smartlead.ai"
    rate_limit: float = Field(1.0, gt=0, le=1000)  # requests per second
    burst: int = Field(3, ge=1, le=20)

    @field_validator("api_key")
    @classmethod
    def _key_given(cls, key: SecretStr) -> SecretStr:
        if not key.get_secret_value().strip():
            raise ValueError("must not be empty")
        return key

    @field_validator("base_url")
    @classmethod
    def _host_root(cls, url: str) -> str:
        url = _checked_url(url).rstrip("/")
        if urlsplit(url).path.rstrip("/").endswith("/api/v1"):
            raise ValueError("give the host root only; the monitor appends /api/v1/...")
        return url


class KindSettings(Model):
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)


class IssueSettings(Model):
    failure_threshold: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)
    repeat_interval: float = Field(14400.0, ge=0, le=MAX_SECONDS)  # 0 = no reminders
    reputation_low: float = Field(80.0, ge=0, le=100)  # percent
    kinds: dict[IssueKind, KindSettings] = Field(default_factory=dict)

    def thresholds(self, kind: IssueKind) -> tuple[int, int]:
        """(failure, success) streaks for a kind: its own override, else the kind's default.

        Account kinds default to the global thresholds; workspace-level kinds have their own
        (one 401 is enough; three failed polls in a row make the API unavailable).
        """
        failure, success = WORKSPACE_DEFAULTS.get(
            kind, (self.failure_threshold, self.success_threshold)
        )
        override = self.kinds.get(kind)
        if override is not None:
            failure = override.failure_threshold or failure
            success = override.success_threshold or success
        return failure, success


class PollingSettings(Model):
    failure_interval: Seconds = 300.0
    inventory_interval: Seconds = 3600.0
    retry: RetrySettings = RetrySettings()
    max_pages: int = Field(2000, ge=1)  # a page cap: the API repeating itself must end


class Matcher(Model):
    """Every given field must match; a list matches any of its values; email is a glob."""

    workspace: list[str] | None = None
    account_id: list[int] | None = None
    email: list[str] | None = None
    client_id: list[int | None] | None = None
    esp: list[str] | None = None
    kind: list[IssueKind] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("client_id", mode="before")
    @classmethod
    def _none_client(cls, value: Any) -> Any:
        """`none` (as the metrics label says) matches accounts without a client."""
        value = _as_list(value)
        if isinstance(value, list):
            return [None if isinstance(v, str) and v.lower() == "none" else v for v in value]
        return value

    @field_validator("*")
    @classmethod
    def _not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches nothing; leave the key out to match all")
        return value

    @field_validator("email")
    @classmethod
    def _globs(cls, globs: list[str] | None) -> list[str] | None:
        for glob in globs or ():
            problem = glob_problem(glob)
            if problem:
                raise ValueError(problem)
        return globs

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)


class Route(Model):
    match: Matcher = Matcher()
    notifiers: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")

    @field_validator("notifiers", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)


class Silence(Model):
    match: Matcher
    until: datetime | None = None
    reason: OptionalText = None

    @field_validator("until", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return _as_utc(blank_to_none(value))

    @field_validator("until")
    @classmethod
    def _utc(cls, until: datetime | None) -> datetime | None:
        """Read without a zone (quoted or from an env var), `until` is UTC, so it compares."""
        return until.replace(tzinfo=UTC) if until and until.tzinfo is None else until

    @field_validator("match")
    @classmethod
    def _narrow(cls, match: Matcher) -> Matcher:
        if match.empty:
            raise ValueError("give at least one matcher; an empty silence would mute everything")
        return match


class _Notifier(Model):
    name: str = Field(min_length=1, pattern=NAME_PATTERN)


class SlackSettings(_Notifier):
    type: Literal["slack"]
    url: OptionalSecretUrl = None  # empty = off


class WebhookSettings(_Notifier):
    type: Literal["webhook"]
    url: OptionalSecretUrl = None
    secret: OptionalSecret = None  # empty = unsigned


class AlertmanagerSettings(_Notifier):
    type: Literal["alertmanager"]
    url: OptionalUrl = None


class ConsoleSettings(_Notifier):
    type: Literal["console"]


NotifierSettings = SlackSettings | WebhookSettings | AlertmanagerSettings | ConsoleSettings
NOTIFIER_TYPES = ("slack", "webhook", "alertmanager", "console")


class HttpAuth(Model):
    bearer_token: OptionalSecret = None
    username: OptionalText = None
    password: OptionalSecret = None

    @model_validator(mode="after")
    def _basic_pair(self) -> HttpAuth:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if self.username is not None and ":" in self.username:
            raise ValueError("a basic-auth username cannot contain ':'")
        return self

    @property
    def enabled(self) -> bool:
        return self.bearer_token is not None or self.username is not None


class HttpSettings(Model):
    listen: str = "0.0.0.0:9877"
    auth: HttpAuth = HttpAuth()
    external_url: OptionalUrl = None  # used in Alertmanager's generatorURL

    @field_validator("listen")
    @classmethod
    def _listen(cls, listen: str) -> str:
        split_listen(listen)
        return listen

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class StateSettings(Model):
    path: str = Field("./data/monitor.db", min_length=1)


class MetricsSettings(Model):
    per_account: bool = True


class LoggingSettings(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] | None = None  # None: json unless stdout is a TTY

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        """`INFO`, `Warn` and an empty LOG_FORMAT (auto) are what people type."""
        value = blank_to_none(value)
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
        return value


class Settings(Model):
    workspaces: list[WorkspaceSettings] = Field(min_length=1)
    polling: PollingSettings = PollingSettings()
    issues: IssueSettings = IssueSettings()
    notifiers: list[Annotated[NotifierSettings, Field(discriminator="type")]] = Field(
        default_factory=list
    )
    routes: list[Route] = Field(default_factory=list)
    silences: list[Silence] = Field(default_factory=list)
    http: HttpSettings = HttpSettings()
    state: StateSettings = StateSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()

    @property
    def enabled_notifiers(self) -> list[NotifierSettings]:
        """The notifiers that will send: those with a URL, and every console one."""
        return [n for n in self.notifiers if isinstance(n, ConsoleSettings) or n.url is not None]

    def secret_values(self) -> list[str]:
        """Every secret in the settings, for the log scrubber (defence in depth)."""
        secrets: list[SecretStr | None] = [ws.api_key for ws in self.workspaces]
        for notifier in self.notifiers:
            if isinstance(notifier, SlackSettings | WebhookSettings):
                secrets.append(notifier.url)
            if isinstance(notifier, WebhookSettings):
                secrets.append(notifier.secret)
            if isinstance(notifier, AlertmanagerSettings) and _has_password(notifier.url):
                secrets.append(SecretStr(str(notifier.url)))
        secrets += [self.http.auth.bearer_token, self.http.auth.password]
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


def _has_password(url: str | None) -> bool:
    return url is not None and urlsplit(url).password is not None


# --- the loader -------------------------------------------------------------------------------


class ConfigError(Exception):
    """Every problem of a config at once, each as `path.to.key: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


Loc = tuple[str | int, ...]

MAX_DEPTH = 32  # nesting deeper than any real config: a sign of a runaway alias
MAX_VALUES = 100_000  # values after expanding aliases ("billion laughs" stops here)


def config_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The file to read: the explicit path, else $SMARTLEAD_MONITOR_CONFIG, else the default."""
    env = os.environ if env is None else env
    if path is not None and str(path):
        return Path(path)
    return Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate the config; ConfigError lists every problem found."""
    env = os.environ if env is None else env
    source = config_path(path, env)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = f"pass --config or set {CONFIG_ENV}"
        raise ConfigError([f"{source}: file not found ({hint})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text"]) from None
    except OSError as error:
        raise ConfigError([f"{source}: cannot read ({error.strerror or 'I/O error'})"]) from None
    return parse_settings(text, env, source=str(source))


def parse_settings(text: str, env: Mapping[str, str], *, source: str = "<config>") -> Settings:
    """The loader without the file: YAML text and an environment in, Settings out."""
    document = _parse_yaml(text, source)
    expansion = _Expansion(env)
    data = expansion.value(document, ())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of settings"])
    problems = [*expansion.problems, *cross_reference_problems(data)]
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        problems += _validation_problems(error, expansion)
    if problems or settings is None:
        order = _document_order(data)
        problems.sort(key=lambda problem: _position(problem[0], order))
        report = [f"{_path(loc)}: {message}" for loc, message in problems]
        raise ConfigError(_scrubbed(_unique(report), expansion.substituted))
    return settings


def _document_order(
    data: Any, loc: Loc = (), order: dict[Loc, int] | None = None
) -> dict[Loc, int]:
    """Each key's position in the file, so problems are reported top to bottom."""
    order = {} if order is None else order
    order.setdefault(loc, len(order))
    if isinstance(data, dict):
        for key, value in data.items():
            _document_order(value, (*loc, _key(key)), order)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _document_order(value, (*loc, index), order)
    return order


def _position(loc: Loc, order: dict[Loc, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in order:
            return order[loc[:end]]
    return 0


# YAML ----------------------------------------------------------------------------------------


try:  # libyaml parses ten times faster; PyYAML without it still works
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _StrictLoader(_SafeLoader):
    """Safe YAML that refuses a key given twice (PyYAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                raise ConstructorError(
                    None, None, f"key {key_node.value!r} is given twice", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's own constructors can crash on a bad value (`!!int ''`, month 13): a
        problem at that value's position, quoting the error only if it does not quote it."""
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as error:
            text, value = str(error), node.value if isinstance(node.value, str) else ""
            reason = f" ({text})" if text and value not in text else ""
            problem = f"cannot read this value{reason}; quote it to keep it as text"
            raise ConstructorError(None, None, problem, node.start_mark) from None


def _parse_yaml(text: str, source: str) -> Any:
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # the reader already refuses control characters
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        # Only the problem and its position: the default text quotes the line, maybe a secret.
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ", ".join(t for t in (error.context, error.problem) if t) or "invalid YAML"
        raise ConfigError([f"{source}: {where}{what}"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"{source}: not valid YAML text"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: YAML nested too deeply"]) from None
    except Exception:  # a crash inside PyYAML that no value position explains
        raise ConfigError([f"{source}: cannot be read as YAML"]) from None
    finally:
        if loader is not None:
            loader.dispose()


# ${VAR} interpolation ------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass
class _Expansion:
    """Copies the parsed YAML with `${VAR}` resolved, noting problems and where values came from."""

    env: Mapping[str, str]
    problems: list[tuple[Loc, str]] = field(default_factory=list)
    sources: dict[Loc, list[str]] = field(default_factory=dict)  # key -> env vars used there
    failed: set[Loc] = field(default_factory=set)  # keys left unresolved
    substituted: set[str] = field(default_factory=set)  # env values put into the config
    count: int = 0
    _stack: set[int] = field(default_factory=set)

    def value(self, node: Any, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise ConfigError([f"more than {MAX_VALUES} values (runaway YAML aliases?)"])
        if isinstance(node, str):
            return self._string(node, loc)
        if not isinstance(node, dict | list):
            return node
        if len(loc) > MAX_DEPTH or id(node) in self._stack:
            self.problems.append((loc, "nested too deeply or refers to itself (YAML alias)"))
            self.failed.add(loc)
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, list):
                return [self.value(item, (*loc, i)) for i, item in enumerate(node)]
            return {k: self.value(v, (*loc, _key(k))) for k, v in node.items()}
        finally:
            self._stack.discard(id(node))

    def _string(self, text: str, loc: Loc) -> str | None:
        if "${" not in text:
            return text
        ok = True

        def resolve(found: re.Match[str]) -> str:
            nonlocal ok
            if found[0] == "$${":
                return "${"
            body = _BODY.match(found[1] or "") if found[0] != "${" else None
            if body is None:
                ok = False
                self.problems.append((loc, "malformed ${...}: use ${NAME} or ${NAME:-default}"))
                return ""
            name, default = body[1], body[2]
            if default is not None and "${" in default:
                ok = False
                self.problems.append((loc, f"${{{name}:-...}}: a default cannot hold ${{...}}"))
                return ""
            self.sources.setdefault(loc, []).append(name)
            value = self.env.get(name)
            if value is None or (default is not None and value == ""):
                if default is None:
                    ok = False
                    self.problems.append((loc, f"environment variable {name} is not set"))
                    return ""
                return default
            self.substituted.add(value)
            return value

        result = _REFERENCE.sub(resolve, text)
        if not ok:
            self.failed.add(loc)
            return None
        return result


def _key(key: Any) -> str | int:
    return key if isinstance(key, str) else str(key)


# cross-references (checked on the raw data, so they are reported beside type errors) ----------


def cross_reference_problems(data: Mapping[Any, Any]) -> Iterator[tuple[Loc, str]]:
    """Duplicate workspace and notifier names, and routes naming notifiers never configured."""
    yield from _duplicates(data.get("workspaces"), "workspaces", "workspace")
    yield from _duplicates(data.get("notifiers"), "notifiers", "notifier")
    notifiers = data.get("notifiers", [])
    routes = data.get("routes")
    if not isinstance(notifiers, list) or not isinstance(routes, list):
        return
    known = [n["name"] for n in notifiers if isinstance(n, dict) and isinstance(n.get("name"), str)]
    listed = ", ".join(dict.fromkeys(known)) or "none"
    for i, route in enumerate(routes):
        names = route.get("notifiers") if isinstance(route, dict) else None
        names = [names] if isinstance(names, str) else names
        for j, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in known:
                loc: Loc = ("routes", i, "notifiers", j)
                yield loc, f"unknown notifier {name!r} (configured: {listed})"


def _duplicates(items: Any, key: str, what: str) -> Iterator[tuple[Loc, str]]:
    first: dict[str, int] = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            yield (key, i, "name"), f"duplicate {what} name {name!r} (also {key}[{first[name]}])"
        else:
            first[name] = i


# pydantic's errors as operator messages -------------------------------------------------------


def _keys_at(loc: Loc) -> list[str]:
    """The keys accepted where an unknown key was found, for a "did you mean" hint."""
    models: list[type[BaseModel]] = [Settings]
    for part in loc:
        fields = [f for m in models for n, f in m.model_fields.items() if (f.alias or n) == part]
        if fields:  # a dict key or a list index leaves the models as they are
            models = [m for f in fields for m in _models_in(f.annotation)]
    return sorted({f.alias or n for m in models for n, f in m.model_fields.items()})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _validation_problems(error: ValidationError, expansion: _Expansion) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = _normalised(item["loc"])
        if any(loc[: len(failed)] == failed for failed in expansion.failed):
            continue  # already reported as an unset variable
        message = _message(item["type"], item["msg"], loc)
        names = expansion.sources.get(loc)
        if names:
            message += f" (from {', '.join(dict.fromkeys(names))})"
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
        problems.append((loc, message))
    return problems


def _normalised(loc: tuple[str | int, ...]) -> Loc:
    """Drop the discriminator tag pydantic puts in a notifier's path."""
    if len(loc) > 2 and loc[0] == "notifiers" and loc[2] in NOTIFIER_TYPES:
        return (*loc[:2], *loc[3:])
    return tuple(loc)


def _message(kind: str, msg: str, loc: Loc) -> str:
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _keys_at(loc[:-1]), n=1, cutoff=0.7)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"unknown notifier type; expected one of: {', '.join(NOTIFIER_TYPES)}"
    if kind == "union_tag_not_found":
        return f"missing `type` (one of: {', '.join(NOTIFIER_TYPES)})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return "may contain only letters, digits, '_', '.' and '-'"
    if kind == "enum" and loc and loc[-1] == "[key]":
        return "unknown issue kind; " + msg[0].lower() + msg[1:]
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def _path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


def _scrubbed(problems: list[str], values: set[str]) -> list[str]:
    """Defence in depth: no value taken from the environment is repeated in a message."""
    secrets = sorted((v for v in values if len(v) >= 6), key=len, reverse=True)
    for secret in secrets:
        problems = [p.replace(secret, "***") for p in problems]
    return problems


# check-config's summary ----------------------------------------------------------------------


def describe(settings: Settings) -> str:
    """What `check-config` prints on success: everything that matters, never a secret."""
    lines = [f"workspaces ({len(settings.workspaces)}):"]
    for ws in settings.workspaces:
        lines.append(
            f"  {ws.name}: {_shown_url(ws.base_url)}, api key ***, "
            f"rate limit {ws.rate_limit:g}/s (burst {ws.burst})"
        )
    polling, retry = settings.polling, settings.polling.retry
    lines += [
        f"polling: failure poll every {_duration(polling.failure_interval)}, "
        f"inventory every {_duration(polling.inventory_interval)}, "
        f"page cap {polling.max_pages}",
        f"  requests: timeout {_duration(retry.timeout)}, up to {retry.max_retries} retries, "
        f"backoff {_duration(retry.initial_backoff)} to {_duration(retry.max_backoff)}",
    ]
    issues = settings.issues
    reminders = f"every {_duration(issues.repeat_interval)}" if issues.repeat_interval else "off"
    lines.append(f"issues: reminders {reminders}, reputation low under {issues.reputation_low:g}%")
    for kind in IssueKind:
        fail, heal = issues.thresholds(kind)
        lines.append(f"  {kind}: fires after {fail} failing, resolves after {heal} healthy")
    lines.append(
        f"notifiers ({len(settings.enabled_notifiers)} on):"
        if settings.notifiers
        else "notifiers: none"
    )
    lines += [f"  {_notifier(n)}" for n in settings.notifiers]
    lines.append("routes:" if settings.routes else "routes: none (every event to every notifier)")
    for route in settings.routes:
        more = ", continue" if route.continue_ else ""
        lines.append(f"  {_matcher(route.match)} -> {', '.join(route.notifiers)}{more}")
    lines.append("silences:" if settings.silences else "silences: none")
    for silence in settings.silences:
        until = f" until {silence.until.isoformat()}" if silence.until else ""
        reason = f" ({silence.reason})" if silence.reason else ""
        lines.append(f"  {_matcher(silence.match)}{until}{reason}")
    http = settings.http
    auth = http.auth
    guard = [
        *(["bearer token set"] if auth.bearer_token else []),
        *([f"basic auth for {auth.username}, password set"] if auth.username else []),
    ]
    lines += [
        f"http: listen {http.listen}, auth {' and '.join(guard) or 'off (endpoints open)'}"
        + (f", external URL {http.external_url}" if http.external_url else ""),
        f"state: {settings.state.path}",
        f"metrics: per-account series {'on' if settings.metrics.per_account else 'off'}",
        f"logging: level {settings.logging.level}, "
        f"format {settings.logging.format or 'auto (json unless a TTY)'}",
    ]
    return "\n".join(lines)


def _shown_url(url: str) -> str:
    """A base URL in full, unless credentials ride in it: then only scheme and host."""
    parts = urlsplit(url)
    return url_origin(url) if parts.username or parts.password else url


def _notifier(notifier: NotifierSettings) -> str:
    head = f"{notifier.name} ({notifier.type})"
    if isinstance(notifier, ConsoleSettings):
        return f"{head}: log lines"
    url = notifier.url.get_secret_value() if isinstance(notifier.url, SecretStr) else notifier.url
    text = f"{head}: {url_origin(url)}" if url else f"{head}: off (no URL)"
    if isinstance(notifier, WebhookSettings) and url:
        text += f", signing secret {'set' if notifier.secret else 'not set'}"
    return text


def _matcher(matcher: Matcher) -> str:
    parts = []
    for name in type(matcher).model_fields:
        values = getattr(matcher, name)
        if values is not None:
            shown = ["none" if v is None else str(v) for v in values]
            parts.append(f"{name}={'|'.join(shown)}")
    return " ".join(parts) or "everything"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
