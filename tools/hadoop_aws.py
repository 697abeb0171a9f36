"""hadoop-aws for the tests that read s3:// data with Spark (tests/test_spark_s3.py).

hadoop-aws and its AWS SDK live on Maven Central, which a CI machine may not reach; PyPI
it does. The sagemaker-pyspark source distribution on PyPI bundles hadoop-aws 3.3.1 and
the AWS SDK bundle it was built with: this takes those two jars out of it, checked by
SHA-256, into a cache folder, and prints their paths.

hadoop-aws 3.3.1 on pyspark 4's Hadoop 3.5 client needs COMPAT beside it: Hadoop 3.4
writes its S3A timeouts as durations ("60s") and names the AWS SDK v2's credential
providers by default, which 3.3.1 reads as numbers and cannot load. A cluster whose
hadoop-aws matches its Hadoop (EMR, Databricks, spark.jars.packages) needs none of it.

    python tools/hadoop_aws.py [DIR]    # default ~/.cache/mlgate-tests/hadoop-aws
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

SDIST = (
    "https://files.pythonhosted.org/packages/df/37/88e683fd29270ca890b1b889466325be5461abb93d5ea0"
    "55bc3a505d40a8/sagemaker_pyspark-1.4.5.tar.gz"
)
SDIST_SHA256 = "05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb"
JARS = {
    "hadoop-aws-3.3.1.jar": "6be50ad8a8b445d2802381b085b2a3ede5c29d353450a6a21f16b2fefa962b6e",
    "aws-java-sdk-bundle-1.11.901.jar": (
        "b87175b32a16544cc1b37cf40390eb375833e62bed67f8ce6cde4b7ad6429ead"
    ),
}
COMPAT = {
    "spark.hadoop.fs.s3a.connection.timeout": "60000",
    "spark.hadoop.fs.s3a.connection.establish.timeout": "30000",
    "spark.hadoop.fs.s3a.threads.keepalivetime": "60",
    "spark.hadoop.fs.s3a.multipart.purge.age": "86400",
}
DEFAULT_DIR = Path.home() / ".cache" / "mlgate-tests" / "hadoop-aws"


def jars(directory: Path = DEFAULT_DIR) -> list[Path]:
    """The two jars in `directory`, downloaded and unpacked there the first time."""
    wanted = [directory / name for name in JARS]
    if all(path.is_file() and _sha256(path) == JARS[path.name] for path in wanted):
        return wanted
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        sdist = Path(scratch) / "sdist.tar.gz"
        with urllib.request.urlopen(SDIST, timeout=120) as response, sdist.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        if _sha256(sdist) != SDIST_SHA256:
            raise RuntimeError(f"{SDIST}: SHA-256 is not {SDIST_SHA256}")
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                if name in JARS and member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    partial = Path(scratch) / name
                    with partial.open("wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                    if _sha256(partial) != JARS[name]:
                        raise RuntimeError(f"{name} in {SDIST}: SHA-256 is not {JARS[name]}")
                    partial.replace(directory / name)
    missing = [path.name for path in wanted if not path.is_file()]
    if missing:
        raise RuntimeError(f"{SDIST} holds no {', '.join(missing)}")
    return wanted


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    for path in jars(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR):
        print(path)
