"""One JSON POST with a timeout and bounded retries: the only network code of the alerts.

The URL is a secret (a Slack webhook URL carries its token) and so is the body (a
PagerDuty event carries the routing key): neither ever appears in what this returns.
urllib's own errors can name the URL (`HTTPError.filename`, `ValueError('unknown url
type: ...')`), so none of them leaves this module; a `Reply` says what happened in
words built here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Answers worth another try: rate limited, or the service's own trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY = 64 * 1024  # an answer is a few bytes; read no more than this


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, so that a service that is down costs seconds, not a CI job."""

    attempts: int = 3
    backoff: float = 0.5  # seconds before the second attempt, doubled after each
    max_wait: float = 10.0  # the longest single wait, also for a Retry-After
    timeout: float = 10.0  # seconds per request


@dataclass(frozen=True)
class Reply:
    """What the last attempt got: an HTTP status and body, or why there was none."""

    status: int | None
    body: str
    attempts: int
    problem: str | None = None  # no HTTP answer: refused, timed out, not an http(s) URL

    def describe(self) -> str:
        """One line for a warning; never the URL or the request."""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        if self.status is None:
            return f"{self.problem}{tries}"
        snippet = " ".join(self.body.split())[:200]
        return f"HTTP {self.status}{' ' + snippet if snippet else ''}{tries}"


def check_url(url: str) -> str | None:
    """Why `url` cannot be posted to (None when it can): https, or http on loopback."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "not a valid URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None  # a local test server
    return "not an https:// URL"


def post_json(
    url: str,
    payload: dict[str, Any],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """POST `payload` as JSON, retrying on connection errors, 429 and 5xx."""
    policy = policy or RetryPolicy()
    bad = check_url(url)
    if bad is not None:
        return Reply(None, "", 0, bad)
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    wait = policy.backoff
    reply = Reply(None, "", 0, "not sent")
    for attempt in range(1, policy.attempts + 1):
        reply, retry_after = _post_once(url.strip(), data, policy.timeout, attempt)
        retryable = reply.status is None or reply.status in RETRY_STATUSES
        if not retryable or attempt == policy.attempts:
            return reply
        sleep(min(policy.max_wait, retry_after if retry_after is not None else wait))
        wait *= 2
    return reply


def _post_once(url: str, data: bytes, timeout: float, attempt: int) -> tuple[Reply, float | None]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "mlgate"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_BODY).decode("utf-8", "replace")
            return Reply(response.status, body, attempt), None
    except urllib.error.HTTPError as error:
        try:
            body = error.read(MAX_BODY).decode("utf-8", "replace")
        except OSError:
            body = ""
        return Reply(error.code, body, attempt), _retry_after(error.headers)
    except urllib.error.URLError as error:
        return Reply(None, "", attempt, _why(error.reason)), None
    except TimeoutError:
        return Reply(None, "", attempt, f"no answer within {timeout:g} s"), None
    except (OSError, ValueError) as error:  # a reset connection, a malformed answer
        return Reply(None, "", attempt, _why(error)), None


def _why(reason: object) -> str:
    """Why a connection failed, in words that cannot hold the URL."""
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot connect ({reason.strerror})"
    return f"cannot connect ({type(reason).__name__})"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use the backoff
