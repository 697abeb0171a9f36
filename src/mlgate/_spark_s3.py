"""`s3://` data read by Spark: through Hadoop's S3A filesystem, with boto3's AWS settings.

The pandas engine reads an object with boto3; Spark reads the same object as
`s3a://bucket/key`, on its executors, so the whole table never passes through mlgate's
process. Spark needs hadoop-aws (and the AWS SDK it was built with) on the cluster's
classpath: EMR and Databricks ship them; elsewhere `compute.spark_conf`'s
`spark.jars.packages: org.apache.hadoop:hadoop-aws:<the cluster's Hadoop version>` fetches
them. mlgate passes what boto3 resolves (a non-AWS endpoint, the region, the credentials)
as settings of the session, so both engines read with the same AWS settings; any `fs.s3a`
key the team sets in `compute.spark_conf` stays theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from mlgate._s3 import SCHEME
from mlgate.errors import InputError

HADOOP_SCHEME = "s3a://"
_SIMPLE = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
_TEMPORARY = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
_PROVIDER = "fs.s3a.aws.credentials.provider"
# Credentials issued to this machine (an instance or task role) are not passed on: the
# cluster's machines have their own, which S3A's default providers find.
_MACHINE_CREDENTIALS = frozenset({"iam-role", "container-role"})


class AwsSettings(NamedTuple):
    """What boto3 resolved for S3, as S3A needs it."""

    endpoint_url: str | None
    region: str | None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None


def hadoop_uri(uri: str) -> str:
    """`s3://bucket/key` as Hadoop names it: `s3a://bucket/key`."""
    return HADOOP_SCHEME + uri[len(SCHEME) :]


def s3a_settings(aws: AwsSettings, theirs: Mapping[str, Any]) -> dict[str, str]:
    """The session's `fs.s3a.*` settings for `aws`, leaving out the keys in `theirs`
    (compute.spark_conf, as `fs.s3a.X` or `spark.hadoop.fs.s3a.X`)."""
    settings: dict[str, str] = {}
    if aws.endpoint_url and not _is_aws(aws.endpoint_url):
        # MinIO, Ceph, a local fake: bucket names in the path, not in the host name.
        settings["fs.s3a.endpoint"] = aws.endpoint_url
        settings["fs.s3a.path.style.access"] = "true"
    if aws.region:
        settings["fs.s3a.endpoint.region"] = aws.region
    owned = {key.removeprefix("spark.hadoop.") for key in theirs}
    if aws.access_key and aws.secret_key and _PROVIDER not in owned:
        settings["fs.s3a.access.key"] = aws.access_key
        settings["fs.s3a.secret.key"] = aws.secret_key
        if aws.session_token:
            settings["fs.s3a.session.token"] = aws.session_token
        settings[_PROVIDER] = _TEMPORARY if aws.session_token else _SIMPLE
    return {key: value for key, value in settings.items() if key not in owned}


def configure(spark: Any, theirs: Mapping[str, Any]) -> None:
    """Give `spark`'s session the S3A settings boto3 resolves here.

    Session settings reach every read's Hadoop configuration, on a classic session and
    over Spark Connect alike; Spark redacts the keys, secret and token in its UI and logs.
    """
    for key, value in s3a_settings(resolve(), theirs).items():
        spark.conf.set(key, value)


def resolve() -> AwsSettings:
    """The endpoint, region and credentials boto3 would use for S3 in this process."""
    import boto3

    from mlgate import _s3

    s3 = _s3.client()
    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None or getattr(credentials, "method", None) in _MACHINE_CREDENTIALS:
        return AwsSettings(s3.meta.endpoint_url, session.region_name)
    frozen = credentials.get_frozen_credentials()
    return AwsSettings(
        s3.meta.endpoint_url,
        session.region_name,
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
    )


def no_filesystem(spark: Any, exc: BaseException, shown: str, instead: str) -> InputError | None:
    """The error to raise when `exc` is Spark finding no S3A filesystem on its classpath:
    it names the object, the package for the cluster's Hadoop, and `instead`."""
    text = str(exc)
    if 'No FileSystem for scheme "s3a"' not in text and "S3AFileSystem not found" not in text:
        return None
    version = _hadoop_version(spark) or "<the cluster's Hadoop version>"
    return InputError(
        "Spark has no S3A filesystem to read s3:// data with: put hadoop-aws and the AWS SDK "
        "it was built with on the cluster's classpath (compute.spark_conf spark.jars.packages: "
        f"org.apache.hadoop:hadoop-aws:{version}), or {instead}",
        file=shown,
    )


def _hadoop_version(spark: Any) -> str | None:
    """The Hadoop version of the driver's JVM (None over Spark Connect, which has none here)."""
    try:
        return str(spark.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion())
    except Exception:  # a Connect session has no SparkContext
        return None


def _is_aws(endpoint_url: str) -> bool:
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
