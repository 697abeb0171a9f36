"""GitHub at the edge: find the report comment by its marker, edit it, else create it.

PyGithub talks to `GITHUB_API_URL` with the token of `GITHUB_TOKEN`. Reads and
edits are retried by PyGithub's `GithubRetry` (5xx, secondary rate limits with
their `Retry-After`), each wait capped. A create is not retried blindly: a POST
that failed may still have created the comment (a 502 from a proxy after the
write), so its automatic retry is switched off and, after any failed create,
the comments are listed again and the marked one, if it now exists, is edited.
So two runs, or a create retried after an error, still leave one comment.

Anyone who may comment can post a comment starting with the marker, so only comments
written by the token's own identity count as mlgate's: the login `GET /user` answers
for a personal token, `github-actions[bot]` for the Actions `GITHUB_TOKEN` (which may
not read `/user`: GitHub answers 403). Another's marked comment is left alone.
Everything here is bounded by a deadline well inside a CI job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.errors import ServiceError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
# Why a create failed without any chance of a retry helping (bad token, no such PR,
# a read-only token as on a fork's pull request, a body GitHub refuses).
FINAL_STATUSES = frozenset({400, 401, 404, 410, 422})
# Who writes a comment with the Actions GITHUB_TOKEN (an app installation token).
ACTIONS_BOT = "github-actions[bot]"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: bounded so that a GitHub outage cannot hang the job."""

    attempts: int = 4  # per request, and creates in all
    backoff: float = 1.0  # seconds, doubled after each failed attempt
    max_wait: float = 60.0  # longest single wait (a Retry-After or rate-limit reset)
    deadline: float = 300.0  # seconds for the whole find-edit-create exchange
    timeout: int = 20  # seconds per HTTP request


@dataclass(frozen=True)
class Posted:
    action: str  # "created", "updated" or "unchanged"
    comment_id: int
    url: str


def connect(token: str, api_url: str | None, policy: RetryPolicy) -> Any:
    from github import Auth, Github, GithubRetry

    retry = GithubRetry(
        total=policy.attempts,
        backoff_factor=policy.backoff,
        secondary_rate_wait=min(60.0, policy.max_wait),
        max_rate_limit_wait=policy.max_wait,
        # No POST: a create is retried by `upsert_comment` after looking again.
        allowed_methods=frozenset({"GET", "HEAD", "PATCH"}),
    )
    return Github(
        auth=Auth.Token(token),
        base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        retry=retry,
        timeout=policy.timeout,
        lazy=True,
    )


