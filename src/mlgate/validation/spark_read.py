"""Reading the data files with Spark, for `validation.engine: spark`: pandas reads nothing.

CSV, TSV and JSON Lines are read as text (no schema-inference pass over the data; CSV's
header, or the first JSON record's keys, name the columns) and typed the way the data
loader types a pandas frame: the feature spec's numeric columns cast to numbers (a value
that is no number refused with the same message), categories as text, and the target as
integers, decimals or text depending on what every value parses as. Parquet keeps its
own types. Each table is persisted (memory, then disk), so the checks and the drift
statistics that follow re-read it from Spark's cache, never from the driver.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.data import ROLES, DataFile, _check_columns, _first_line, _format_of, check_location
from mlgate.errors import InputError

if TYPE_CHECKING:
    from mlgate._s3 import S3Object
    from mlgate._training import Task
    from mlgate.project import Project

# What pandas' CSV reader takes for a missing value (pandas._libs.parsers.STR_NA_VALUES).
NA_TEXT = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
# Whole numbers that fit a long: pandas reads a column of them as int64.
_INTEGER = r"^\s*[+-]?[0-9]{1,18}\s*$"
# Compressions Hadoop's codecs do not read (without native libraries): Spark would read the
# compressed bytes as text.
UNREADABLE = (".xz", ".zst")
# More distinct target values than this is no classification mlgate can evaluate.
MAX_CLASSES = 10_000


@dataclass(frozen=True)
class SparkTable:
    """One data file as a typed, persisted Spark frame, with what lineage records of it."""

    frame: Any
    info: DataFile


def load_tables(
    project: Project,
    known_sha256: dict[str, str],
    fetched: Mapping[str, S3Object] | None = None,
) -> dict[str, SparkTable]:
    """Both data files, read and typed by Spark on compute.cluster (or local[2]).

    `known_sha256` and `fetched` (an s3:// object the stage cache has just read) spare
    hashing a file or fetching an object a second time.
    """
    from mlgate._spark import session_for

    located = {role: _located(project, role) for role in ("training", "validation")}
    spark = session_for(project)  # after the checks above: they need no Spark
    if any(isinstance(location, str) for location in located.values()):
        from mlgate._spark_s3 import configure

        configure(spark, project.config.compute.spark_conf)
    return {
        role: _load(project, spark, role, location, known_sha256.get(role))
        if isinstance(location, Path)
        else _load_s3(project, spark, role, location, (fetched or {}).get(role))
        for role, location in located.items()
    }


def _located(project: Project, role: str) -> Path | str:
    """The local file of `role`, or its s3:// URI; a compression Spark cannot read is exit 2."""
    key = ROLES[role]
    written = getattr(project.config.data, key)
    location = check_location(project, role)
    if Path(str(location)).suffix.lower() in UNREADABLE:
        raise project.config_error(
            ("data", key),
            f"{written}: Spark has no {Path(str(location)).suffix} decompressor (Hadoop reads "
            ".gz and .bz2); recompress it with gzip or bzip2, or use validation.engine: pandas",
        )
    return location


def _load(project: Project, spark: Any, role: str, location: Path, known: str | None) -> SparkTable:
    from concurrent.futures import ThreadPoolExecutor

    from mlgate.data import dvc_tracked, sha256_of

    size = location.stat().st_size
    if size == 0:
        raise InputError(f"{role} data file is empty (0 bytes)", file=location)
    file_format = _format_of(location)
    assert file_format is not None  # check_location refused any other
    # Hash (streaming, 1 MiB at a time) while Spark reads: lineage and the stage cache need it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_of, location) if not known else None
        frame, rows = _typed(project, spark, str(location), file_format, role, location)
        sha256 = digest.result() if digest is not None else known
    info = DataFile(
        role=role,
        uri=str(location),
        sha256=str(sha256),
        size_bytes=size,
        rows=rows,
        columns=len(frame.columns),
    )
    return SparkTable(frame, replace(info, dvc=dvc_tracked(project, role)))


def _load_s3(
    project: Project, spark: Any, role: str, written: str, fetched: S3Object | None
) -> SparkTable:
    """An s3:// object read by Spark as s3a://, and by boto3 for what lineage records.

    boto3 streams the object to the local cache (to disk, never into memory) for its
    SHA-256, beside Spark's read; an object that changed meanwhile is exit 3.
    """
    from concurrent.futures import ThreadPoolExecutor

    from mlgate import _s3 as s3
    from mlgate._spark_s3 import hadoop_uri

    _, object_key = s3.parse_uri(written)
    file_format = _format_of(Path(object_key.rsplit("/", 1)[-1]))
    assert file_format is not None  # check_location refused any other
    with ThreadPoolExecutor(max_workers=1) as pool:
        if fetched is None or fetched.uri != written:
            pending = pool.submit(s3.fetch, written, project.state_dir / "cache" / "s3")
        else:
            pending = pool.submit(lambda: fetched)
        try:
            frame, rows = _typed(project, spark, hadoop_uri(written), file_format, role, written)
        except InputError:
            pending.result()  # boto3's reason (no such key, access denied) names it better
            raise
        read = pending.result()
    s3.check_unchanged(read)
    info = DataFile(
        role=role,
        uri=written,
        sha256=read.sha256,
        size_bytes=read.size_bytes,
        rows=rows,
        columns=len(frame.columns),
        version_id=read.version_id,
        etag=read.etag,
    )
    return SparkTable(frame, info)


def _read(spark: Any, path: str, file_format: str, role: str, shown: Path | str) -> Any:
    """The file at `path` (a local path or s3a:// URI) as Spark reads it; errors name `shown`."""
    location = shown
    try:
        if file_format == "parquet":
            return spark.read.parquet(path)
        first = spark.read.text(path).limit(1).collect()
        if not first:
            raise InputError(f"{role} data has no columns", file=location)
        line = first[0][0]
        if file_format in ("csv", "tsv"):
            separator = "," if file_format == "csv" else "\t"
            _check_header(next(csv.reader([line], delimiter=separator)), location)
            # multiLine: a quoted value may hold a line break, as pandas reads it.
            return spark.read.csv(
                path,
                header=True,
                sep=separator,
                inferSchema=False,
                encoding="UTF-8",
                multiLine=True,
                escape='"',
                mode="FAILFAST",
            )
        from pyspark.sql import types

        names = list(json.loads(line))
        schema = types.StructType([types.StructField(n, types.StringType()) for n in names])
        # Strings for every key of the first record: JSON numbers arrive as their text.
        return spark.read.json(path, schema=schema, mode="FAILFAST")
    except InputError:
        raise
    except Exception as exc:  # Spark's own error types: AnalysisException, Py4JJavaError
        _no_s3a(spark, exc, path, shown)
        raise InputError(
            f"{role} data cannot be read as {file_format}: {spark_reason(exc)}", file=location
        ) from None


def _no_s3a(spark: Any, exc: BaseException, path: str, shown: Path | str) -> None:
    """A cluster without hadoop-aws: exit 2 saying how to give it one."""
    from mlgate._spark_s3 import HADOOP_SCHEME, no_filesystem

    refused = no_filesystem(spark, exc, str(shown), "use validation.engine: pandas")
    if path.startswith(HADOOP_SCHEME) and refused is not None:
        raise refused


def spark_reason(exc: BaseException) -> str:
    """The root cause of a Spark error in one short line (a Java error names its causes last)."""
    causes = [line for line in str(exc).splitlines() if line.startswith("Caused by: ")]
    if not causes:
        return _first_line(exc)[:200]
    reason = causes[-1].removeprefix("Caused by: ").split(": ", 1)[-1]
    return reason.split(" SQLSTATE")[0][:200]


def _check_header(names: list[str], location: Path | str) -> None:
    seen: set[str] = set()
    for name in (name.strip() for name in names):
        if name in seen:
            raise InputError(
                f"column '{name}' appears twice in the header; rename one", file=location
            )
        seen.add(name)


def _typed(
    project: Project, spark: Any, path: str, file_format: str, role: str, location: Path | str
) -> tuple[Any, int]:
    from pyspark.sql import functions as F
    from pyspark.sql import types

    frame = _read(spark, path, file_format, role, location)
    _check_columns(project, frame, location)
    spec = project.spec
    kinds = {field.name: field.dataType for field in frame.schema.fields}
    columns = {**spec.features, **spec.sensitive_features}
    if file_format in ("csv", "tsv"):
        frame = _na_to_null(frame)
    numeric = [n for n, c in columns.items() if c.is_numeric and n in kinds]
    for name in numeric:
        if isinstance(kinds[name], types.BooleanType):
            raise InputError(
                f"column '{name}' is declared {columns[name].type} but holds true/false values",
                file=location,
            )
    target = F.col(_q(spec.target))
    # One pass: the rows, each numeric text column's non-numbers, how the target parses.
    counts = [F.count(F.lit(1)).alias("rows")]
    for i, name in enumerate(numeric):
        if isinstance(kinds[name], types.StringType):
            value = F.col(_q(name))
            bad = value.isNotNull() & value.try_cast("double").isNull()
            counts += [
                F.sum(bad.cast("long")).alias(f"bad{i}"),
                F.count(value).alias(f"present{i}"),
                F.sum(value.rlike(_INTEGER).cast("long")).alias(f"integers{i}"),
            ]
    if isinstance(kinds[spec.target], types.StringType):
        counts += [
            F.count(target).alias("target_present"),
            F.sum(target.rlike(_INTEGER).cast("long")).alias("target_integers"),
            F.sum(target.try_cast("double").isNotNull().cast("long")).alias("target_numbers"),
        ]
    try:  # Spark reads lazily: a malformed record shows up here
        found = frame.agg(*counts).first().asDict()
    except Exception as exc:
        _no_s3a(spark, exc, path, location)
        raise InputError(
            f"{role} data cannot be read as {file_format}: {spark_reason(exc)}", file=location
        ) from None
    rows = int(found["rows"])
    if rows == 0:
        raise InputError(f"{role} data has a header but no rows", file=location)
    for i, name in enumerate(numeric):
        if found.get(f"bad{i}"):
            value = F.col(_q(name))
            bad = value.isNotNull() & value.try_cast("double").isNull()
            firsts = [row[0] for row in frame.filter(bad).select(value).limit(100).collect()]
            sample = list(dict.fromkeys(str(v) for v in firsts))[:3]
            raise InputError(
                f"column '{name}' is declared {columns[name].type} but has {found[f'bad{i}']} "
                f"non-numeric value(s), e.g. {sample}; fix the data or declare it categorical",
                file=location,
            )
    # Text columns become numbers as pandas types them: integers when every value is one.
    casts = {}
    for i, name in enumerate(numeric):
        if isinstance(kinds[name], types.StringType):
            whole = found[f"present{i}"] and found[f"integers{i}"] == found[f"present{i}"]
            casts[name] = "long" if whole else "double"
        else:
            casts[name] = None
    target_as = None
    present = found.get("target_present")
    if present and found["target_integers"] == present:
        target_as = "long"
    elif present and found["target_numbers"] == present:
        target_as = "double"
    return _values(frame, kinds, columns, casts, (spec.target, target_as)).persist(), rows


def _values(
    frame: Any,
    kinds: dict[str, Any],
    columns: dict[str, Any],
    numeric: dict[str, str | None],
    target: tuple[str, str | None],
) -> Any:
    """Numeric columns cast as `numeric` says (None: kept; text that is no number: missing),
    categories as text, the target as `target` says (a type to cast it to, or None)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types

    typed = []
    for name in frame.columns:
        value, kind = F.col(_q(name)), kinds.get(name)
        if name in numeric:
            cast = numeric[name]
            number = value.try_cast(cast) if cast else value
            if cast == "double" or isinstance(kind, (types.FloatType, types.DoubleType)):
                number = F.when(~F.isnan(number), number)  # NaN is a missing value, as in pandas
            value = number
        elif name in columns and not isinstance(kind, types.StringType):
            value = _category_text(value, kind)
        elif name == target[0] and target[1] is not None:
            value = value.try_cast(target[1])
        typed.append(value.alias(name))
    return frame.select(*typed)


def _na_to_null(frame: Any) -> Any:
    """pandas' missing-value words (`NA`, `null`, ...) are missing values here too."""
    from pyspark.sql import functions as F

    return frame.select(
        *[F.when(~F.col(_q(n)).isin(*NA_TEXT), F.col(_q(n))).alias(n) for n in frame.columns]
    )


def _category_text(value: Any, kind: Any) -> Any:
    """A category written as a number or a boolean, as the data loader writes it: `1`, `true`."""
    from pyspark.sql import functions as F
    from pyspark.sql import types

    if isinstance(kind, (types.FloatType, types.DoubleType)):
        whole = (value % 1) == 0  # not floor(): it overflows on infinity
        return F.when(whole, value.cast("long").cast("string")).otherwise(value.cast("string"))
    return value.cast("string")


def _q(name: str) -> str:
    """A column name as Spark's parser reads it whatever it holds (dots, spaces)."""
    return "`" + name.replace("`", "``") + "`"


def infer_task(project: Project, table: SparkTable) -> Task:
    """The task, decided as for a pandas frame from the target's distinct values alone."""
    import pandas as pd
    from pyspark.sql import functions as F

    from mlgate._training import infer_task as from_values

    target = project.spec.target
    location = table.info.uri
    column = table.frame.select(F.col(_q(target)))
    missing = column.filter(F.col(_q(target)).isNull()).count()
    if missing:
        raise InputError(
            f"target column '{target}' has {missing} missing value(s); drop or label those rows",
            file=location,
        )
    values = [row[0] for row in column.distinct().limit(MAX_CLASSES + 1).collect()]
    if len(values) > MAX_CLASSES and project.spec.task == "classification":
        raise InputError(
            f"target column '{target}' has more than {MAX_CLASSES:,} classes; "
            "set task: regression in the feature spec if it is a number to predict",
            file=location,
        )
    # Every test infer_task makes (numeric, whole, how many distinct) depends on the set of
    # values only, so the distinct values decide as the whole column would.
    return from_values(project, pd.DataFrame({target: pd.Series(values)}), location)


def check_validation_labels(project: Project, table: SparkTable, task: Task) -> None:
    """Labels in the validation data that the training data never shows: exit 2."""
    from pyspark.sql import functions as F

    target = F.col(_q(project.spec.target))
    known = [label.item() if hasattr(label, "item") else label for label in task.classes]
    found = table.frame.select(target).distinct().filter(target.isNotNull() & ~target.isin(*known))
    unknown = sorted((row[0] for row in found.limit(1000).collect()), key=str)
    if unknown:
        raise InputError(
            f"target column '{project.spec.target}' has label(s) {unknown[:5]} that the "
            "training data never shows; the model cannot predict them",
            file=table.info.uri,
        )


def load_for_validate(session: Any) -> tuple[dict[str, Any], dict[str, DataFile]]:
    """The validate stage's inputs read by Spark: frames by role, their files, and the task.

    `session.frames` stays empty: a later stage that needs pandas frames reads the files
    itself (`Session.ensure_data`), and the hashes recorded here spare it hashing them again.
    """
    project = session.project
    tables = load_tables(project, session.data_hashes, session.fetched_s3)
    task = infer_task(project, tables["training"])
    project.check_task_metrics(task.kind)
    if task.kind == "classification":
        check_validation_labels(project, tables["validation"], task)
    for role, table in tables.items():
        session.data_hashes[role] = table.info.sha256
    session.task = task
    return {role: t.frame for role, t in tables.items()}, {
        role: t.info for role, t in tables.items()
    }


def release(frames: dict[str, Any]) -> None:
    """Free the cached tables: the stages after validate read the files their own way."""
    for frame in frames.values():
        frame.unpersist()


def read_reference(project: Project, path: Path) -> Any:
    """A drift reference file as a Spark frame, typed leniently like `reference.read_reference`:
    a value that is no number is a missing one, and a reference may lack columns."""
    from mlgate._spark import session_for

    file_format = _format_of(path)
    if file_format is None:
        raise InputError("reference data: unknown file type", file=path)
    if path.suffix.lower() in UNREADABLE:
        raise InputError(
            f"reference data: Spark has no {path.suffix} decompressor; recompress it with "
            "gzip or bzip2",
            file=path,
        )
    frame = _read(session_for(project), str(path), file_format, "reference", path)
    if file_format in ("csv", "tsv"):
        frame = _na_to_null(frame)
    kinds = {field.name: field.dataType for field in frame.schema.fields}
    columns = {**project.spec.features, **project.spec.sensitive_features}
    numeric = {n: "double" for n, c in columns.items() if c.is_numeric and n in kinds}
    return _values(frame, kinds, columns, numeric, ("", None)).persist()
