"""build a serving container image of a registered model version, and push it.

The image serves the version with MLflow's pyfunc scoring server (/ping,
/invocations) plus Prometheus metrics on /metrics. Its Dockerfile comes from a
Jinja2 template; the base image is pinned by digest (`serving.base_image`); the
requirements are the model's own pins, from a package index or, offline, from a
wheel directory (`serving.wheels`). With --push, the image goes to
`serving.repository` and its digest is tagged on the version (`mlgate.image`). With
--flavor onnx (`serving.flavor`) the image serves the version's model.onnx (`export.onnx`)
on onnxruntime only, tagged `v<version>-onnx`, and answers the same endpoints.
"""

from __future__ import annotations

import argparse
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from mlgate.commands.promote import add_common

    parser.add_argument(
        "target", metavar="MODEL[@ALIAS | :VERSION]", help="e.g. production-churn-model@production"
    )
    parser.add_argument(
        "--push", action="store_true", help="push the image and tag its digest on the version"
    )
    parser.add_argument(
        "--base-image", metavar="NAME@sha256:DIGEST", help="base image (serving.base_image)"
    )
    parser.add_argument(
        "--repository", metavar="[REGISTRY/]NAME", help="image repository (serving.repository)"
    )
    parser.add_argument(
        "--wheels",
        metavar="DIR",
        help="install from this wheel directory, offline (serving.wheels)",
    )
    parser.add_argument(
        "--flavor",
        choices=("sklearn", "onnx"),
        help="serve the scikit-learn model with MLflow, or model.onnx with onnxruntime only "
        "(serving.flavor)",
    )
    parser.add_argument(
        "--shadow",
        metavar="MODEL[@ALIAS | :VERSION]",
        help="also hold this version, which scores a copy of the requests off the request "
        "path (serving.shadow_sample); the answers stay the primary's",
    )
    parser.add_argument(
        "--monitoring-out",
        metavar="DIR",
        help="also write a Grafana dashboard and Prometheus alerting rules for this model "
        "into DIR (thresholds: serving.alerts)",
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from mlgate._actions_io import append_summary, write_outputs
    from mlgate._markdown import code
    from mlgate.commands._promotion import open_store, resolve_version
    from mlgate.errors import InputError, ServiceError, UsageError
    from mlgate.project import DEFAULT_CONFIG_NAME, find_config, load_project
    from mlgate.promotion.audit import parse_target
    from mlgate.serving import build, engine, plan
    from mlgate.tracking.tags import IMAGE as IMAGE_TAG

    model, _, _ = parse_target(args.target)
    store, project = open_store(args.config, model)
    if project is None and Path(DEFAULT_CONFIG_NAME).is_file():
        # The tracking URI came from the environment; the serving settings still come
        # from the model repository's config, as for every other command run in it.
        project = load_project(find_config(None))
    settings = _settings(args, project)
    if args.push and settings.repository is None:
        raise UsageError(
            "--push needs a repository to push to: set serving.repository in mlgate.yaml "
            "or pass --repository REGISTRY/NAME"
        )
    info = resolve_version(store, args.target)
    if info.status != "READY":
        raise InputError(
            f"{model} v{info.version} is {info.status}, not READY: its files may be incomplete; "
            "register it again or build another version"
        )
    shadow = _shadow(args, store, settings, info)
    names = plan.image_names(
        model,
        info.version,
        settings.repository,
        settings.flavor,
        shadow.info.version if shadow is not None else None,
    )
    monitoring = _monitoring_folder(args.monitoring_out)  # before the build: no late surprise

    from mlgate._actions_io import one_line

    def progress(line: str) -> None:  # the engine's lines and image names, one line each
        print(one_line(line), file=sys.stderr, flush=True)

    client = engine.connect()  # before any download: no engine, no work
    engine.ensure_base_image(client, settings.base_image, settings.base_key, progress)
    built, labels = build.build_image(
        client, store, info, model, settings, names.reference, progress, shadow
    )
    pushed = None
    if args.push:
        progress(f"pushing {names.reference}")
        digest = engine.push(client, names.repository, names.tag, progress)
        pushed = f"{names.repository}@{digest}"
        try:
            store.set_version_tag(info.version, IMAGE_TAG, pushed)
        except ServiceError as error:
            raise ServiceError(
                f"pushed {pushed}, but tagging it on v{info.version} failed ({error}); "
                f"run again to tag it (the push is repeated at no cost)"
            ) from None

    written: list[Any] = []
    if monitoring is not None:
        written = _write_monitoring(monitoring, model, info.version, project)
        progress(f"wrote {', '.join(str(path) for path in written)}")

    record: dict[str, Any] = {
        "model": model,
        "version": info.version,
        "image": names.reference,
        "image_id": built.image_id,
        "pushed": pushed,
        "base_image": settings.base_image,
        "offline": settings.wheels is not None,
        "labels": labels,
        "shadow": (
            {"model": shadow.model, "version": shadow.info.version} if shadow is not None else None
        ),
        "monitoring": [str(path) for path in written],
    }
    write_outputs(
        {
            "image": names.reference,
            "image-id": built.image_id,
            "digest": pushed.rpartition("@")[2] if pushed else "",
            "pushed-image": pushed or "",
            "version": info.version,
        }
    )
    said = f"built {names.reference} ({built.image_id[:19]}) for {model} v{info.version}"
    if pushed:
        said += f"; pushed as {pushed}, tagged {IMAGE_TAG} on v{info.version}"
    append_summary(f"**mlgate** · {code(said)}")
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(one_line(said))
    return 0


def _settings(args: argparse.Namespace, project: Any) -> Any:
    """`serving:` from the config, with the command line's options on top."""
    from pathlib import Path

    from mlgate.config import ServingSection
    from mlgate.errors import ConfigError, UsageError
    from mlgate.serving import context, plan
    from mlgate.serving.build import Settings

    section = project.config.serving if project is not None else ServingSection()
    root = project.root if project is not None else Path.cwd()
    base_image, base_key = section.base_image, "serving.base_image"
    if args.base_image is not None:
        base_image, base_key = (
            _checked(plan.pinned_image, args.base_image, "--base-image"),
            "--base-image",
        )
    if base_image is None:
        raise ConfigError(
            "no base image: set serving.base_image in mlgate.yaml, or pass --base-image, "
            "to an image with Python pinned by digest (NAME@sha256:...)"
        )
    repository = section.repository
    if args.repository is not None:
        repository = args.repository
    if repository is not None:
        try:
            plan.check_repository(repository)
        except ValueError as error:
            if args.repository is not None:
                raise UsageError(f"--repository: {error}") from None
            raise ConfigError(str(error), key="serving.repository") from None
    wheels, wheels_key = None, None
    if args.wheels is not None:
        wheels, wheels_key = context.check_wheels(Path(args.wheels), "--wheels"), "--wheels"
    elif section.wheels is not None:
        wheels_key = "serving.wheels"
        wheels = context.check_wheels(root / section.wheels, wheels_key)
    template = None
    if section.template is not None:
        template = root / section.template
        if not template.is_file():
            raise ConfigError(
                f"the Dockerfile template {template} does not exist", key="serving.template"
            )
    return Settings(
        base_image=base_image,
        base_key=base_key,
        repository=repository,
        wheels=wheels,
        wheels_key=wheels_key,
        template=template,
        port=section.port,
        prediction_buckets=section.prediction_buckets,
        log_sample=section.log_sample,
        log_to=section.log_to,
        log_batch_rows=section.log_batch_rows,
        log_flush_seconds=section.log_flush_seconds,
        flavor=args.flavor or section.flavor,
        flavor_key="--flavor" if args.flavor else "serving.flavor",
        shadow_sample=section.shadow_sample,
    )


def _shadow(args: argparse.Namespace, store: Any, settings: Any, primary: Any) -> Any:
    """The --shadow version, resolved like the target (another model's store when it names
    another model), or None."""
    from mlgate.commands._promotion import open_store, resolve_version
    from mlgate.errors import InputError, UsageError
    from mlgate.promotion.audit import parse_target
    from mlgate.serving.build import ShadowSource

    if args.shadow is None:
        return None
    if settings.flavor != "sklearn":
        raise UsageError(
            f"--shadow needs the sklearn flavour: an {settings.flavor} image holds no MLflow to "
            f"load a shadow with ({settings.flavor_key})"
        )
    model, _, _ = parse_target(args.shadow)
    shadow_store = store if model == store.name else open_store(args.config, model)[0]
    info = resolve_version(shadow_store, args.shadow)
    if model == store.name and info.version == primary.version:
        raise UsageError(f"--shadow {args.shadow} is v{info.version}, the version served")
    if info.status != "READY":
        raise InputError(f"the shadow {model} v{info.version} is {info.status}, not READY")
    return ShadowSource(shadow_store, info, model)


def _monitoring_folder(where: str | None) -> Any:
    """The --monitoring-out folder, made now, so that a bad one fails before the build."""
    from pathlib import Path

    from mlgate.errors import UsageError

    if where is None:
        return None
    folder = Path(where)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--monitoring-out {where}: {error.strerror or error}") from None
    return folder


def _write_monitoring(folder: Any, model: str, version: str, project: Any) -> list[Any]:
    """The dashboard and the alerting rules for `model` (README "Observability")."""
    from mlgate.config import ServingAlertsSection
    from mlgate.errors import UsageError
    from mlgate.serving import observability

    alerts = project.config.serving.alerts if project is not None else ServingAlertsSection()
    thresholds = observability.Thresholds(
        error_ratio=alerts.error_ratio,
        p99_seconds=alerts.p99_seconds,
        for_=alerts.for_,
        prediction_shift=alerts.prediction_shift,
        shadow_agreement=alerts.shadow_agreement,
        shadow_abs_difference=alerts.shadow_abs_difference,
        runbook_url=alerts.runbook_url or observability.RUNBOOK_URL,
    )
    written: list[Any] = []
    for name, text in observability.render(model, version, thresholds).items():
        path = folder / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--monitoring-out: {path}: {error.strerror or error}") from None
        written.append(path)
    return written


def _checked(check: Any, value: str, option: str) -> str:
    from mlgate.errors import UsageError

    try:
        return check(value)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None
