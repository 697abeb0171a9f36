"""The monitor's issue and retraining on GitHub: the edge that carries out `monitor_issue`'s plan.

Through the report's PyGithub client (`report.github`: token, API URL, retries of reads
and edits, errors mapped to one `ServiceError` line).

Finding the issue: mlgate's issues of a model are those written by the token's own
identity (or, for a token that may not read `/user`, by any app's bot account: a GitHub
App's token writes as `<app>[bot]`) whose body starts with the model's marker, open or
closed. They are listed with
the first of `monitoring.issue_labels` (which mlgate puts back on every bad check), then,
if none carries it, among the repository's most recently updated issues. The oldest
wins: a person cannot plant one, and a duplicate is never edited.

Two runs at once (the reusable workflow also keeps them apart with a concurrency group):
a create is never retried blindly (a POST that failed may have created the issue, so the
issues are listed again first), and after a create the issues are listed once more; when
an older one exists the new one is closed as its duplicate and this run's check goes to
the older. A retraining is claimed in the hidden block before it is dispatched, the
issue is read back, and only the run whose claim is there dispatches it; a failed
dispatch gives the claim back, so the next run may try again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlgate.errors import ConfigError, MlgateError, ServiceError
from mlgate.report import github
from mlgate.report import monitor_issue as core
from mlgate.results.monitor import MonitorResult

log = logging.getLogger(__name__)

SCANNED = 300  # issues looked at per listing, at most
_RETRY = github.RetryPolicy()


@dataclass(frozen=True)
class Synced:
    """What the sync did: the issue's action, its number and link, and the retraining."""

    action: str  # "none", "created", "edited", "unchanged", "reopened" or "closed"
    number: int | None
    url: str | None
    claimed: core.Retrain | None = None  # claimed and left for `dispatch_claimed`
    dispatched: core.Retrain | None = None
    notes: tuple[str, ...] = ()


