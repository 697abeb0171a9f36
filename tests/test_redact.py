"""URLs shown in logs, reports and tags carry no credentials (mlgate._redact)."""

from __future__ import annotations

import pytest

from mlgate._redact import without_credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("https://mlflow.example.com", "https://mlflow.example.com", id="plain"),
        pytest.param("https://u:pw@host:5000/x", "https://host:5000/x", id="user-password"),
        pytest.param("https://u:p@ss@host/", "https://host/", id="at-in-password"),
        pytest.param("https://tok@github.com/o/r.git", "https://github.com/o/r.git", id="token"),
        pytest.param(
            "https://host/api?token=abc&run=1", "https://host/api?token=***&run=1", id="query"
        ),
        pytest.param(
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=s1g&X-Amz-Credential=c",
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Credential=***",
            id="presigned",
        ),
        pytest.param("sqlite:////tmp/a@b/mlflow.db", "sqlite:////tmp/a@b/mlflow.db", id="sqlite"),
        pytest.param("git@github.com:o/r.git", "git@github.com:o/r.git", id="scp-like"),
    ],
)
def test_credentials_never_shown(url: str, shown: str) -> None:
    assert without_credentials(url) == shown
    for secret in ("pw", "p@ss", "tok@", "abc", "s1g"):
        if secret in url and secret not in shown:
            assert secret not in without_credentials(url)
