"""Who reviewed a commit: its merged pull request and the approving reviews, from GitHub.

Evidence for the checklist's first box. Only with GITHUB_TOKEN and GITHUB_REPOSITORY
(a workflow's token reads pull requests with `pull-requests: read`); anything else,
an outage included, is "not found" with the reason, never an error: the box stays
unticked and the run or promotion goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from mlgate.checklist import Review

log = logging.getLogger(__name__)

# One try per request, no retry: the checklist must not hold a run up while GitHub is down
# (two requests at most, each bounded by the timeout).
_RETRIES = 0
_TIMEOUT = 10


def find_review(
    commit: str, environ: Mapping[str, str] | None = None, *, required: bool = False
) -> tuple[Review | None, str]:
    """(the merged pull request's review, "") or (None, why nothing was found).

    Never raises, unless `required` (promotion.require_checklist names the code box) and
    GitHub could not be asked: then a ServiceError (exit 3), as any failed service.
    """
    env = os.environ if environ is None else environ
    token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    if not (token and repository):
        return None, "not looked up without GITHUB_TOKEN and GITHUB_REPOSITORY"
    from mlgate.report import github

    try:
        return _look_up(commit, token, repository, env.get("GITHUB_API_URL")), ""
    except _NotFound as nothing:
        return None, str(nothing)
    except Exception as error:  # evidence, not a requirement: whatever went wrong, say so
        if github.is_transport_error(error):
            if required:
                from mlgate.errors import ServiceError

                raise ServiceError(
                    f"GitHub could not say who reviewed commit {commit[:12]} "
                    f"({github.why(error)}), and promotion.require_checklist needs the "
                    "code box; try again when GitHub answers"
                ) from None
            return None, f"GitHub could not say ({github.why(error)})"
        log.warning("the review lookup of %s failed: %r", commit[:12], error)
        # A GITHUB_API_URL that is no GitHub API: a bad URL, or answers without the fields.
        return None, f"the lookup failed ({type(error).__name__}); check GITHUB_API_URL"


class _NotFound(Exception):
    """No merged pull request holds the commit."""


def _look_up(commit: str, token: str, repository: str, api_url: str | None) -> Review:
    from mlgate.report.github import RetryPolicy, connect

    policy = RetryPolicy(attempts=_RETRIES, timeout=_TIMEOUT)
    requester = connect(token, api_url, policy).requester
    _, pulls = requester.requestJsonAndCheck("GET", f"/repos/{repository}/commits/{commit}/pulls")
    merged = [pull for pull in pulls or [] if isinstance(pull, dict) and pull.get("merged_at")]
    if not merged:
        raise _NotFound(f"no merged pull request contains commit {commit[:12]} yet")
    pull = merged[0]
    number = int(pull["number"])
    _, reviews = requester.requestJsonAndCheck(
        "GET", f"/repos/{repository}/pulls/{number}/reviews", parameters={"per_page": 100}
    )
    author = (pull.get("user") or {}).get("login")
    return Review(number=number, approvers=approvers(reviews or [], author))


def approvers(reviews: list, author: str | None) -> tuple[str, ...]:
    """Reviewers whose latest verdict approves (a later 'changes requested' withdraws it)."""
    latest: dict[str, str] = {}
    for review in reviews:
        login = (review.get("user") or {}).get("login") if isinstance(review, dict) else None
        state = review.get("state") if isinstance(review, dict) else None
        if login and login != author and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = state
    return tuple(sorted(login for login, state in latest.items() if state == "APPROVED"))
