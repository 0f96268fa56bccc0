"""Faults a test or a demo injects into the simulator: error statuses, slow answers, broken
bodies and pagination drift, each on chosen requests and for a chosen number of times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Route = Literal["list", "by_id"]
Action = Literal["status", "delay", "html", "object", "truncated", "omit", "ignore_offset"]
Malformed = Literal["html", "object", "truncated"]


@dataclass(slots=True)
class Fault:
    """One injected misbehaviour and the requests it applies to.

    `times` counts the requests it still applies to (None: until cleared). A request matches
    when its route, offset, account id and every given filter equal the fault's.
    """

    action: Action
    route: Route | None = "list"
    offset: int | None = None
    filters: Mapping[str, str] | None = None
    account_id: int | None = None
    times: int | None = 1
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    omit: frozenset[int] = field(default_factory=frozenset)
    body: bytes | None = None  # a status fault's own body instead of the usual error shape
    hits: int = 0

    def matches(
        self, route: Route, offset: int, filters: Mapping[str, str], account_id: int | None
    ) -> bool:
        if self.route is not None and route != self.route:
            return False
        if self.offset is not None and offset != self.offset:
            return False
        if self.account_id is not None and account_id != self.account_id:
            return False
        return self.filters is None or all(
            filters.get(name) == value for name, value in self.filters.items()
        )


class Faults:
    """The active faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)

    def status(
        self,
        code: int,
        *,
        times: int | None = 1,
        retry_after: str | None = None,
        body: bytes | None = None,
        route: Route | None = "list",
        offset: int | None = None,
        filters: Mapping[str, str] | None = None,
        account_id: int | None = None,
    ) -> Fault:
        """Answer `code` (5xx, 429 with an optional Retry-After, any 4xx) instead of the page."""
        return self.add(
            Fault("status", route, offset, filters, account_id, times, code, retry_after, body=body)
        )

    def delay(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        route: Route | None = "list",
        offset: int | None = None,
        filters: Mapping[str, str] | None = None,
        account_id: int | None = None,
    ) -> Fault:
        """Wait `seconds` before answering (a slow API, or a timeout for the client)."""
        return self.add(Fault("delay", route, offset, filters, account_id, times, seconds=seconds))

    def malformed(
        self,
        kind: Malformed,
        *,
        times: int | None = 1,
        route: Route | None = "list",
        offset: int | None = None,
        filters: Mapping[str, str] | None = None,
        account_id: int | None = None,
    ) -> Fault:
        """Answer 200 with HTML, with an object instead of an array, or with cut-off JSON."""
        return self.add(Fault(kind, route, offset, filters, account_id, times))

    def drift(
        self,
        omit: Iterable[int],
        *,
        times: int | None = 1,
        offset: int | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> Fault:
        """Leave the given accounts out of matching list requests, shifting later rows the way
        a live list shifts when accounts change state between two page requests."""
        return self.add(Fault("omit", "list", offset, filters, None, times, omit=frozenset(omit)))

    def ignore_offset(
        self, *, times: int | None = None, filters: Mapping[str, str] | None = None
    ) -> Fault:
        """Serve the first page whatever the offset: a broken API that repeats itself."""
        return self.add(Fault("ignore_offset", "list", None, filters, None, times))

    def take(
        self,
        route: Route,
        offset: int = 0,
        filters: Mapping[str, str] | None = None,
        account_id: int | None = None,
    ) -> list[Fault]:
        """The faults this request triggers; each one used is counted down."""
        taken: list[Fault] = []
        for fault in self._faults:
            if fault.matches(route, offset, filters or {}, account_id):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                taken.append(fault)
        self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return taken
