"""Prometheus exposition (contract §8): self-metrics plus fleet metrics rendered from state.

The fleet families are rendered into bytes once per cycle, only for the workspace the cycle
polled (`render_workspace`), so a scrape of 100,000 accounts writes cached bytes: never a walk
over the fleet, never a call to SmartLead. Per-account families are rendered in chunks of
accounts, so a render holds the text of one chunk as separate strings, not of the fleet, and
each chunk is kept packed (`monitor.packed`) until a scrape writes it.
Self-metrics (counters and poll gauges) live in a small prometheus_client registry of their
own, with every series that will exist created at zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from monitor.core.health import Source, reputation_is_low, warmup_blocked
from monitor.core.model import Event, IssueKind, PollKind, Status
from monitor.gzipparts import GzipParts
from monitor.packed import Packed, Part, unpack
from monitor.smartlead.models import Account
from monitor.store import PollStatus, WorkspaceState
from monitor.views import last_success

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# From a quick failure poll of one page (a fraction of a second) to an inventory poll of a
# large fleet at 1 request/s (100,000 accounts = 1,000 pages ≈ 17 minutes).
POLL_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)

NOTIFICATION_RESULTS = ("sent", "failed", "dropped")

_INVENTORY = frozenset({Source.INVENTORY})


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(POLL_DURATION_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(POLL_DURATION_BUCKETS):
            if value <= bound:
                self.counts[i] += 1
                break

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip(POLL_DURATION_BUCKETS, self.counts, strict=True):
            running += count
            buckets.append((_number(bound), running))
        buckets.append(("+Inf", self.total))
        return buckets


class SelfMetrics:
    """What the monitor itself did: issues opened/resolved, polls, API requests, deliveries.

    Every series that will exist is created at zero here, so rate() and absent() alerts work
    from the first scrape. The daemon calls the methods below from the event loop.
    """

    def __init__(self, workspaces: Sequence[str], notifiers: Sequence[str], version: str) -> None:
        self.version = version
        kinds = [str(kind) for kind in IssueKind]
        polls = [str(poll) for poll in PollKind]
        self._opened = {(w, k): 0.0 for w in workspaces for k in kinds}
        self._resolved = {(w, k): 0.0 for w in workspaces for k in kinds}
        self._poll_success = {(w, p): 0.0 for w in workspaces for p in polls}
        self._poll_last_success = {(w, p): 0.0 for w in workspaces for p in polls}
        self._poll_duration = {(w, p): _Histogram() for w in workspaces for p in polls}
        self._requests = {(w, "200"): 0.0 for w in workspaces}
        self._notifications = {(n, r): 0.0 for n in notifiers for r in NOTIFICATION_RESULTS}
        self._pending = dict.fromkeys(notifiers, 0.0)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe_poll(self, status: PollStatus) -> None:
        """A poll just finished: its outcome, last success and duration."""
        self.restore_poll(status)
        key = (status.workspace, str(status.poll))
        self._poll_duration.setdefault(key, _Histogram()).observe(max(status.duration, 0.0))

    def restore_poll(self, status: PollStatus) -> None:
        """After a restart: the stored outcome and last success, without a duration."""
        key = (status.workspace, str(status.poll))
        self._poll_success[key] = 1.0 if status.ok else 0.0
        success_at = last_success(status)
        if success_at is not None:
            self._poll_last_success[key] = success_at.timestamp()
        else:
            self._poll_last_success.setdefault(key, 0.0)
        self._poll_duration.setdefault(key, _Histogram())

    def count_request(self, workspace: str, code: str) -> None:
        """One HTTP request to SmartLead; `code` is the status or a short error word."""
        key = (workspace, code)
        self._requests[key] = self._requests.get(key, 0.0) + 1

    def count_events(self, events: Iterable[Event]) -> None:
        """Opened = a firing event that is not a reminder; resolved = a resolved event."""
        for event in events:
            key = (event.workspace, str(event.kind))
            if event.status is Status.RESOLVED:
                self._resolved[key] = self._resolved.get(key, 0.0) + 1
            elif not event.reminder:
                self._opened[key] = self._opened.get(key, 0.0) + 1

    def count_notification(self, notifier: str, result: str) -> None:
        """One outbox message `sent`, `failed` (an attempt; it will be retried) or `dropped`."""
        if result not in NOTIFICATION_RESULTS:
            raise ValueError(f"unknown notification result {result!r}")
        key = (notifier, result)
        self._notifications[key] = self._notifications.get(key, 0.0) + 1

    def set_outbox_pending(self, counts: Mapping[str, int]) -> None:
        """Pending messages per notifier; a configured notifier missing from `counts` has 0."""
        for notifier in self._pending:
            self._pending[notifier] = 0.0
        for notifier, count in counts.items():
            self._pending[notifier] = float(count)

    @property
    def outbox_pending(self) -> dict[str, int]:
        """The last pending counts per notifier, as `/api/v1/status` reports them."""
        return {notifier: int(count) for notifier, count in sorted(self._pending.items())}

    def render(self) -> bytes:
        """Text format 0.0.4 of `collect()`; `generate_latest(self.registry)` gives the same
        samples but costs ~20 µs a sample, which every scrape would pay."""
        return _text(self.collect())

    def collect(self) -> Iterator[Metric]:
        """The prometheus_client collector protocol: families built from the fields above."""
        yield _counter(
            "smartlead_issues_opened",
            "Issues that started firing.",
            ["workspace", "kind"],
            self._opened,
        )
        yield _counter(
            "smartlead_issues_resolved",
            "Firing issues that resolved.",
            ["workspace", "kind"],
            self._resolved,
        )
        yield _gauge(
            "smartlead_poll_success",
            "1 when the last poll of this kind succeeded, else 0.",
            ["workspace", "poll"],
            self._poll_success,
        )
        yield _gauge(
            "smartlead_poll_last_success_timestamp_seconds",
            "Unix time of the last successful poll of this kind; 0 before the first.",
            ["workspace", "poll"],
            self._poll_last_success,
        )
        duration = HistogramMetricFamily(
            "smartlead_poll_duration_seconds",
            "Wall time of a poll, all pages and retries included.",
            labels=["workspace", "poll"],
        )
        for (workspace, poll), histogram in sorted(self._poll_duration.items()):
            duration.add_metric([workspace, poll], histogram.cumulative(), histogram.sum)
        yield duration
        yield _counter(
            "smartlead_api_requests",
            "HTTP requests to the SmartLead API by status code.",
            ["workspace", "code"],
            self._requests,
        )
        yield _counter(
            "smartlead_notifications",
            "Notification messages by outcome: sent, failed (will retry) or dropped.",
            ["notifier", "result"],
            self._notifications,
        )
        pending = GaugeMetricFamily(
            "smartlead_outbox_pending",
            "Messages waiting in the durable outbox.",
            labels=["notifier"],
        )
        for notifier, count in sorted(self._pending.items()):
            pending.add_metric([notifier], count)
        yield pending
        build = GaugeMetricFamily(
            "smartlead_monitor_build_info", "The running version; always 1.", labels=["version"]
        )
        build.add_metric([self.version], 1.0)
        yield build


def _text(families: Iterable[Metric]) -> bytes:
    """Families as text format 0.0.4; HELP texts are our own constants, so left unescaped."""
    lines: list[str] = []
    for family in families:
        name = f"{family.name}_total" if family.type == "counter" else family.name
        lines.append(f"# HELP {name} {family.documentation}\n# TYPE {name} {family.type}")
        for sample in family.samples:
            labels = ",".join(f'{key}="{_escape(value)}"' for key, value in sample.labels.items())
            braces = f"{{{labels}}}" if labels else ""
            lines.append(f"{sample.name}{braces} {_number(sample.value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8", "replace")


def _counter(
    name: str, help_text: str, labels: list[str], values: Mapping[tuple[str, str], float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(
    name: str, help_text: str, labels: list[str], values: Mapping[tuple[str, str], float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


# --- fleet metrics, rendered from state once per cycle -------------------------------------

_HELP = {
    "smartlead_accounts": "Email accounts in the last inventory.",
    "smartlead_accounts_smtp_failing": "Accounts whose SMTP check fails.",
    "smartlead_accounts_imap_failing": "Accounts whose IMAP check fails.",
    "smartlead_accounts_warmup_blocked": "Accounts whose warmup is blocked.",
    "smartlead_accounts_reputation_low": "Accounts with an active warmup under the line.",
    "smartlead_account_warmup_reputation_ratio": "Warmup reputation of an account, 0 to 1.",
    "smartlead_account_daily_sent": "Emails an account sent today.",
    "smartlead_account_daily_limit": "Daily sending limit of an account.",
    "smartlead_issue_open": "1 for every firing issue; gone once it resolves.",
}
# Families the fleet renders, in exposition order; the self registry defines none of these.
FLEET_FAMILIES = tuple(_HELP)
_GROUP_FAMILIES = FLEET_FAMILIES[:5]
_RATIO, _SENT, _LIMIT, _ISSUE_OPEN = FLEET_FAMILIES[5:]
_PER_ACCOUNT = frozenset({_RATIO, _SENT, _LIMIT})  # the families `per_account: false` drops
_HEADERS = {
    name: f"# HELP {name} {text}\n# TYPE {name} gauge\n".encode() for name, text in _HELP.items()
}

# One workspace's sample lines per family name, in chunks to write back to back; a family it
# does not export is absent.
WorkspaceSamples = Mapping[str, Sequence[Part]]
CHUNK_ACCOUNTS = 2048  # accounts per chunk of a per-account family (~225 KB, ~28 KB packed)


def render_fleet(
    states: Mapping[str, WorkspaceState], *, per_account: bool, reputation_low: float
) -> bytes:
    """Every workspace's fleet families as one Prometheus text (format 0.0.4).

    For `once` and tests; the daemon renders only the workspace a cycle changed
    (`render_workspace`) and lets `MetricsExposition` assemble the families.
    """
    families = [name for name in FLEET_FAMILIES if per_account or name not in _PER_ACCOUNT]
    rendered = [
        render_workspace(workspace, state, per_account=per_account, reputation_low=reputation_low)
        for workspace, state in states.items()
    ]
    return b"".join(map(unpack, _assemble(families, rendered)))


def render_workspace(
    workspace: str, state: WorkspaceState, *, per_account: bool, reputation_low: float
) -> dict[str, list[Part]]:
    """The sample lines of one workspace per fleet family, from its stored state.

    Conventions: `client_id="none"` for accounts without a client; every esp/client group that
    has accounts exports all five counts, zeros included. Per-account series (only when
    `per_account`) are skipped for a value the API did not give (the reputation ratio needs a
    readable reputation). `smartlead_issue_open` has one series per firing issue; pending
    issues under their threshold are not open. Workspace-level issues (api_auth_failed,
    api_unavailable) carry only `workspace` and `kind`, as Prometheus treats a missing label
    as empty: `smartlead_issue_open{account_id=""}` selects them.
    `reputation_low` is a ratio (0.8 for 80 %).
    """
    ws = _escape(workspace)
    lines: dict[str, list[str]] = {name: [] for name in (*_GROUP_FAMILIES, _ISSUE_OPEN)}
    groups = _count_groups(state, reputation_low)
    for (esp, client_id), counts in sorted(groups.items(), key=_group_order):
        labels = f'{{workspace="{ws}",esp="{_escape(esp)}",client_id="{_client(client_id)}"}} '
        for name, count in zip(_GROUP_FAMILIES, counts, strict=True):
            lines[name].append(f"{labels}{count}")
    _issue_samples(ws, state, lines[_ISSUE_OPEN])
    samples: dict[str, list[Part]] = {
        name: [chunk] if (chunk := _chunk(name, found)) else [] for name, found in lines.items()
    }
    if per_account:
        samples.update(_account_chunks(ws, list(state.accounts.values())))
    return samples


def _chunk(name: str, lines: list[str]) -> bytes:
    """Sample lines of one family, each prefixed with its name; UTF-8 (lone surrogates: ?)."""
    if not lines:
        return b""
    newline_name = "\n" + name
    return f"{name}{newline_name.join(lines)}\n".encode("utf-8", "replace")


def _assemble(families: Sequence[str], workspaces: Iterable[WorkspaceSamples]) -> list[Part]:
    """Families in order, each header followed by every workspace's lines of that family."""
    rendered = list(workspaces)
    parts: list[Part] = []
    for name in families:
        parts.append(_HEADERS[name])
        parts.extend(chunk for samples in rendered for chunk in samples.get(name, ()))
    return parts


