"""The SmartLead email-accounts client: rate limited, retried, paginated, typed errors.

One client per workspace over the process's shared aiohttp session. Waiting (rate limit,
backoff, server-requested pauses) goes through the injected `sleep` and `clock`, so tests
drive it without real delays.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Self, TypeVar
from urllib.parse import urlencode

import aiohttp
import structlog
from pydantic import SecretStr

from monitor.config import PollingSettings, RetrySettings, WorkspaceSettings
from monitor.smartlead.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeout,
    AuthError,
    RateLimited,
    RequestRejected,
    ServerError,
    UnexpectedResponse,
    ValidationError,
    error_snippet,
)
from monitor.smartlead.models import Account, PayloadError, decode_accounts, parse_account
from monitor.smartlead.ratelimit import Clock, Sleep, TokenBucket, server_wait

PAGE_SIZE: Final = 100  # the API's maximum `limit`
ACCOUNTS_PATH: Final = "/api/v1/email-accounts/"
# A server asking for a longer pause than this is not going to answer within a poll.
MAX_SERVER_WAIT: Final = 120.0

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

OnResponse = Callable[[str, str], None]  # (workspace, code): "200", "429", "timeout", "error"


@dataclass(frozen=True, slots=True)
class AccountList:
    """One paginated answer, de-duplicated by id (in answer order), with what it cost."""

    by_id: dict[int, Account]
    pages: int
    requests: int

    @property
    def accounts(self) -> list[Account]:
        return list(self.by_id.values())


@dataclass(slots=True)
class _Tally:
    """HTTP requests made for one call, retries included (a client may serve calls at once)."""

    requests: int = 0


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    content_type: str
    attempts: int


class SmartLeadClient:
    """`list_accounts` and `get_account` for one workspace; secrets stay out of every message."""

    @classmethod
    def for_workspace(
        cls,
        session: aiohttp.ClientSession,
        workspace: WorkspaceSettings,
        polling: PollingSettings,
        on_response: OnResponse | None = None,
    ) -> Self:
        """The client a workspace's settings describe."""
        return cls(
            session,
            workspace=workspace.name,
            api_key=workspace.api_key.get_secret_value(),
            base_url=workspace.base_url,
            rate_limit=workspace.rate_limit,
            burst=workspace.burst,
            retry=polling.retry,
            max_pages=polling.max_pages,
            on_response=on_response,
        )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        workspace: str,
        api_key: str,
        base_url: str,
        rate_limit: float,
        burst: int = 3,
        retry: RetrySettings | None = None,
        max_pages: int = 2000,
        on_response: OnResponse | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.workspace = workspace
        self._session = session
        self._api_key = SecretStr(api_key)  # a repr or a dump of vars() shows stars
        self._base_url = base_url.rstrip("/")
        self._retry = retry or RetrySettings()
        self._max_pages = max_pages
        self._on_response = on_response
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._bucket = TokenBucket(rate_limit, burst, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return f"SmartLeadClient(workspace={self.workspace!r}, base_url={self._base_url!r})"

    async def list_accounts(
        self, filters: Mapping[str, str] | None = None, known: Mapping[int, Account] | None = None
    ) -> AccountList:
        """Every account matching `filters` (ANDed by SmartLead), page by page.

        The offset advances by the rows received; a short page ends the listing. A page that
        repeats the previous one, or more than `max_pages` pages, fails instead of looping.
        A row equal to the caller's `known` account of that id comes back as that very object:
        an unchanged account is held once, not twice, while the last snapshot is alive.
        """
        known = known or {}
        filters = dict(filters or {})
        started, tally = self._clock(), _Tally()
        pages, seen = 0, dict[int, Account]()
        outcome = "ok"
        try:
            previous_ids: tuple[int, ...] = ()
            offset = 0
            while True:
                if pages >= self._max_pages:
                    raise UnexpectedResponse(
                        f"listing passed the page cap of {self._max_pages} pages",
                        url=self._safe_url(ACCOUNTS_PATH, self._page_params(filters, offset)),
                    )
                params = self._page_params(filters, offset)
                answer = await self._get(ACCOUNTS_PATH, params, tally)
                rows = self._parse(decode_accounts, answer, ACCOUNTS_PATH, params)
                pages += 1
                ids = tuple(account.id for account in rows)
                if ids and ids == previous_ids:
                    raise UnexpectedResponse(
                        f"page {pages} repeats the previous page",
                        url=self._safe_url(ACCOUNTS_PATH, params),
                    )
                for account in rows:
                    if (old := known.get(account.id)) is not None and old == account:
                        account = old
                    seen[account.id] = account  # a row seen twice keeps its latest state
                if len(rows) < PAGE_SIZE:
                    return AccountList(seen, pages, tally.requests)
                previous_ids = ids
                offset += len(rows)
        except ApiError as error:
            outcome = type(error).__name__
            raise
        except BaseException:  # cancelled (shutdown) or a bug: never logged as "ok"
            outcome = "abandoned"
            raise
        finally:
            log.info(
                "smartlead.list_accounts",
                workspace=self.workspace,
                filters=filters,
                pages=pages,
                requests=tally.requests,
                accounts=len(seen),
                duration_ms=round((self._clock() - started) * 1000, 1),
                outcome=outcome,
            )

    async def get_account(self, account_id: int) -> Account | None:
        """One account by id, or None when SmartLead answers 404 (the account is gone)."""
        path = f"{ACCOUNTS_PATH}{int(account_id)}/"
        answer = await self._get(path, {}, _Tally(), not_found_ok=True)
        if answer.status == 404:
            return None
        account = self._parse(_decode_single, answer, path, {})
        if account.id != account_id:
            raise UnexpectedResponse(
                f"asked for account {account_id}, got account {account.id}",
                url=self._safe_url(path, {}),
            )
        return account

    @staticmethod
    def _page_params(filters: Mapping[str, str], offset: int) -> dict[str, str]:
        return {**filters, "offset": str(offset), "limit": str(PAGE_SIZE)}

    async def _get(
        self,
        path: str,
        params: Mapping[str, str],
        tally: _Tally,
        *,
        not_found_ok: bool = False,
    ) -> _Answer:
        """One logical request: rate limited, retried on 429/5xx/timeouts/connection errors."""
        url = self._base_url + path
        query = {**params, "api_key": self._api_key.get_secret_value()}
        safe_url = self._safe_url(path, params)
        timeout = aiohttp.ClientTimeout(total=self._retry.timeout)
        attempts = self._retry.max_retries + 1
        for attempt in range(1, attempts + 1):
            await self._bucket.acquire()
            tally.requests += 1
            started = self._clock()
            failure: ApiError
            wait: float | None = None
            try:
                async with self._session.get(
                    url, params=query, timeout=timeout, allow_redirects=False
                ) as response:
                    body = await response.read()
                    status = response.status
                    headers = dict(response.headers)
                    content_type = response.content_type
            except TimeoutError:
                self._report("timeout", safe_url, attempt, started)
                failure = ApiTimeout(
                    f"no answer within {self._retry.timeout:g} s",
                    url=safe_url,
                    attempts=attempt,
                )
            except aiohttp.ClientError as error:
                self._report("error", safe_url, attempt, started)
                failure = ApiConnectionError(
                    f"connection failed ({type(error).__name__})", url=safe_url, attempts=attempt
                )
            else:
                self._report(str(status), safe_url, attempt, started)
                wait = server_wait(headers, self._wall_clock())
                if status < 300 or (status == 404 and not_found_ok):
                    if wait is not None:  # X-RateLimit-Remaining: 0 — hold the next request
                        self._bucket.pause_for(min(wait, MAX_SERVER_WAIT))
                    return _Answer(status, body, content_type, attempt)
                failure = self._failure(status, body, safe_url, attempt)
            if not failure.retryable or attempt == attempts:
                raise failure
            if wait is None:
                await self._sleep(self._backoff(attempt))
            elif wait <= MAX_SERVER_WAIT:
                self._bucket.pause_for(wait)  # every request of this workspace waits it out
            else:
                raise RateLimited(
                    f"SmartLead asked to wait {wait:.0f} s, more than {MAX_SERVER_WAIT:.0f} s",
                    url=safe_url,
                    status=failure.status,
                    attempts=attempt,
                )
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    def _failure(self, status: int, body: bytes, safe_url: str, attempt: int) -> ApiError:
        # A 4xx message is about our request; a 5xx message may echo anything: not quoted.
        snippet = (
            error_snippet(body, secrets=(self._api_key.get_secret_value(),))
            if 400 <= status < 500
            else None
        )
        said = f" ({snippet})" if snippet else ""
        kind: type[ApiError]
        if status == 401:
            kind, reason = AuthError, f"SmartLead rejected the API key: 401{said}"
        elif status == 422:
            kind, reason = ValidationError, f"SmartLead rejected the query: 422{said}"
        elif status == 429:
            kind, reason = RateLimited, f"SmartLead kept rate limiting: 429{said}"
        elif status >= 500:
            kind, reason = ServerError, f"SmartLead server error: {status}"
        elif 300 <= status < 400:
            kind, reason = (
                UnexpectedResponse,
                f"SmartLead redirected ({status}); check the base URL",
            )
        else:
            kind, reason = RequestRejected, f"SmartLead refused the request: {status}{said}"
        return kind(reason, url=safe_url, status=status, attempts=attempt)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(cap, initial·2^(n-1))]."""
        ceiling = min(self._retry.max_backoff, self._retry.initial_backoff * 2.0 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    def _parse(
        self,
        decode: Callable[[bytes], _T],
        answer: _Answer,
        path: str,
        params: Mapping[str, str],
    ) -> _T:
        """Decode a 200 body; anything but the documented shape is UnexpectedResponse.

        The error is raised outside the `except` so it carries no chained exception: a
        JSON decoder error holds the whole body, which may hold passwords.
        """
        problem: str
        try:
            return decode(answer.body)
        except PayloadError as error:  # before ValueError, which it is
            problem = f"body is not the documented shape: {error}"
        except (ValueError, RecursionError):
            problem = f"body is not JSON (content type {answer.content_type or 'unknown'})"
        raise UnexpectedResponse(
            problem,
            url=self._safe_url(path, params),
            status=answer.status,
            attempts=answer.attempts,
        )

    def _report(self, code: str, safe_url: str, attempt: int, started: float) -> None:
        if self._on_response is not None:
            self._on_response(self.workspace, code)
        log.debug(
            "smartlead.request",
            workspace=self.workspace,
            method="GET",
            url=safe_url,
            status=code,
            attempt=attempt,
            ms=round((self._clock() - started) * 1000, 1),
        )

    def _safe_url(self, path: str, params: Mapping[str, str]) -> str:
        """The request URL as it may be logged: the key is always `***`."""
        query = urlencode({**params, "api_key": "***"}, safe="*")
        return f"{self._base_url}{path}?{query}"


def _decode_single(data: bytes) -> Account:
    """The by-id answer is an object; a one-element array of it is tolerated."""
    body = json.loads(data)
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    return parse_account(body)
