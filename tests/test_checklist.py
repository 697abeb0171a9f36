"""The pre-deployment checklist: boxes ticked from evidence only, in the run's card and report.

Promotion's side (the version's tags, the GitHub review, promotion.require_checklist)
is tested against the MLflow server of tests/test_promotion.py.
"""

from __future__ import annotations

import subprocess
import typing

import pytest
import yaml

from mlgate import checklist
from mlgate._reviews import approvers
from mlgate.checklist import Facts, Review, tick
from mlgate.config import PromotionSection
from mlgate.errors import ServiceError

FULL = Facts(
    commit="6dcb09b5b57875f334f61aebed695e2e4193db5e",
    dirty=False,
    review=Review(number=12, approvers=("alice",)),
    training_uri="s3://data/train.csv",
    training_sha256="a" * 64,
    training_version_id="v3",
    requirements=("scikit-learn==1.9.1", "pandas==3.1.1"),
    metrics=("roc_auc", "accuracy"),
    held_out=True,
    sensitive_features=("gender",),
    fairness_verdict="passed",
    image="registry.example/churn@sha256:" + "b" * 64,
    version="4",
    previous_production="3",
)


def _boxes(facts: Facts) -> dict[str, checklist.ChecklistBox]:
    return {box.key: box for box in tick(facts)}


def test_every_box_is_ticked_only_from_evidence() -> None:
    nothing = tick(Facts())
    assert [box.key for box in nothing] == list(checklist.KEYS)
    assert not any(box.ticked for box in nothing)
    assert all(box.evidence for box in nothing)  # each says why not
    full = _boxes(FULL)
    assert all(box.ticked for box in full.values())
    assert "approved by alice" in full["code"].evidence
    assert "S3 version v3" in full["data"].evidence
    assert full["rollback"].evidence.startswith("roll back to version 3")
    from dataclasses import replace

    dvc = _boxes(
        replace(FULL, training_sha256=None, training_version_id=None, training_dvc_md5="c" * 32)
    )
    assert dvc["data"].ticked
    assert dvc["data"].evidence == f"s3://data/train.csv (DVC md5 {'c' * 32})"


@pytest.mark.parametrize(
    ("change", "box", "why"),
    [
        ({"dirty": True}, "code", "uncommitted changes"),
        ({"review": None, "review_unknown": "no token"}, "code", "review not found: no token"),
        ({"review": Review(number=12, approvers=())}, "code", "without an approving review"),
        ({"training_sha256": None, "training_version_id": None}, "data", "no hash"),
        ({"requirements": ("scikit-learn",)}, "dependencies", "not pinned: scikit-learn"),
        ({"requirements": None}, "dependencies", "logged when it is registered"),
        ({"held_out": False}, "evaluation", "on the training data"),
        ({"sensitive_features": ()}, "bias", "no sensitive feature"),
        ({"image": "registry.example/churn:latest"}, "environment", "not pinned by digest"),
        ({"version": None}, "registry", "not registered"),
        ({"previous_production": None}, "rollback", "no earlier production version"),
    ],
)
def test_missing_evidence_leaves_its_box_unticked(
    change: dict[str, typing.Any], box: str, why: str
) -> None:
    from dataclasses import replace

    boxes = _boxes(replace(FULL, **change))
    assert not boxes[box].ticked
    assert why in boxes[box].evidence
    assert all(b.ticked for key, b in boxes.items() if key != box)


def test_registration_ticks_its_boxes_and_no_rollback_to_the_version_itself() -> None:
    from mlgate.card.checklist import run_facts, with_registration

    before = tick(
        run_facts({}, commit=None, dirty=None, review=None, review_unknown="", image=None)
    )
    before = tuple(
        box if box.key != "rollback" else _boxes(FULL)["rollback"] for box in before
    )  # the champion the run compared with was version 3
    after = {
        box.key: box
        for box in with_registration(
            before, version="4", requirements=["scikit-learn==1.9.1"], champion="3"
        )
        or ()
    }
    assert after["registry"].ticked
    assert after["registry"].evidence == "version 4"
    assert after["dependencies"].ticked
    assert after["rollback"].ticked  # version 3 stays to roll back to
    # The same inputs registered again: the version is the champion itself.
    again = {
        box.key: box
        for box in with_registration(before, version="3", requirements=[], champion="3") or ()
    }
    assert not again["rollback"].ticked
    assert not again["dependencies"].ticked  # logged without requirements


def test_the_latest_review_of_each_reviewer_counts_and_the_author_does_not() -> None:
    reviews = [
        {"user": {"login": "alice"}, "state": "APPROVED"},
        {"user": {"login": "bob"}, "state": "APPROVED"},
        {"user": {"login": "bob"}, "state": "CHANGES_REQUESTED"},
        {"user": {"login": "carol"}, "state": "COMMENTED"},
        {"user": {"login": "dave"}, "state": "APPROVED"},
    ]
    assert approvers(reviews, author="dave") == ("alice",)