def _count_groups(
    state: WorkspaceState, reputation_low: float
) -> dict[tuple[str, int | None], list[int]]:
    """Accounts per (esp, client): total, smtp, imap, warmup blocked, reputation low."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for account in state.accounts.values():
        key = (account.esp, account.client_id)
        counts = groups.get(key)
        if counts is None:
            counts = groups[key] = [0, 0, 0, 0, 0]
        counts[0] += 1
        if account.is_smtp_success is False:
            counts[1] += 1
        if account.is_imap_success is False:
            counts[2] += 1
        if warmup_blocked(account, _INVENTORY):
            counts[3] += 1
        if reputation_is_low(account, reputation_low):
            counts[4] += 1
    return groups


def _account_chunks(ws: str, accounts: Sequence[Account]) -> dict[str, list[Part]]:
    """The per-account families, CHUNK_ACCOUNTS accounts to a chunk, packed."""
    chunks: dict[str, list[Part]] = {_RATIO: [], _SENT: [], _LIMIT: []}
    prefix = f'{{workspace="{ws}",account_id="'
    for start in range(0, len(accounts), CHUNK_ACCOUNTS):
        ratio, sent, limit = [], [], []
        for account in accounts[start : start + CHUNK_ACCOUNTS]:
            labels = f'{prefix}{account.id}",email="{_escape(account.email)}"}} '
            warmup = account.warmup
            if warmup is not None and warmup.reputation is not None:
                ratio.append(f"{labels}{warmup.reputation!r}")  # a float in 0..1, never NaN
            if account.daily_sent_count is not None:
                sent.append(f"{labels}{account.daily_sent_count}")
            if account.message_per_day is not None:
                limit.append(f"{labels}{account.message_per_day}")
        for name, found in ((_RATIO, ratio), (_SENT, sent), (_LIMIT, limit)):
            if found:
                chunks[name].append(Packed(_chunk(name, found)))
    return chunks


def _issue_samples(ws: str, state: WorkspaceState, issues: list[str]) -> None:
    for issue in state.issues.values():
        if not issue.firing:
            continue
        account_id = issue.key.account_id
        kind = issue.key.kind
        if account_id is None:
            issues.append(f'{{workspace="{ws}",kind="{kind}"}} 1')
            continue
        if issue.account is not None:
            email = issue.account.email
        else:
            known = state.accounts.get(account_id)
            email = known.email if known is not None else ""
        issues.append(
            f'{{workspace="{ws}",account_id="{account_id}",email="{_escape(email)}",'
            f'kind="{kind}"}} 1'
        )


def _group_order(item: tuple[tuple[str, int | None], list[int]]) -> tuple[str, int]:
    esp, client_id = item[0]
    return esp, -1 if client_id is None else client_id


def _client(client_id: int | None) -> str:
    return "none" if client_id is None else str(client_id)


def _escape(value: str) -> str:
    """A label value as text format 0.0.4 wants it: backslash, double quote, newline escaped."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class MetricsExposition:
    """What `/metrics` serves: the small self registry, then the cached fleet families.

    The fleet is cached per workspace, so a cycle re-renders only the workspace it polled
    (`update_workspace`); `update_fleet` takes a whole `render_fleet` result instead. The
    compressed segments of the cached parts live here too, and go when their parts do.
    """

    def __init__(self, self_metrics: SelfMetrics, fleet: bytes = b"") -> None:
        self.self_metrics = self_metrics
        self._fleet = fleet
        self._workspaces: dict[str, WorkspaceSamples] = {}
        self._gzip = GzipParts()

    def update_fleet(self, data: bytes) -> None:
        """Swap in a whole-fleet render; it replaces any per-workspace samples."""
        for workspace in list(self._workspaces):
            self.forget(workspace)
        self._gzip.forget([self._fleet])
        self._fleet = data

    def update_workspace(self, workspace: str, samples: WorkspaceSamples) -> None:
        """Swap in one workspace's samples (`render_workspace`) after its cycle."""
        self.forget(workspace)
        self._gzip.forget([self._fleet])
        self._fleet = b""
        self._workspaces = {**self._workspaces, workspace: samples}

    def forget(self, workspace: str) -> None:
        """Drop a workspace's samples, so a new render does not coexist with the old one."""
        old = self._workspaces.get(workspace)
        if old is not None:
            self._workspaces = {k: v for k, v in self._workspaces.items() if k != workspace}
            self._gzip.forget(chunk for chunks in old.values() for chunk in chunks)

    def parts(self) -> list[Part]:
        """The body in pieces to unpack and write one by one: joining would hold ~33 MB of
        text at once."""
        if not self._workspaces:
            return [self.self_metrics.render(), self._fleet]
        rendered = [self._workspaces[name] for name in sorted(self._workspaces)]
        families = [name for name in FLEET_FAMILIES if any(name in r for r in rendered)]
        return [self.self_metrics.render(), *_assemble(families, rendered)]

    def gzip_parts(self) -> list[bytes]:
        """`parts()` as one gzip member; only what changed since the last call is compressed."""
        return self._gzip.encode(self.parts())

    def render(self) -> bytes:
        return b"".join(map(unpack, self.parts()))
