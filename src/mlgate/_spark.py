"""The one way mlgate reaches Spark: `compute.cluster` parsed, probed and connected to.

`compute.cluster` accepts `spark://HOST:PORT` (a standalone master), `sc://HOST:PORT`
(Spark Connect) and `local` / `local[N]` / `local[*]` (this machine). The seed's free-form
names (`gpu-cluster-medium`) still load, so an old config keeps working, but a command
that would run on the cluster refuses them (exit 2) rather than run on the runner in
silence. A master that does not answer, or gives the application no executor, is
exit 3. pyspark is imported only here, and only when a stage needs Spark.
"""

from __future__ import annotations

import re
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import is_spark_model
from mlgate.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from mlgate.config import Config
    from mlgate.project import Project

ACCEPTED = "spark://HOST:PORT (a standalone master), sc://HOST:PORT (Spark Connect) or local[N]"
# A Spark setting in a config whose stages run nothing on Spark: refused, not ignored.
NOTHING_ON_SPARK = (
    "nothing in this config runs on Spark: add model.search (its candidates run on "
    "compute.cluster), a Spark MLlib model.type (pyspark.ml....) or validation.engine: spark, "
    "or remove this key"
)
# The driver JVM's log, under the project's state directory (.mlgate/), and the log4j2
# configuration that sends it there.
DRIVER_LOG = "logs/spark-driver.log"
_LOG4J = Path(__file__).with_name("spark-log4j2.properties")
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_driver_log: Path | None = None  # set once this process's JVM logs to a file
# Without a cluster, `validation.engine: spark` runs on this machine.
LOCAL_MASTER = "local[2]"
# How long a master may take to answer, and to give the application its first executor.
CONNECT_SECONDS = 5.0
EXECUTOR_SECONDS = 60.0

# Spark Connect takes `/;key=value` options after the port (a token, use_ssl); a master does not.
_URL = re.compile(
    r"^(?P<scheme>spark|sc)://(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})"
    r"(?P<options>/;.*)?/?$"
)
_LOCAL = re.compile(r"^local(\[(?:[1-9][0-9]{0,3}|\*)\])?$")


@dataclass(frozen=True)
class Cluster:
    """Where Spark work goes: a parsed `compute.cluster`."""

    url: str
    kind: str  # "standalone", "connect" or "local"
    host: str | None = None
    port: int | None = None

    @property
    def is_remote(self) -> bool:
        return self.kind != "local"


def parse_cluster(text: str) -> Cluster | None:
    """The cluster `text` names, or None when it is none of the accepted forms."""
    if _LOCAL.match(text):
        return Cluster(url=text, kind="local")
    match = _URL.match(text)
    if match is None or (match.group("options") and match.group("scheme") != "sc"):
        return None
    port = int(match.group("port"))
    if not 0 < port < 65536:
        return None
    kind = "standalone" if match.group("scheme") == "spark" else "connect"
    return Cluster(url=text, kind=kind, host=match.group("host").strip("[]"), port=port)


def uses_cluster(config: Config) -> bool:
    """Whether a stage of this config runs on `compute.cluster` when one is set."""
    return (
        config.model.search is not None
        or is_spark_model(config.model.type)  # a Spark MLlib model trains there
        or config.validation.engine == "spark"  # it reads and checks the data there
    )


def cluster_of(project: Project) -> Cluster | None:
    """The project's cluster, None when it names none; a form mlgate cannot use is exit 2."""
    written = project.config.compute.cluster
    if written is None:
        return None
    cluster = parse_cluster(written)
    if cluster is None:
        raise project.config_error(
            ("compute", "cluster"),
            f"{written!r} is not a Spark master mlgate can connect to; write {ACCEPTED}, "
            "or remove compute.cluster to run on this machine",
        )
    return cluster


def session_for(project: Project) -> Any:
    """The SparkSession on the project's cluster (local[2] without one), made once per process."""
    return spark_session(
        cluster_of(project),
        dict(project.config.compute.spark_conf),
        log_file=project.state_dir / DRIVER_LOG,
    )