def sync(
    client: Any,
    repository: str,
    result: MonitorResult,
    policy: core.Policy,
    *,
    now: datetime,
    claim: str,
    run_url: str | None = None,
    dispatch: bool = True,
    retry: github.RetryPolicy = _RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> Synced:
    """Bring the model's issue up to date with `result`; start a due retraining (or, with
    `dispatch=False`, claim it for `dispatch_claimed` in a job that may start workflows)."""
    mine = _Mine(core.marker(result.model), github.own_login(client))
    repo = client.get_repo(repository)
    for _ in range(2):  # a second pass only after a race left a duplicate
        issue = _find(repo, mine, policy.labels)
        found = core.Found(
            number=issue.number if issue is not None else None,
            open=issue is not None and issue.state == "open",
            state=core.read_state(issue.body, result.model) if issue is not None else None,
        )
        plan = core.decide(found, result, policy, now, claim, run_url)
        for note in plan.notes:
            log.warning("%s", note)
        text = core.body(result, plan.state, policy)
        if plan.action == "none":
            return Synced("none", None, None, notes=plan.notes)
        if plan.action == "create":
            issue = _create(repo, mine, result.model, text, policy, retry, sleep)
            older = _older(repo, mine, policy.labels, issue)
            if older is not None:
                _close_duplicate(issue, older)
                continue
            action = "created"
        else:
            assert issue is not None
            action = _apply(issue, plan, text, policy)
        synced = Synced(action, issue.number, issue.html_url, notes=plan.notes)
        if plan.claim is None:
            return synced
        if not dispatch:
            return _replace(synced, claimed=plan.claim)
        done = _dispatch(repo, issue, result.model, plan.claim.claim, policy)
        return _replace(synced, dispatched=done)
    raise ServiceError(
        f"GitHub: another run keeps creating the monitor issue of {result.model}; rerun later"
    )


def dispatch_claimed(
    client: Any, repository: str, model: str, claim: str, policy: core.Policy
) -> core.Retrain | None:
    """Start the retraining this run's monitor job claimed on the model's issue; None when
    the claim is no longer there (another run's replaced it, or it was already started)."""
    mine = _Mine(core.marker(model), github.own_login(client))
    repo = client.get_repo(repository)
    issue = _find(repo, mine, policy.labels)
    if issue is None:
        return None
    return _dispatch(repo, issue, model, claim, policy)


# --- finding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mine:
    """What makes an issue mlgate's for this model: its first line, written by mlgate."""

    line: str
    author: str

    def on(self, issue: Any) -> bool:
        if getattr(issue, "pull_request", None) is not None:
            return False
        user = getattr(issue, "user", None)
        login = getattr(user, "login", None) if user is not None else None
        if login != self.author and not self._unnamed_bot(user):
            return False
        return (issue.body or "").startswith(self.line)

    def _unnamed_bot(self, user: Any) -> bool:
        # A token that may not read /user is taken for the Actions token; a GitHub App's
        # installation token cannot read it either, yet writes as `<app>[bot]`. Any app's
        # bot account then counts: only an installed app can write as one, never a person.
        return self.author == github.ACTIONS_BOT and getattr(user, "type", None) == "Bot"


def _listings(repo: Any, labels: tuple[str, ...]) -> Iterator[Any]:
    if labels:
        yield lambda: repo.get_issues(
            state="all", labels=[labels[0]], sort="created", direction="asc"
        )
    yield lambda: repo.get_issues(state="all", sort="updated", direction="desc")


def _find(repo: Any, mine: _Mine, labels: tuple[str, ...]) -> Any:
    """The oldest of mlgate's issues for the model, or None."""
    for listing in _listings(repo, labels):
        marked = _call(lambda: _marked(listing(), mine), "list the repository's issues")  # noqa: B023
        if marked:
            return min(marked, key=lambda issue: issue.number)
    return None


def _marked(issues: Any, mine: _Mine) -> list[Any]:
    found = []
    for index, issue in enumerate(issues):
        if index >= SCANNED:
            break
        if mine.on(issue):
            found.append(issue)
    return found


def _older(repo: Any, mine: _Mine, labels: tuple[str, ...], created: Any) -> Any:
    """After a create: an older issue of the model that another run made meanwhile."""
    try:
        oldest = _find(repo, mine, labels)
    except ServiceError as error:
        log.warning("could not look for a duplicate monitor issue (%s)", error)
        return None
    return oldest if oldest is not None and oldest.number < created.number else None


# --- writing ------------------------------------------------------------------------------


def _create(
    repo: Any,
    mine: _Mine,
    model: str,
    text: str,
    policy: core.Policy,
    retry: github.RetryPolicy,
    sleep: Callable[[float], None],
) -> Any:
    """Create the issue once: after a failed POST, look again before trying again."""
    started = time.monotonic()
    for attempt in range(1, retry.attempts + 1):
        try:
            return repo.create_issue(core.title(model), body=text, labels=list(policy.labels))
        except Exception as error:
            if not github.is_transport_error(error):
                raise
            log.warning("creating the monitor issue failed (%s); looking again", github.why(error))
            found = _find(repo, mine, policy.labels)
            if found is not None:
                return found  # the failed POST did create it; the next run edits it
            status = github._status(error)
            wait = min(
                retry.max_wait, github._retry_after(error) or retry.backoff * 2 ** (attempt - 1)
            )
            final = status in github.FINAL_STATUSES or (
                status == 403 and not github._rate_limited(error)
            )
            if (
                final
                or attempt == retry.attempts
                or time.monotonic() + wait - started > retry.deadline
            ):
                raise ServiceError(
                    f"GitHub: could not create the monitor issue ({github.why(error)})"
                    + _HINTS.get(status or 0, "")
                ) from None
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def _close_duplicate(duplicate: Any, older: Any) -> None:
    log.warning("another run created monitor issue #%s at the same time", older.number)
    # Closed first: a duplicate left open by a failed close would stay open for good (every
    # later run keeps to the older issue), a missing comment harms no one.
    _call(
        lambda: duplicate.edit(state="closed", state_reason="not_planned"),
        f"close issue #{duplicate.number}",
    )
    try:
        _call(
            lambda: duplicate.create_comment(f"mlgate: duplicate of #{older.number}; closed."),
            f"comment on issue #{duplicate.number}",
        )
    except ServiceError as error:
        log.warning("%s", error)


def _apply(issue: Any, plan: core.Plan, text: str, policy: core.Policy) -> str:
    number = issue.number
    changes: dict[str, str] = {"body": text} if issue.body != text else {}
    if plan.action == "reopen":
        changes["state"] = "open"
    elif plan.action == "close":
        changes.update(state="closed", state_reason="completed")
    if not changes:
        return "unchanged"
    # The body and the state it describes change in one request, the comment after it: a
    # failure leaves the issue as it was (the rerun does it all once) or changed without
    # its comment, never commented but still open for a rerun to comment again.
    _call(lambda: issue.edit(**changes), f"{_VERBS[plan.action]} issue #{number}")
    if plan.state.history and plan.state.history[-1].bad:
        _label(issue, policy.labels)
    if plan.comment:
        comment = plan.comment
        _call(lambda: issue.create_comment(comment), f"comment on issue #{number}")
    return {"reopen": "reopened", "close": "closed"}.get(plan.action, "edited")


_VERBS = {"reopen": "reopen", "close": "close", "edit": "edit"}


def _label(issue: Any, labels: tuple[str, ...]) -> None:
    present = {label.name for label in getattr(issue, "labels", []) or []}
    missing = [name for name in labels if name not in present]
    if missing:
        _call(lambda: issue.add_to_labels(*missing), f"label issue #{issue.number}")


# --- retraining ---------------------------------------------------------------------------


def _dispatch(
    repo: Any, issue: Any, model: str, claim: str, policy: core.Policy
) -> core.Retrain | None:
    """Dispatch the retraining `claim` names if the issue still holds that claim."""
    number = issue.number
    fresh = _call(lambda: repo.get_issue(number), f"read issue #{number}")
    state = core.read_state(fresh.body, model)
    retrain = state.retrain if state is not None else None
    if state is None or retrain is None or retrain.claim != claim or retrain.status != "claimed":
        log.warning("the retraining claim on issue #%s is another run's; not starting it", number)
        return None
    if retrain.workflow != policy.retrain_workflow:
        # Whoever may edit the issue may edit its hidden block: only the workflow the
        # config names is ever started.
        log.warning(
            "the retraining claim on issue #%s names another workflow than "
            "monitoring.retrain_workflow; not starting it",
            number,
        )
        return None
    ref = _call(lambda: repo.default_branch, "read the repository's default branch")
    try:
        workflow = repo.get_workflow(retrain.workflow)
        workflow.create_dispatch(ref, inputs={"reason": retrain.reason}, throw=True)
    except Exception as error:
        if not github.is_transport_error(error):
            raise
        back = core.restated(fresh.body, core.released(state, claim), policy)
        try:
            _call(lambda: fresh.edit(body=back), f"edit issue #{number}")
        except ServiceError as undone:
            log.warning("could not give the retraining claim back (%s)", undone)
        raise _dispatch_failed(retrain.workflow, ref, error) from None
    state = core.dispatched(state, claim, ref)
    text = core.restated(fresh.body, state, policy)
    try:
        _call(lambda: fresh.edit(body=text), f"edit issue #{number}")
    except ServiceError as error:  # started; the claim still holds it back for an hour
        log.warning("the retraining started but issue #%s was not updated (%s)", number, error)
    assert state.retrain is not None
    return state.retrain


def _dispatch_failed(workflow: str, ref: str, error: Exception) -> MlgateError:
    status = github._status(error)
    why = github.why(error)
    hint = {
        401: "check GITHUB_TOKEN",
        403: "the job needs `actions: write`",
        404: f"check monitoring.retrain_workflow: no workflow {workflow} on {ref}",
        422: f"{workflow} needs `on: workflow_dispatch` with an input named `reason`",
    }.get(status or 0, "rerun the job when GitHub is back")
    message = f"GitHub: could not start the retraining workflow {workflow} on {ref} ({why}); {hint}"
    # No such workflow, or one that takes no `reason`: the config or the workflow file is
    # wrong (exit 2), and a rerun would fail the same way.
    return ConfigError(message) if status in (404, 422) else ServiceError(message)


_HINTS = {
    401: "; check GITHUB_TOKEN",
    403: "; the job needs `issues: write`",
    404: "; check GITHUB_REPOSITORY",
    410: "; issues are turned off in this repository",
}


def _call(action: Callable[[], Any], what: str) -> Any:
    """`action()`, with GitHub's and the network's errors as one ServiceError naming `what`."""
    try:
        return action()
    except Exception as error:
        if not github.is_transport_error(error):
            raise
        hint = _HINTS.get(github._status(error) or 0, "")
        raise ServiceError(f"GitHub: could not {what} ({github.why(error)}){hint}") from None


def _replace(synced: Synced, **changes: Any) -> Synced:
    from dataclasses import replace

    return replace(synced, **changes)