def test_the_config_names_exactly_the_checklists_boxes() -> None:
    (allowed,) = {
        typing.get_args(arg)
        for arg in typing.get_args(PromotionSection.model_fields["require_checklist"].annotation)
    }
    assert allowed == checklist.KEYS


@pytest.mark.slow
def test_a_real_runs_card_and_report_show_the_checklist_with_honest_gaps(churn_repo, cli) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
            cwd=churn_repo,
            check=True,
            capture_output=True,
        )

    config = churn_repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["model"]["params"].update(n_estimators=40, max_depth=3)
    data.setdefault("evaluation", {}).update(noise_aware=False, bootstrap={"n": 50})
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "model")

    ran = cli("run", str(churn_repo), "--json")
    assert ran.code == 0, ran.err
    reported = cli("report", str(churn_repo), "--no-comment")
    assert reported.code == 0, reported.err

    runs = churn_repo / ".mlgate" / "runs"
    run_dir = runs / (runs / "LATEST").read_text().strip()
    card = (run_dir / "model_card.md").read_text(encoding="utf-8")
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    section = card.split("## Pre-deployment checklist", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("- [")]
    assert len(lines) == 8
    ticked = {line.split("] ", 1)[1].split(":", 1)[0] for line in lines if line.startswith("- [x]")}
    # Registered locally with its pins and figures; no review, no image, nothing to roll back to.
    assert ticked == {
        "Training data versioned and its location logged",
        "Dependencies pinned \\(the model's requirements logged\\)",
        "Evaluated on held-out data, metrics logged",
        "Tested for bias on the sensitive features",
        "Logged in the model registry with a unique version",
    }
    assert "review not found: not looked up without GITHUB\\_TOKEN" in section
    assert "Pre-deployment checklist (5 of 8)" in report
    assert "- [ ] Training environment captured in a Docker image" in report


@pytest.fixture
def github_answering(monkeypatch: pytest.MonkeyPatch):
    """A loopback server in place of GitHub's API that answers each request with `answer`
    (status, body), or never answers when `answer` is None."""
    import http.server
    import json
    import threading

    state: dict[str, typing.Any] = {"answer": None}
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if state["answer"] is None:
                release.wait(30)  # a GitHub that never answers
                return
            status, body = state["answer"]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: typing.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_reviewLookupTestToken0123456789")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    state["port"] = server.server_address[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{state['port']}")
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_the_review_lookup_never_fails_or_hangs(github_answering, monkeypatch) -> None:
    """Whatever GitHub answers (an error, nonsense, nothing at all), the lookup says why
    and the box stays unticked: a run or a promotion is never stopped by it."""
    import time

    from mlgate import _reviews

    commit = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    github_answering["answer"] = (200, [{"merged_at": "2026-12-01T10:00:00Z"}])  # no number
    assert _reviews.find_review(commit) == (
        None,
        "the lookup failed (KeyError); check GITHUB_API_URL",
    )
    github_answering["answer"] = (200, [{"number": 3, "merged_at": None}])  # open, not merged
    assert _reviews.find_review(commit) == (
        None,
        "no merged pull request contains commit 6dcb09b5b578 yet",
    )
    github_answering["answer"] = (200, {"message": "not a list"})
    assert _reviews.find_review(commit) == (
        None,
        "no merged pull request contains commit 6dcb09b5b578 yet",
    )
    github_answering["answer"] = (403, {"message": "Resource not accessible by integration"})
    assert _reviews.find_review(commit) == (
        None,
        "GitHub could not say (HTTP 403: Resource not accessible by integration)",
    )
    # Unless promotion.require_checklist needs the code box: GitHub failed, exit 3.
    with pytest.raises(
        ServiceError, match=r"GitHub could not say who reviewed commit 6dcb09b5b578"
    ):
        _reviews.find_review(commit, required=True)
    monkeypatch.setenv("GITHUB_API_URL", "http://[::1")  # not a URL
    assert _reviews.find_review(commit) == (
        None,
        "the lookup failed (ValueError); check GITHUB_API_URL",
    )
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{github_answering['port']}")
    # A GitHub that never answers: one try, bounded by the timeout, then why.
    monkeypatch.setattr(_reviews, "_TIMEOUT", 2)
    github_answering["answer"] = None
    started = time.monotonic()
    review, why = _reviews.find_review(commit)
    assert time.monotonic() - started < 3.5
    assert review is None
    assert why.startswith("GitHub could not say (")
