"""Pull requests of a commit and their reviews for the GitHub fake (tests/github_fake.py).

`add_review_routes(fake)` registers the handlers; `merge_pull(fake, ...)` records a merged
pull request holding a commit, with its reviews. A commit no pull request holds lists
none, as GitHub answers. Responses are the OpenAPI description's examples with the
fields that matter changed, so Prism checks them against GitHub's contract.
"""

from __future__ import annotations

from typing import Any

from github_fake import FakeGitHub, Request, Response

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_SPEC_COMMIT_PULLS = "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"
_SPEC_REVIEWS = "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"


def add_review_routes(fake: FakeGitHub) -> None:
    fake.route("GET", _REPO + r"/commits/(?P<sha>[0-9a-f]{7,40})/pulls", _commit_pulls)
    fake.route("GET", _REPO + r"/pulls/(?P<number>\d+)/reviews", _reviews)


def merge_pull(
    fake: FakeGitHub, *, sha: str, number: int, author: str, reviews: list[tuple[str, str]]
) -> None:
    """Pull request `number` by `author`, merged with commit `sha`; reviews: (login, STATE)."""
    fake.state.setdefault("merged_pulls", {})[number] = {
        "sha": sha,
        "author": author,
        "reviews": list(reviews),
    }


def _user(fake: FakeGitHub, login: str) -> dict[str, Any]:
    user = fake.example("/user", "get")
    user.update(login=login, id=1000 + sum(login.encode()), type="User")
    return user


def _commit_pulls(fake: FakeGitHub, request: Request) -> Response:
    found = []
    for number, pull in sorted(fake.state.get("merged_pulls", {}).items()):
        if pull["sha"] != request.params["sha"]:
            continue
        example = fake.example(_SPEC_COMMIT_PULLS, "get")[0]
        example.update(
            number=number,
            state="closed",
            merged_at="2026-12-01T10:00:00Z",
            closed_at="2026-12-01T10:00:00Z",
            merge_commit_sha=pull["sha"],
            user={**example["user"], "login": pull["author"]},
        )
        found.append(example)
    return Response(200, found)


def _reviews(fake: FakeGitHub, request: Request) -> Response:
    pull = fake.state.get("merged_pulls", {}).get(int(request.params["number"]))
    if pull is None:
        return Response(200, [])
    reviews = []
    for index, (login, state) in enumerate(pull["reviews"]):
        example = fake.example(_SPEC_REVIEWS, "get")[0]
        example.update(id=fake.next_id(), state=state, user={**example["user"], "login": login})
        example["submitted_at"] = f"2026-12-01T09:{index:02d}:00Z"
        reviews.append(example)
    return Response(200, reviews)
