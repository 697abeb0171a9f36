"""Who reviewed a commit: its merged pull request and the approving reviews, from GitHub.

Evidence for the checklist's first box. Only with GITHUB_TOKEN and GITHUB_REPOSITORY
(a workflow's token reads pull requests with `pull-requests: read`); anything else,
an outage included, is "not found" with the reason, never an error: the box stays
unticked and the run or promotion goes on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mlgate.checklist import Review

# One quick try: the checklist must not hold a run up while GitHub is down.
_ATTEMPTS = 1
_TIMEOUT = 10


def find_review(commit: str, environ: Mapping[str, str] | None = None) -> tuple[Review | None, str]:
    """(the merged pull request's review, "") or (None, why nothing was found)."""
    from mlgate.report.github import RetryPolicy, connect

    env = os.environ if environ is None else environ
    token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    if not (token and repository):
        return None, "not looked up without GITHUB_TOKEN and GITHUB_REPOSITORY"
    policy = RetryPolicy(attempts=_ATTEMPTS, timeout=_TIMEOUT)
    requester = connect(token, env.get("GITHUB_API_URL"), policy).requester
    try:
        _, pulls = requester.requestJsonAndCheck(
            "GET", f"/repos/{repository}/commits/{commit}/pulls"
        )
        merged = [pull for pull in pulls or [] if isinstance(pull, dict) and pull.get("merged_at")]
        if not merged:
            return None, f"no merged pull request contains commit {commit[:12]} yet"
        pull = merged[0]
        _, reviews = requester.requestJsonAndCheck(
            "GET",
            f"/repos/{repository}/pulls/{pull['number']}/reviews",
            parameters={"per_page": 100},
        )
    except Exception as error:
        from mlgate.report.github import _is_transport_error, _why

        if not _is_transport_error(error):
            raise
        return None, f"GitHub could not say ({_why(error)})"
    author = (pull.get("user") or {}).get("login")
    return Review(number=int(pull["number"]), approvers=approvers(reviews or [], author)), ""


def approvers(reviews: list, author: str | None) -> tuple[str, ...]:
    """Reviewers whose latest verdict approves (a later 'changes requested' withdraws it)."""
    latest: dict[str, str] = {}
    for review in reviews:
        login = (review.get("user") or {}).get("login") if isinstance(review, dict) else None
        state = review.get("state") if isinstance(review, dict) else None
        if login and login != author and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = state
    return tuple(sorted(login for login, state in latest.items() if state == "APPROVED"))
