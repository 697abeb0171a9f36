"""s3:// data sources against a real S3 server (moto on loopback), with faults injected.

The CLI runs in-process with AWS_ENDPOINT_URL_S3 pointing at the server (or at a
FaultProxy in front of it, which also counts the requests that reach S3).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import MOTO_REGION, S3Bucket, _free_port, s3_client, start_moto_server
from faultproxy import Fault, FaultProxy
from mlgate import _s3 as s3

TRAIN_KEY = "churn/train.csv"
VALIDATION_KEY = "churn/validation.csv"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _use_s3(repo: Path, training: str, validation: str, fast_model: bool = False) -> None:
    config = repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["data"]["training_data_path"] = training
    data["data"]["validation_data_path"] = validation
    if fast_model:
        data["model"]["params"] = {"n_estimators": 40, "learning_rate": 0.2, "max_depth": 3}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _upload_example(repo: Path, bucket: S3Bucket) -> dict[str, str]:
    """Both example tables into the bucket; returns their version ids by role."""
    return {
        "training": bucket.put(TRAIN_KEY, repo / "data" / "train.csv"),
        "validation": bucket.put(VALIDATION_KEY, repo / "data" / "validation.csv"),
    }


def _latest_result(repo: Path, stage: str) -> dict:
    runs = repo / ".mlgate" / "runs"
    latest = (runs / "LATEST").read_text().strip()
    return json.loads((runs / latest / f"{stage}.json").read_text())


def _cache_files(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / ".mlgate" / "cache" / "s3").rglob("*") if p.is_file())


def _etag(bucket: S3Bucket, key: str) -> str:
    return bucket.client.head_object(Bucket=bucket.name, Key=key)["ETag"].strip('"')


@pytest.fixture
def s3_repo(churn_repo: Path, s3_bucket: S3Bucket, s3_env: str) -> Path:
    """The example repo reading both tables from a versioned bucket."""
    _upload_example(churn_repo, s3_bucket)
    _use_s3(churn_repo, s3_bucket.uri(TRAIN_KEY), s3_bucket.uri(VALIDATION_KEY))
    return churn_repo


@pytest.fixture
def proxy(s3_server: str, monkeypatch: pytest.MonkeyPatch, s3_env: str):
    """A FaultProxy in front of the S3 server, which mlgate talks to instead."""
    with FaultProxy(s3_server) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
        yield fault_proxy


# --- lineage ----------------------------------------------------------------------------


@pytest.mark.slow
def test_run_records_version_etag_and_sha256(
    churn_repo: Path, s3_bucket: S3Bucket, s3_env: str, cli
) -> None:
    versions = _upload_example(churn_repo, s3_bucket)
    _use_s3(churn_repo, s3_bucket.uri(TRAIN_KEY), s3_bucket.uri(VALIDATION_KEY), fast_model=True)

    result = cli("run", cwd=churn_repo)

    assert result.code == 0, result.err
    files = _latest_result(churn_repo, "validate")["files"]
    tags = _registered_tags(churn_repo)
    for role, key, local in (
        ("training", TRAIN_KEY, "train.csv"),
        ("validation", VALIDATION_KEY, "validation.csv"),
    ):
        expected = {
            "uri": s3_bucket.uri(key),
            "version_id": versions[role],
            "etag": _etag(s3_bucket, key),
            "sha256": _sha256((churn_repo / "data" / local).read_bytes()),
        }
        assert {name: files[role][name] for name in expected} == expected
        assert {name: tags[f"mlgate.data.{role}.{name}"] for name in expected} == expected


def _registered_tags(repo: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")
    [version] = client.search_model_versions("name = 'production-churn-model'")
    return version.tags


def test_local_data_records_no_s3_fields(churn_repo: Path, cli) -> None:
    result = cli("validate", cwd=churn_repo)

    assert result.code == 0, result.err
    training = _latest_result(churn_repo, "validate")["files"]["training"]
    assert training["uri"].endswith("data/train.csv")
    assert "version_id" not in training
    assert "etag" not in training


# --- the cache --------------------------------------------------------------------------


@pytest.mark.slow
def test_second_run_is_served_from_the_cache(
    s3_repo: Path, s3_bucket: S3Bucket, proxy: FaultProxy, cli
) -> None:
    first = cli("validate", cwd=s3_repo)
    assert first.code == 0, first.err
    assert (proxy.count("HEAD"), proxy.count("GET")) == (2, 2)
    cached = {path: path.stat() for path in _cache_files(s3_repo)}
    assert len(cached) == 4  # each object and its record
    first_files = _latest_result(s3_repo, "validate")["files"]
    proxy.clear()

    second = cli("validate", cwd=s3_repo)

    assert second.code == 0, second.err
    assert (proxy.count("HEAD"), proxy.count("GET")) == (2, 0)
    for path, before in cached.items():
        after = path.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), path
    assert _latest_result(s3_repo, "validate")["files"] == first_files


@pytest.mark.slow
def test_a_new_object_version_invalidates_the_cache(
    s3_repo: Path, s3_bucket: S3Bucket, proxy: FaultProxy, cli
) -> None:
    assert cli("validate", cwd=s3_repo).code == 0
    before = _latest_result(s3_repo, "validate")["files"]
    rows = (s3_repo / "data" / "train.csv").read_bytes().splitlines(keepends=True)
    changed = b"".join(rows[:-1])  # the same table less its last row
    new_version = s3_bucket.put(TRAIN_KEY, changed)
    proxy.clear()

    result = cli("validate", cwd=s3_repo)

    assert result.code == 0, result.err
    assert proxy.count("GET", TRAIN_KEY) == 1
    assert proxy.count("GET", VALIDATION_KEY) == 0
    after = _latest_result(s3_repo, "validate")["files"]
    assert after["training"]["version_id"] == new_version != before["training"]["version_id"]
    assert after["training"]["sha256"] == _sha256(changed)
    assert after["training"]["rows"] == before["training"]["rows"] - 1
    assert after["validation"] == before["validation"]


def test_a_corrupted_cache_entry_is_downloaded_again(
    s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path
) -> None:
    content = b"a,b\n" + b"1,2\n" * 500
    s3_bucket.put("t.csv", content)
    first = s3.fetch(s3_bucket.uri("t.csv"), tmp_path)
    first.path.write_bytes(content.replace(b"1", b"9"))  # same size, other bytes
    proxy.clear()

    again = s3.fetch(s3_bucket.uri("t.csv"), tmp_path)

    assert (again.from_cache, proxy.count("GET")) == (False, 1)
    assert again.path.read_bytes() == content
    assert again.sha256 == _sha256(content)


def test_general_endpoint_variable_is_honoured(
    s3_bucket: S3Bucket, s3_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env)
    version = s3_bucket.put("dir/t.parquet", b"not really parquet")

    fetched = s3.fetch(s3_bucket.uri("dir/t.parquet"), tmp_path)

    assert (fetched.version_id, fetched.path.name) == (version, "t.parquet")


def test_an_unversioned_bucket_is_cached_by_etag(
    s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path
) -> None:
    name = f"{s3_bucket.name}-plain"
    s3_bucket.client.create_bucket(Bucket=name)
    s3_bucket.client.put_object(Bucket=name, Key="t.csv", Body=b"a\n1\n")
    uri = f"s3://{name}/t.csv"

    first = s3.fetch(uri, tmp_path)
    second = s3.fetch(uri, tmp_path)
    s3_bucket.client.put_object(Bucket=name, Key="t.csv", Body=b"a\n2\n")
    third = s3.fetch(uri, tmp_path)

    assert (first.version_id, first.from_cache, second.from_cache) == (None, False, True)
    assert first.etag == hashlib.md5(b"a\n1\n").hexdigest()  # a single-part upload's ETag
    assert (third.from_cache, third.path.read_bytes()) == (False, b"a\n2\n")
    assert proxy.count("GET") == 2


def test_a_recorded_version_can_be_fetched_again(
    s3_bucket: S3Bucket, s3_env: str, tmp_path: Path
) -> None:
    old = s3_bucket.put("t.csv", b"a\n1\n")
    s3_bucket.put("t.csv", b"a\n2\n")

    current = s3.fetch(s3_bucket.uri("t.csv"), tmp_path)
    pinned = s3.fetch(s3_bucket.uri("t.csv"), tmp_path, version_id=old)

    assert current.path.read_bytes() == b"a\n2\n"
    assert (pinned.version_id, pinned.path.read_bytes()) == (old, b"a\n1\n")
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="t.csv", VersionId=old)
    with pytest.raises(s3.InputError, match=f"version {old} of object 't.csv' .* no longer"):
        s3.fetch(s3_bucket.uri("t.csv"), tmp_path, version_id=old)


# --- interrupted downloads --------------------------------------------------------------


def test_a_download_cut_short_leaves_nothing_in_the_cache(
    s3_repo: Path, s3_bucket: S3Bucket, proxy: FaultProxy, cli
) -> None:
    proxy.inject(Fault.cut_body(after_bytes=4096), method="GET", times=None)

    result = cli("validate", cwd=s3_repo)

    assert result.code == 3, result.err
    [line] = result.error_lines
    assert s3_bucket.uri(TRAIN_KEY) in line
    assert "cut short" in line
    assert proxy.count("GET", TRAIN_KEY) == s3.DOWNLOAD_ATTEMPTS
    assert all(seen.fault == "cut_body" for seen in proxy.requests if seen.method == "GET")
    assert _cache_files(s3_repo) == []


def test_a_download_cut_short_once_is_retried(
    s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path
) -> None:
    content = b"x,y\n" + b"12345,67890\n" * 20_000
    s3_bucket.put("big.csv", content)
    proxy.inject(Fault.cut_body(after_bytes=len(content) // 2), method="GET", times=1)

    fetched = s3.fetch(s3_bucket.uri("big.csv"), tmp_path)

    assert proxy.count("GET") == 2
    assert fetched.path.read_bytes() == content
    assert fetched.sha256 == _sha256(content)
    assert not list(tmp_path.rglob("*.partial"))


def test_throttling_is_retried(s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path) -> None:
    s3_bucket.put("t.csv", b"a\n1\n")
    slow_down = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>"
    proxy.inject(Fault.respond(503, slow_down), method="GET", times=1)

    fetched = s3.fetch(s3_bucket.uri("t.csv"), tmp_path)

    assert fetched.path.read_bytes() == b"a\n1\n"
    assert [seen.status for seen in proxy.requests if seen.method == "GET"] == [503, 200]


def test_a_dropped_connection_is_retried(
    s3_bucket: S3Bucket, proxy: FaultProxy, tmp_path: Path
) -> None:
    s3_bucket.put("t.csv", b"a\n1\n")
    proxy.inject(Fault.drop(), method="HEAD", times=1)
    proxy.inject(Fault.drop(), method="GET", times=1)

    fetched = s3.fetch(s3_bucket.uri("t.csv"), tmp_path)

    assert fetched.path.read_bytes() == b"a\n1\n"
    assert (proxy.count("HEAD"), proxy.count("GET")) == (2, 2)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param("missing-bucket", "bucket 'no-such-bucket-here' does not exist", id="bucket"),
        pytest.param("missing-key", "no object 'churn/nope.csv' in bucket", id="key"),
    ],
)
def test_missing_object_is_a_one_line_input_error(
    s3_repo: Path, s3_bucket: S3Bucket, cli, where: str, expected: str
) -> None:
    uri = (
        "s3://no-such-bucket-here/churn/train.csv"
        if where == "missing-bucket"
        else s3_bucket.uri("churn/nope.csv")
    )
    _use_s3(s3_repo, uri, s3_bucket.uri(VALIDATION_KEY))

    result = cli("validate", cwd=s3_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert line.startswith(f"error: {uri}: ") or f"{uri}: " in line, line
    assert expected in line


def test_no_credentials_is_a_one_line_input_error(
    s3_repo: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli("validate", cwd=s3_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert s3_bucket.uri(TRAIN_KEY) in line
    assert "no AWS credentials" in line


def test_dead_endpoint_is_a_service_error(
    s3_repo: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")

    started = time.monotonic()
    result = cli("validate", cwd=s3_repo)

    assert result.code == 3, result.err
    [line] = result.error_lines
    assert s3_bucket.uri(TRAIN_KEY) in line
    assert "unreachable after 2 attempts" in line
    assert time.monotonic() - started < 30


def test_malformed_endpoint_is_a_one_line_input_error(
    s3_repo: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "not a url")

    result = cli("validate", cwd=s3_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert s3_bucket.uri(TRAIN_KEY) in line
    assert "AWS_ENDPOINT_URL_S3" in line


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("s3://bucket-only", "write it as s3://BUCKET/KEY", id="no-key"),
        pytest.param("s3://my-bucket/folder/", "names a folder", id="folder"),
        pytest.param("s3://bad bucket/t.csv", "not a valid S3 bucket name", id="bucket-name"),
        pytest.param("s3://my-bucket/data/train.txt", "unknown file type", id="suffix"),
        pytest.param("gs://my-bucket/train.csv", "gs:// data sources are not supported", id="gs"),
    ],
)
def test_malformed_uri_is_refused_before_any_request(
    churn_repo: Path, proxy: FaultProxy, cli, uri: str, expected: str
) -> None:
    _use_s3(churn_repo, uri, "data/validation.csv")

    result = cli("validate", cwd=churn_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert uri in line
    assert expected in line
    assert proxy.requests == []


def test_bad_data_in_an_object_names_the_uri(
    churn_repo: Path, s3_bucket: S3Bucket, s3_env: str, cli
) -> None:
    header, *rows = (churn_repo / "data" / "train.csv").read_text().splitlines()
    columns = header.split(",")
    keep = [i for i, name in enumerate(columns) if name != "tenure_months"]
    assert len(keep) == len(columns) - 1
    trimmed = "\n".join(",".join(line.split(",")[i] for i in keep) for line in [header, *rows])
    s3_bucket.put(TRAIN_KEY, trimmed.encode())
    _use_s3(churn_repo, s3_bucket.uri(TRAIN_KEY), "data/validation.csv")

    result = cli("validate", cwd=churn_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert f"{s3_bucket.uri(TRAIN_KEY)}: " in line
    assert "tenure_months" in line
    assert ".mlgate/cache" not in line


# --- access control: a server that checks credentials against its IAM ----------------


@pytest.fixture(scope="module")
def guarded_bucket(tmp_path_factory: pytest.TempPathFactory):
    """A moto server enforcing IAM, a bucket with the example, and a user who may not read it.

    Yields (endpoint URL, bucket name, the user's access key id, secret).
    """
    import boto3

    with start_moto_server(tmp_path_factory.mktemp("moto-iam")) as url:
        client = s3_client(url)
        client.create_bucket(Bucket="guarded")
        client.put_object(Bucket="guarded", Key="train.csv", Body=b"a,b\n1,2\n")
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name=MOTO_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_user(UserName="outsider")
        key = iam.create_access_key(UserName="outsider")["AccessKey"]
        # From here on the server authenticates and authorises every request.
        request = urllib.request.Request(
            f"{url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form body would not reach moto
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        yield url, "guarded", key["AccessKeyId"], key["SecretAccessKey"]


@pytest.mark.parametrize("who", ["outsider", "unknown-key"])
def test_denied_access_is_a_one_line_input_error(
    guarded_bucket, s3_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, who: str
) -> None:
    url, bucket, key_id, secret = guarded_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    if who == "outsider":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    uri = f"s3://{bucket}/train.csv"

    with pytest.raises(s3.InputError) as raised:
        s3.fetch(uri, tmp_path)

    assert raised.value.exit_code == 2
    assert str(raised.value).startswith(f"{uri}: access denied by {url} (HTTP 403")
    assert "\n" not in str(raised.value)
    assert not any(tmp_path.iterdir())