def upsert_comment(
    client: Any,
    repository: str,
    number: int,
    marker: str,
    body: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> Posted:
    """Edit the comment on PR `number` whose body starts with `marker`, or create it once."""
    started = time.monotonic()
    mine = _Mark(marker, own_login(client))
    issue = client.get_repo(repository).get_issue(number)
    existing = call(lambda: _find(issue, mine), f"list the comments of #{number}")
    if existing is not None:
        return _edit(existing, body)
    for attempt in range(1, policy.attempts + 1):
        try:
            created = issue.create_comment(body)
            return _settle(issue, mine, created, body)
        except Exception as error:
            status = _status(error)
            if not is_transport_error(error):
                raise
            log.warning("creating the report comment failed (%s); looking again", why(error))
            found = call(lambda: _find(issue, mine), f"list the comments of #{number}")
            if found is not None:
                return _edit(found, body)
            if status in FINAL_STATUSES or (status == 403 and not _rate_limited(error)):
                raise ServiceError(_explain(error, number)) from None
            wait = min(policy.max_wait, _retry_after(error) or policy.backoff * 2 ** (attempt - 1))
            if attempt == policy.attempts or time.monotonic() + wait - started > policy.deadline:
                raise ServiceError(
                    f"GitHub did not accept the report comment on #{number} after {attempt} "
                    f"attempts ({why(error)}); rerun the job when GitHub is back"
                ) from None
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


@dataclass(frozen=True)
class _Mark:
    """What makes a comment mlgate's: its first line, and written by mlgate's own identity."""

    line: str
    author: str

    def on(self, comment: Any) -> bool:
        user = getattr(comment, "user", None)
        login = getattr(user, "login", None) if user is not None else None
        if login != self.author and not self._unnamed_bot(user):
            return False
        return (comment.body or "").startswith(self.line)

    def _unnamed_bot(self, user: Any) -> bool:
        # A token that may not read /user is taken for the Actions token; a GitHub App's
        # installation token cannot read it either, yet writes as `<app>[bot]`. Any app's
        # bot account then counts: only an installed app can write as one, never a person.
        return self.author == ACTIONS_BOT and getattr(user, "type", None) == "Bot"


def own_login(client: Any) -> str:
    """The login the token writes comments as (see the module docstring)."""
    from github import GithubException

    def read() -> str:
        try:
            return str(client.get_user().login)
        except GithubException as error:
            if error.status == 403 and not _rate_limited(error):
                return ACTIONS_BOT  # an installation token (GITHUB_TOKEN) may not read /user
            raise

    return str(call(read, "read the token's user"))


def _settle(issue: Any, marker: _Mark, created: Any, body: str) -> Posted:
    """After a create: if another job created the comment at the same moment, keep the older."""
    try:
        marked = [c for c in issue.get_comments() if marker.on(c)]
    except Exception as error:
        if not is_transport_error(error):
            raise
        return Posted("created", created.id, created.html_url)  # created; the check can wait
    if not marked or marked[0].id == created.id:
        return Posted("created", created.id, created.html_url)
    kept = _edit(marked[0], body)
    try:
        created.delete()
    except Exception as error:
        if not is_transport_error(error):
            raise
        log.warning("could not delete the duplicate report comment %s (%s)", created.id, why(error))
    return kept


def _find(issue: Any, marker: _Mark) -> Any:
    """The oldest of our comments starting with the marker line (GitHub lists oldest first)."""
    for comment in issue.get_comments():
        if marker.on(comment):
            return comment
    return None


def _edit(comment: Any, body: str) -> Posted:
    if comment.body == body:
        return Posted("unchanged", comment.id, comment.html_url)
    call(lambda: comment.edit(body), f"edit comment {comment.id}")
    return Posted("updated", comment.id, comment.html_url)


def call(action: Callable[[], Any], what: str) -> Any:
    """`action()`, with GitHub's and the network's errors as one ServiceError naming `what`."""
    try:
        return action()
    except Exception as error:
        if not is_transport_error(error):
            raise
        hint = _HINTS.get(_status(error) or 0, "")
        raise ServiceError(f"GitHub: could not {what} ({why(error)}){hint}") from None


_HINTS = {
    401: "; check GITHUB_TOKEN",
    403: "; the job needs `pull-requests: write`",
    404: "; check the pull request number and GITHUB_REPOSITORY",
}


def is_transport_error(error: Exception) -> bool:
    """Whether `error` is GitHub's answer or the network's (not a bug of the caller)."""
    import requests
    from github import GithubException

    return isinstance(error, (GithubException, requests.RequestException))


def _status(error: Exception) -> int | None:
    return getattr(error, "status", None)


def _rate_limited(error: Exception) -> bool:
    from github import RateLimitExceededException

    return isinstance(error, RateLimitExceededException) or _retry_after(error) is not None


def _retry_after(error: Exception) -> float | None:
    headers = getattr(error, "headers", None) or {}
    value = {str(k).lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def why(error: Exception) -> str:
    """A transport error in a few words: `HTTP 403: <GitHub's message>`, or its type."""
    status = _status(error)
    data = getattr(error, "data", None)
    message = data.get("message") if isinstance(data, dict) else None
    if status is not None:
        return f"HTTP {status}" + (f": {message}" if isinstance(message, str) else "")
    return type(error).__name__


def _explain(error: Exception, number: int) -> str:
    status = _status(error)
    if status == 401:
        return "GitHub refused the token (HTTP 401); check GITHUB_TOKEN"
    if status == 403:
        return (
            f"the token may not comment on #{number} (HTTP 403): give the job "
            "`pull-requests: write`; a pull request from a fork gets a read-only token, so "
            "upload `mlgate report --write-artifact` and comment from a workflow_run job"
        )
    if status in (404, 410):
        return f"pull request #{number} was not found in this repository (HTTP {status})"
    return f"GitHub refused the report comment on #{number} ({why(error)})"
