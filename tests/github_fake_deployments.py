"""Deployments for the GitHub fake (tests/github_fake.py): create, add a status, list.

`add_deployment_routes(fake)` registers the handlers; deployments and their statuses
are kept in `fake.state["deployments"]` (id → deployment with `_statuses`). Responses
are the OpenAPI description's own examples with the fields that matter changed, so
Prism's proxy checks them against GitHub's contract like every other route.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from github_fake import FakeGitHub, Request, Response

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_SPEC_DEPLOYMENTS = "/repos/{owner}/{repo}/deployments"
_SPEC_STATUSES = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"


def add_deployment_routes(fake: FakeGitHub) -> None:
    fake.route("POST", _REPO + r"/deployments", _create_deployment)
    fake.route("GET", _REPO + r"/deployments", _list_deployments)
    fake.route("POST", _REPO + r"/deployments/(?P<id>\d+)/statuses", _create_status)
    fake.route("GET", _REPO + r"/deployments/(?P<id>\d+)/statuses", _list_statuses)


def deployments(fake: FakeGitHub) -> list[dict[str, Any]]:
    return list(fake.state.setdefault("deployments", {}).values())


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def _invalid(message: str) -> Response:
    return Response(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Deployment", "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest",
        },
    )


def _create_deployment(fake: FakeGitHub, request: Request) -> Response:
    body = request.json if isinstance(request.json, dict) else {}
    if not isinstance(body.get("ref"), str) or not body["ref"]:
        return _invalid("ref is required")
    deployment = fake.example(_SPEC_DEPLOYMENTS, "post", "201")
    number = fake.next_id()
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    stamp = _stamp()
    deployment.update(
        id=number,
        node_id=f"DE_{number}",
        url=f"{base}/deployments/{number}",
        statuses_url=f"{base}/deployments/{number}/statuses",
        repository_url=base,
        ref=body["ref"],
        sha=body["ref"] if len(body["ref"]) == 40 else "0" * 40,
        task=body.get("task", "deploy"),
        payload=body.get("payload", {}),
        environment=body.get("environment", "production"),
        original_environment=body.get("environment", "production"),
        description=body.get("description"),
        transient_environment=body.get("transient_environment", False),
        production_environment=body.get("production_environment", False),
        created_at=stamp,
        updated_at=stamp,
        _statuses=[],
        _request=body,
    )
    fake.state.setdefault("deployments", {})[number] = deployment
    return Response(201, _public(deployment))


def _list_deployments(fake: FakeGitHub, request: Request) -> Response:
    environment = request.query.get("environment", [None])[0]
    found = [
        _public(d)
        for d in deployments(fake)
        if environment is None or d["environment"] == environment
    ]
    return Response(200, sorted(found, key=lambda d: -d["id"]))


def _create_status(fake: FakeGitHub, request: Request) -> Response:
    deployment = fake.state.get("deployments", {}).get(int(request.params["id"]))
    if deployment is None:
        return Response(404, {"message": "Not Found", "documentation_url": "https://x.invalid"})
    body = request.json if isinstance(request.json, dict) else {}
    status = fake.example(_SPEC_STATUSES, "post", "201")
    number = fake.next_id()
    stamp = _stamp()
    status.update(
        id=number,
        node_id=f"DES_{number}",
        url=f"{deployment['url']}/statuses/{number}",
        deployment_url=deployment["url"],
        repository_url=deployment["repository_url"],
        state=body.get("state", "pending"),
        description=body.get("description", ""),
        environment=body.get("environment", deployment["environment"]),
        created_at=stamp,
        updated_at=stamp,
    )
    # URLs the request gave; the others keep the example's (GitHub's own shape).
    for name in ("target_url", "log_url", "environment_url"):
        if isinstance(body.get(name), str):
            status[name] = body[name]
    deployment["_statuses"].append(status)
    return Response(201, status)


def _list_statuses(fake: FakeGitHub, request: Request) -> Response:
    deployment = fake.state.get("deployments", {}).get(int(request.params["id"]))
    if deployment is None:
        return Response(404, {"message": "Not Found", "documentation_url": "https://x.invalid"})
    return Response(200, list(reversed(deployment["_statuses"])))
