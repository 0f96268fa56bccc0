"""Typed settings. The loader (env interpolation, error collection) is below the models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, SecretStr

from monitor.core.model import IssueKind


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(Model):
    max_retries: int = Field(4, ge=0, le=20)
    initial_backoff: PositiveFloat = 0.5
    max_backoff: PositiveFloat = 30.0
    timeout: PositiveFloat = 30.0  # seconds per request


class WorkspaceSettings(Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    api_key: SecretStr
    base_url: str = "https://server.smartlead.ai"
    rate_limit: PositiveFloat = 1.0  # requests per second
    burst: int = Field(3, ge=1, le=20)


class KindSettings(Model):
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)


class IssueSettings(Model):
    failure_threshold: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)
    repeat_interval: float = Field(14400.0, ge=0)  # 0 = no reminders
    reputation_low: float = Field(80.0, ge=0, le=100)  # percent
    kinds: dict[IssueKind, KindSettings] = Field(default_factory=dict)


class PollingSettings(Model):
    failure_interval: PositiveFloat = 300.0
    inventory_interval: PositiveFloat = 3600.0
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


class Route(Model):
    match: Matcher = Matcher()
    notifiers: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")


class Silence(Model):
    match: Matcher
    until: datetime | None = None
    reason: str | None = None


class SlackSettings(Model):
    type: Literal["slack"]
    name: str
    url: SecretStr | None = None  # empty = off


class WebhookSettings(Model):
    type: Literal["webhook"]
    name: str
    url: SecretStr | None = None
    secret: SecretStr | None = None  # empty = unsigned


class AlertmanagerSettings(Model):
    type: Literal["alertmanager"]
    name: str
    url: str | None = None


class ConsoleSettings(Model):
    type: Literal["console"]
    name: str


NotifierSettings = SlackSettings | WebhookSettings | AlertmanagerSettings | ConsoleSettings


class HttpAuth(Model):
    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None


class HttpSettings(Model):
    listen: str = "0.0.0.0:9877"
    auth: HttpAuth = HttpAuth()
    external_url: str | None = None  # used in Alertmanager's generatorURL


class StateSettings(Model):
    path: str = "./data/monitor.db"


class MetricsSettings(Model):
    per_account: bool = True


class LoggingSettings(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] | None = None  # None: json unless stdout is a TTY


class Settings(Model):
    workspaces: list[WorkspaceSettings] = Field(min_length=1)
    polling: PollingSettings = PollingSettings()
    issues: IssueSettings = IssueSettings()
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    silences: list[Silence] = Field(default_factory=list)
    http: HttpSettings = HttpSettings()
    state: StateSettings = StateSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()
