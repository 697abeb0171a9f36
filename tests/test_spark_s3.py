"""What Spark is told to read `s3://` data with (`mlgate._spark_s3`), and the check that
the object Spark read is the one boto3 hashed. The reads themselves run on a standalone
cluster in tests/test_spark_cluster.py."""

from __future__ import annotations

import pytest

from mlgate import _s3
from mlgate._spark_s3 import AwsSettings, hadoop_uri, s3a_settings
from mlgate.errors import ServiceError

LOCAL = AwsSettings("http://127.0.0.1:9000", "eu-west-1", "AKIA", "secret")


def test_an_s3_uri_is_read_as_s3a() -> None:
    assert hadoop_uri("s3://bucket/data/train.csv") == "s3a://bucket/data/train.csv"


def test_a_compatible_store_gets_its_endpoint_path_style_and_the_keys() -> None:
    assert s3a_settings(LOCAL, {}) == {
        "fs.s3a.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.endpoint.region": "eu-west-1",
        "fs.s3a.access.key": "AKIA",
        "fs.s3a.secret.key": "secret",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }


def test_aws_itself_keeps_s3as_endpoint_and_a_session_token_its_provider() -> None:
    aws = AwsSettings("https://s3.eu-west-1.amazonaws.com", "eu-west-1", "ASIA", "s", "token")
    settings = s3a_settings(aws, {})
    assert "fs.s3a.endpoint" not in settings
    assert "fs.s3a.path.style.access" not in settings
    assert settings["fs.s3a.session.token"] == "token"
    assert settings["fs.s3a.aws.credentials.provider"].endswith(".TemporaryAWSCredentialsProvider")


def test_no_credentials_leaves_them_to_the_clusters_own_providers() -> None:
    settings = s3a_settings(AwsSettings("https://s3.amazonaws.com", None), {})
    assert settings == {}


def test_the_teams_own_settings_win_in_either_spelling() -> None:
    theirs = {
        "spark.hadoop.fs.s3a.endpoint": "http://minio:9000",
        "fs.s3a.aws.credentials.provider": "com.amazonaws.auth.InstanceProfileCredentialsProvider",
    }
    settings = s3a_settings(LOCAL, theirs)
    # Their provider finds credentials its own way: mlgate passes none.
    assert settings == {"fs.s3a.path.style.access": "true", "fs.s3a.endpoint.region": "eu-west-1"}


def test_an_object_replaced_after_it_was_hashed_is_exit_3(s3_env: str, s3_bucket, tmp_path) -> None:
    uri = s3_bucket.uri("data/train.csv")
    s3_bucket.put("data/train.csv", b"a,b\n1,2\n")
    read = _s3.fetch(uri, tmp_path / "cache")
    _s3.check_unchanged(read)  # the same version: nothing to say

    s3_bucket.put("data/train.csv", b"a,b\n1,3\n")

    with pytest.raises(ServiceError) as raised:
        _s3.check_unchanged(read)
    assert raised.value.exit_code == 3
    assert "changed while it was being read" in str(raised.value.message)
    assert raised.value.location() == uri
