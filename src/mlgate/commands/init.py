"""scaffold mlgate.yaml, a feature spec and a starting suite from a data file.

Profiles the data (types, nulls, categories, ranges) and writes mlgate.yaml,
configs/features.yaml and expectations/<name>.yml (with --engine pandera, the same
checks as a Pandera schema, schemas/<name>.yaml) into DIR; with --cluster URL, a
compute section on that Spark cluster and a hyperparameter search to run there.
Existing files are never overwritten.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the model repo (.)")
    parser.add_argument(
        "--data", metavar="FILE", help="training data to profile (default: the one in DIR/data)"
    )
    parser.add_argument(
        "--validation",
        metavar="FILE",
        help="held-out data (default: validation.csv beside train.csv, or valid/val/test)",
    )
    parser.add_argument("--target", metavar="COLUMN", help="the column to predict")
    parser.add_argument(
        "--name", metavar="NAME", help="registered model name (default: DIR's name)"
    )
    parser.add_argument(
        "--engine",
        choices=("pandas", "pandera"),
        default="pandas",
        help="draft a Great Expectations suite (pandas) or a Pandera schema (pandera)",
    )
    parser.add_argument(
        "--cluster",
        metavar="URL",
        help="draft compute.cluster (spark://HOST:PORT, sc://HOST:PORT or local[N]) and a "
        "model.search to run on it",
    )


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from mlgate import _scaffold as scaffold
    from mlgate.errors import InputError, UsageError
    from mlgate.project import DEFAULT_CONFIG_NAME

    folder = Path(args.dir).absolute()
    if not folder.is_dir():
        raise UsageError(f"{args.dir} is not a folder; create it or give the model repo's folder")
    data = Path(args.data).absolute() if args.data else scaffold.find_data_file(folder)
    if not data.is_file():
        raise InputError(f"--data {args.data} not found")
    validation = (
        Path(args.validation).absolute() if args.validation else scaffold.find_validation_file(data)
    )
    if validation is None:
        raise InputError(
            f"no held-out data beside {data.name} (validation.csv, valid, val or test); "
            "give one with --validation FILE"
        )
    if not validation.is_file():
        raise InputError(f"--validation {args.validation} not found")
    name = args.name or folder.name
    from mlgate.config import usable_registry_name

    if not usable_registry_name(name):  # checked before anything is written
        raise UsageError(
            f"'{name}' is not a usable registered model name (letters, digits, '.', '_', "
            "'-' or spaces); give one with --name"
        )
    if args.cluster is not None:
        from mlgate._spark import ACCEPTED, parse_cluster

        if parse_cluster(args.cluster) is None:  # checked before anything is written
            raise UsageError(f"--cluster {args.cluster!r} is not a Spark master; give {ACCEPTED}")
    import pandas as pd

    frame = scaffold.read_data(data)
    # Ranges and categories are drawn from both files, so the drafts pass on the data
    # they came from; the row-count floor comes from the training file alone.
    held_out = scaffold.read_data(validation)
    missing = [column for column in frame.columns if column not in held_out.columns]
    if missing:
        raise InputError(
            f"column '{missing[0]}' of {data.name} is missing from the held-out data",
            file=validation,
        )
    draft = scaffold.draft(
        pd.concat([frame, held_out[frame.columns]], ignore_index=True),
        training_rows=len(frame.index),
        target=args.target,
        name=name,
        training_path=_relative(data, folder),
        validation_path=_relative(validation, folder),
        data_file=data,
        held_out=held_out[frame.columns],
    )
    if args.engine == "pandera":  # the same checks, as a Pandera schema
        suite_text = scaffold.render_schema(draft.suite, data.name)
        slug = draft.config["validation"]["suite"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        draft.config["validation"] = {"engine": "pandera", "suite": f"schemas/{slug}.yaml"}
    else:
        suite_text = scaffold.render_suite(draft.suite, data.name)
    if args.cluster is not None:
        scaffold.draft_cluster(draft, args.cluster)
    suite_path = folder / draft.config["validation"]["suite"]
    outputs = {
        folder / DEFAULT_CONFIG_NAME: scaffold.render_config(draft.config, draft.gate_comments),
        folder / "configs" / "features.yaml": scaffold.render_spec(draft.spec, data.name),
        suite_path: suite_text,
    }
    existing = [path for path in outputs if path.exists()]
    if existing:
        shown = ", ".join(_relative(path, Path.cwd()) for path in existing)
        them = "it" if len(existing) == 1 else "them"
        verb = "exists" if len(existing) == 1 else "exist"
        raise InputError(
            f"{shown} already {verb}; mlgate init never overwrites, move {them} away first"
        )
    ignore = folder / ".gitignore"
    if not ignore.exists():  # the MLflow store and run directories must not be committed
        outputs[ignore] = (
            "# mlgate's local state: the MLflow store, run directories, caches\n.mlgate/\n"
        )
    elif ".mlgate" not in ignore.read_text(encoding="utf-8", errors="replace"):
        draft.notes.append("add `.mlgate/` to .gitignore: it holds the local MLflow store and runs")
    for path, content in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:
            handle.write(content)
    _check(folder / DEFAULT_CONFIG_NAME)
    from mlgate._actions_io import one_line

    # Paths, file names and notes (which name columns) as one line each: a value with a
    # line break cannot start a line the runner would read as a workflow command.
    rows = f"{len(frame.index):,} rows × {len(frame.columns)} columns"
    print(one_line(f"mlgate init · {rows} of {data.name}"))
    for path in outputs:
        print(one_line(f"  wrote {_relative(path, Path.cwd())}"))
    for note in draft.notes:
        print(one_line(f"  note: {note}"))
    print(one_line(f"next: review the files, then `mlgate validate {os.path.relpath(folder)}`"))
    return 0


def _check(config_path) -> None:
    """The drafts must load as a project: a scaffold that fails its own checks is a bug."""
    from mlgate.project import load_project

    load_project(config_path)


def _relative(path, base) -> str:
    import os

    relative = os.path.relpath(path, base)
    return path.as_posix() if relative.startswith("..") else relative.replace(os.sep, "/")
