"""Issues, labels and workflow dispatches for the GitHub fake (tests/github_fake.py).

`add_issue_routes(fake)` registers the handlers: create, get, edit (title, body, state,
state_reason, labels) and list issues (state, labels, sort, direction, pages), add
labels, list and create comments on an issue, and `POST .../actions/workflows/ID/
dispatches`. Issues live in `fake.state["issues"]` (number -> issue with `_edits`),
their comments in `fake.comments` like a pull request's; dispatches are appended to
`fake.state["dispatches"]`. A workflow must be declared with `add_workflow(fake, file,
inputs)` to be dispatched: an unknown file is a 404, an undeclared input a 422, as on
GitHub. Pull request numbers keep the base fake's handlers.

Responses are the OpenAPI description's own examples with the fields that matter
changed, so Prism's proxy checks them against GitHub's contract like every other route.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import github_fake
from github_fake import FakeGitHub, Request, Response

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_SPEC_ISSUES = "/repos/{owner}/{repo}/issues"
_SPEC_ISSUE = "/repos/{owner}/{repo}/issues/{issue_number}"
_SPEC_LABELS = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
FIRST_NUMBER = 9001  # apart from the pull request numbers the other tests use


def add_issue_routes(fake: FakeGitHub) -> None:
    fake.route("GET", _REPO + r"/issues", _list_issues)
    fake.route("POST", _REPO + r"/issues", _create_issue)
    fake.route("GET", _REPO + r"/issues/(?P<number>\d+)", _get_issue)
    fake.route("PATCH", _REPO + r"/issues/(?P<number>\d+)", _edit_issue)
    fake.route("POST", _REPO + r"/issues/(?P<number>\d+)/labels", _add_labels)
    fake.route("GET", _REPO + r"/issues/(?P<number>\d+)/comments", _list_comments)
    fake.route("POST", _REPO + r"/issues/(?P<number>\d+)/comments", _create_comment)
    fake.route("POST", _REPO + r"/actions/workflows/(?P<workflow>[^/]+)/dispatches", _dispatch)


def issues(fake: FakeGitHub, repository: str | None = None) -> list[dict[str, Any]]:
    """The issues of `repository` (OWNER/NAME; all when None), oldest first."""
    found = fake.state.setdefault("issues", {}).values()
    chosen = [i for i in found if repository is None or i["_repo"] == repository]
    return sorted(chosen, key=lambda i: i["number"])


def dispatches(fake: FakeGitHub) -> list[dict[str, Any]]:
    return list(fake.state.setdefault("dispatches", []))


def add_workflow(fake: FakeGitHub, file: str, inputs: tuple[str, ...] = ("reason",)) -> None:
    """A workflow of the repository with `on: workflow_dispatch` and these inputs."""
    fake.state.setdefault("workflows", {})[file] = tuple(inputs)


def add_issue(
    fake: FakeGitHub, repository: str, title: str, body: str, login: str
) -> dict[str, Any]:
    """An issue in `repository` written by `login` (someone else than mlgate)."""
    owner, repo = repository.split("/")
    token = f"token-of-{login}"
    fake.add_user(token, login)
    request = Request(
        "POST",
        f"/repos/{repository}/issues",
        {},
        {"Authorization": f"token {token}"},
        {"title": title, "body": body},
        {"owner": owner, "repo": repo},
    )
    response = _create_issue(fake, request)
    return fake.state["issues"][response.body["number"]]


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def _store(fake: FakeGitHub) -> dict[int, dict[str, Any]]:
    return fake.state.setdefault("issues", {})


def _invalid(message: str, resource: str = "Issue") -> Response:
    return Response(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest",
        },
    )


def _label(fake: FakeGitHub, template: dict[str, Any], base: str, name: str) -> dict[str, Any]:
    labels = fake.state.setdefault("labels", {})
    if name not in labels:
        label = copy.deepcopy(template)
        number = fake.next_id()
        label.update(
            id=number,
            node_id=f"LA_{number}",
            url=f"{base}/labels/{name}",
            name=name,
            description=None,
            color="ededed",
            default=False,
        )
        labels[name] = label
    return copy.deepcopy(labels[name])


def _label_names(given: Any) -> list[str] | None:
    if not isinstance(given, list):
        return None
    names = [item if isinstance(item, str) else item.get("name") for item in given]
    return names if all(isinstance(name, str) and name for name in names) else None


def _create_issue(fake: FakeGitHub, request: Request) -> Response:
    body = request.json if isinstance(request.json, dict) else {}
    if not isinstance(body.get("title"), str) or not body["title"]:
        return _invalid("title is required")
    text = body.get("body")
    if text is not None and (not isinstance(text, str) or len(text) > 65536):
        return _invalid("body is too long (maximum is 65536 characters)")
    names = _label_names(body.get("labels", []))
    if names is None:
        return _invalid("labels must be names")
    store = _store(fake)
    number = max([FIRST_NUMBER - 1, *store]) + 1
    issue = fake.example(_SPEC_ISSUES, "post", "201")
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    template = issue["labels"][0]
    stamp = _stamp()
    issue.pop("pull_request", None)
    issue.update(
        id=fake.next_id(),
        node_id=f"I_{number}",
        url=f"{base}/issues/{number}",
        repository_url=base,
        labels_url=f"{base}/issues/{number}/labels{{/name}}",
        comments_url=f"{base}/issues/{number}/comments",
        events_url=f"{base}/issues/{number}/events",
        html_url=f"https://github.com/{request.params['owner']}/{request.params['repo']}/issues/{number}",
        number=number,
        state="open",
        state_reason=None,
        title=body["title"],
        body=text,
        user=fake.author(request),
        labels=[_label(fake, template, base, name) for name in dict.fromkeys(names)],
        assignee=None,
        assignees=[],
        milestone=None,
        comments=0,
        closed_at=None,
        closed_by=None,
        created_at=stamp,
        updated_at=stamp,
        _edits=0,
        _template=template,
        _repo=f"{request.params['owner']}/{request.params['repo']}",
    )
    store[number] = issue
    return Response(201, _public(issue), {"Location": issue["url"]})


def _issue(fake: FakeGitHub, request: Request) -> dict[str, Any] | None:
    return _store(fake).get(int(request.params["number"]))


def _get_issue(fake: FakeGitHub, request: Request) -> Response:
    issue = _issue(fake, request)
    if issue is None:
        return github_fake._get_issue(fake, request)  # a pull request's issue
    return Response(200, _public(issue))


def _edit_issue(fake: FakeGitHub, request: Request) -> Response:
    issue = _issue(fake, request)
    if issue is None:
        return github_fake._not_found()
    body = request.json if isinstance(request.json, dict) else {}
    if "body" in body and (not isinstance(body["body"], str) or len(body["body"]) > 65536):
        return _invalid("body is too long (maximum is 65536 characters)")
    if body.get("state") not in (None, "open", "closed"):
        return _invalid("state must be open or closed")
    if body.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
        return _invalid("state_reason is not one of completed, not_planned, reopened")
    if "labels" in body:
        names = _label_names(body["labels"])
        if names is None:
            return _invalid("labels must be names")
        base = issue["repository_url"]
        issue["labels"] = [_label(fake, issue["_template"], base, n) for n in names]
    for key in ("title", "body"):
        if key in body:
            issue[key] = body[key]
    stamp = _stamp()
    state = body.get("state")
    if state == "closed" and issue["state"] == "open":
        issue.update(
            state="closed",
            state_reason=body.get("state_reason") or "completed",
            closed_at=stamp,
            closed_by=fake.author(request),
        )
    elif state == "open" and issue["state"] == "closed":
        issue.update(state="open", state_reason="reopened", closed_at=None, closed_by=None)
    issue.update(updated_at=stamp, _edits=issue["_edits"] + 1)
    return Response(200, _public(issue))


def _list_issues(fake: FakeGitHub, request: Request) -> Response:
    state = request.query.get("state", ["open"])[0]
    wanted = [n for n in request.query.get("labels", [""])[0].split(",") if n]
    repository = f"{request.params['owner']}/{request.params['repo']}"
    found = [
        i
        for i in _store(fake).values()
        if i["_repo"] == repository
        and (state == "all" or i["state"] == state)
        and all(name in {label["name"] for label in i["labels"]} for name in wanted)
    ]
    key = "updated_at" if request.query.get("sort", ["created"])[0] == "updated" else "created_at"
    descending = request.query.get("direction", ["desc"])[0] == "desc"
    found.sort(key=lambda i: (i[key], i["number"]), reverse=descending)
    per_page = int(request.query.get("per_page", ["30"])[0])
    page = int(request.query.get("page", ["1"])[0])
    chunk = found[(page - 1) * per_page : page * per_page]
    headers = {}
    if page * per_page < len(found):
        query = "&".join(
            f"{name}={values[0]}" for name, values in request.query.items() if name != "page"
        )
        base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
        headers["Link"] = f'<{base}/issues?{query}&page={page + 1}>; rel="next"'
    return Response(200, [_public(i) for i in chunk], headers)


def _add_labels(fake: FakeGitHub, request: Request) -> Response:
    issue = _issue(fake, request)
    if issue is None:
        return github_fake._not_found()
    given = request.json.get("labels") if isinstance(request.json, dict) else request.json
    names = _label_names(given)
    if not names:
        return _invalid("labels must be a non-empty list of names", "Label")
    present = [label["name"] for label in issue["labels"]]
    for name in names:
        if name not in present:
            issue["labels"].append(_label(fake, issue["_template"], issue["repository_url"], name))
            present.append(name)
    issue.update(updated_at=_stamp(), _edits=issue["_edits"])
    return Response(200, copy.deepcopy(issue["labels"]))


def _list_comments(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    if number not in _store(fake):
        return github_fake._list_comments(fake, request)
    comments = sorted(fake.comments_on(number), key=lambda c: c["id"])
    return Response(200, [github_fake._public(c) for c in comments])


def _create_comment(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    issue = _store(fake).get(number)
    if issue is None:
        return github_fake._create_comment(fake, request)
    # The base handler answers for pull request numbers: let it see this issue as one.
    fake.pulls[number] = {"head_sha": "0" * 40, "owner": "", "repo": "", "_issue": True}
    try:
        response = github_fake._create_comment(fake, request)
    finally:
        del fake.pulls[number]
    if response.status == 201:
        issue["comments"] += 1
    return response


def _dispatch(fake: FakeGitHub, request: Request) -> Response:
    workflow = request.params["workflow"]
    declared = fake.state.setdefault("workflows", {}).get(workflow)
    if declared is None:
        return github_fake._not_found()
    body = request.json if isinstance(request.json, dict) else {}
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        return _invalid("ref is required", "Workflow")
    inputs = body.get("inputs") or {}
    unexpected = sorted(set(inputs) - set(declared))
    if unexpected:
        return Response(
            422,
            {
                "message": f"Unexpected inputs provided: {unexpected}",
                "documentation_url": "https://docs.github.com/rest",
            },
        )
    fake.state.setdefault("dispatches", []).append(
        {
            "workflow": workflow,
            "ref": ref,
            "inputs": dict(inputs),
            "at": _stamp(),
            "repository": f"{request.params['owner']}/{request.params['repo']}",
        }
    )
    return Response(204)