def spark_session(
    cluster: Cluster | None = None,
    conf: dict[str, Any] | None = None,
    *,
    log_file: Path | None = None,
) -> Any:
    """The active SparkSession when it runs where asked, else a new one there.

    Without a cluster any active session is taken (a notebook's, a test's). An active
    session on another master is stopped: a process has one SparkContext, and the
    config says where the work goes.
    """
    spark = _pyspark_sql()
    active = spark.SparkSession.getActiveSession()
    if active is not None:
        if cluster is None or _runs_on(active) == cluster.url:
            return active
        _started.pop(id(active), None)
        active.stop()
    if cluster is not None and cluster.is_remote:
        _probe(cluster)
    builder = spark.SparkSession.builder.appName("mlgate")
    connect = cluster is not None and cluster.kind == "connect"
    if connect:  # no JVM in this process
        _stop_classic(spark)
        builder = builder.remote(cluster.url)
    else:
        builder = builder.master(cluster.url if cluster else LOCAL_MASTER)
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        if cluster is None:  # a local session for small frames: no UI, few partitions
            builder = builder.config("spark.ui.enabled", "false").config(
                "spark.sql.shuffle.partitions", "2"
            )
        else:  # SparkSession.builder is one per process: undo what a local session set
            builder = builder.config("spark.ui.enabled", "true").config(
                "spark.sql.shuffle.partitions", "200"
            )
        options = _java_options(log_file, conf or {})
        if options:
            builder = builder.config(JAVA_OPTIONS, options)
    for key, value in (conf or {}).items():
        if connect or key != JAVA_OPTIONS:  # else merged with mlgate's just above
            builder = builder.config(key, _conf_text(value))
    where = cluster.url if cluster else LOCAL_MASTER
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
            session = builder.getOrCreate()
    except ImportError as exc:  # Spark Connect's client libraries (grpcio, ...)
        raise ConfigError(
            f"compute.cluster: {where} needs Spark Connect's client ({exc.name or exc}); "
            "install it with `pip install 'pyspark[connect]'`"
        ) from None
    except Exception as exc:  # most often no Java: PySpark raises its own error types
        refused = _jvm_refusal(exc)
        if refused is not None:  # Java ran, and Spark refused a setting (too little memory)
            raise ConfigError(
                f"compute.spark_conf: Spark would not start on {where}: {refused}{_see_log()}"
            ) from None
        reason = _first_line(exc)
        if cluster is not None and cluster.is_remote:
            raise ServiceError(
                f"compute.cluster: could not start a Spark application on {where} "
                f"({reason}){_see_log()}"
            ) from None
        raise ConfigError(
            f"could not start a local Spark session ({reason}); Spark needs Java 17 or later "
            "on PATH or in JAVA_HOME"
        ) from None
    if cluster is not None and cluster.kind == "standalone":
        _wait_for_executors(session, cluster)
    _started[id(session)] = where
    return session


def executor_count(session: Any) -> int:
    """Executors registered with the application (the driver not counted)."""
    status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
    return max(int(status.size()) - 1, 0)


def _wait_for_executors(session: Any, cluster: Cluster) -> None:
    """A master with no live worker accepts the application and never runs a task."""
    deadline = time.monotonic() + EXECUTOR_SECONDS
    while executor_count(session) == 0:
        if time.monotonic() > deadline:
            session.stop()
            raise ServiceError(
                f"compute.cluster: the Spark master at {cluster.url} gave mlgate no executor "
                f"in {EXECUTOR_SECONDS:.0f}s: no worker is alive, or none has the cores and "
                "memory asked for (compute.spark_conf spark.executor.memory, spark.cores.max)"
            )
        time.sleep(0.2)


def _probe(cluster: Cluster) -> None:
    """Fail in seconds, not after Spark's minute of retries, when nothing listens there."""
    assert cluster.host is not None
    assert cluster.port is not None
    try:
        with socket.create_connection((cluster.host, cluster.port), timeout=CONNECT_SECONDS):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ServiceError(
            f"compute.cluster: no Spark master answers at {cluster.url} ({reason}); start it, "
            "or fix compute.cluster"
        ) from None


# The sessions this module started, by id, and where: a Spark Connect session cannot say.
_started: dict[int, str] = {}


def _runs_on(session: Any) -> str | None:
    if id(session) in _started:
        return _started[id(session)]
    try:
        return str(session.sparkContext.master)
    except Exception:  # a Spark Connect session has no SparkContext
        return None


def _pyspark_sql() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
            import pyspark.sql
    except ImportError:
        raise ConfigError(
            "Spark work (compute.cluster, validation.engine: spark) needs pyspark; install it "
            "with `pip install 'mlgate[spark]'`"
        ) from None
    return pyspark.sql


def _conf_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _stop_classic(spark: Any) -> None:
    """pyspark refuses a Connect session beside a classic one in the same process; a
    classic one runs on another master by definition, so it is stopped as any other is."""
    from pyspark import SparkContext

    classic = spark.SparkSession._instantiatedSession
    if classic is not None:
        _started.pop(id(classic), None)
        classic.stop()
    elif SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


def _java_options(log_file: Path | None, conf: dict[str, Any]) -> str:
    """spark.driver.extraJavaOptions: mlgate's, sending the driver's log to `log_file` when
    this call starts the JVM, then the team's own, which come last and so win (a
    log4j2.configurationFile of their own included)."""
    from pyspark import SparkContext

    global _driver_log
    theirs = _conf_text(conf[JAVA_OPTIONS]) if JAVA_OPTIONS in conf else ""
    launching = SparkContext._gateway is None  # later sessions reuse the process's JVM
    if log_file is None or not launching or '"' in str(log_file):
        return theirs
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only checkout: Spark's own default, the terminal
        return theirs
    _driver_log = log_file
    return f'-Dlog4j2.configurationFile="{_LOG4J}" -Dmlgate.spark.log="{log_file}" {theirs}'.strip()


def _see_log() -> str:
    """Where the driver's own account of a failure is, when mlgate sent it to a file."""
    if _driver_log is None or not _driver_log.is_file() or not _driver_log.stat().st_size:
        return ""
    return f"; Spark's log: {_driver_log}"


def _jvm_refusal(exc: BaseException) -> str | None:
    """Spark's own message when the JVM started and rejected an argument or setting.

    py4j's error says only which call failed; the Java exception behind it says why, and
    Spark's argument errors (a driver heap under its 450 MiB floor, a malformed size)
    name the setting to change.
    """
    java = getattr(exc, "java_exception", None)
    if java is None:
        return None
    try:
        kind, message = str(java.getClass().getName()), str(java.getMessage())
    except Exception:  # the gateway went away with the failed context
        return None
    if not kind.endswith("IllegalArgumentException"):
        return None
    return " ".join(message.split()) or None  # one line: Spark puts its advice on the next


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
