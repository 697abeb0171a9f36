"""From `model.type` and `model.params` to a configured scikit-learn estimator.

`model.type` is a short name (picked per task), a full class path, or
`package.module:factory` for a team's own code. Parameters are checked against
the estimator's own before anything is trained.

The config names code that mlgate imports and calls, and a pull request can edit it
(`os:system` with `params: {command: ...}` would run a command). So a class path or
factory must come from scikit-learn, from a module whose file lies inside the model
repository (located with `importlib.util.find_spec`, before anything is imported), or
from a package the config trusts by name (`model.trusted_packages`, by prefix).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.config import did_you_mean
from mlgate.errors import MlgateError
from mlgate.project import Project

# short name -> (classifier, regressor); None where the family has no such model.
SHORT_NAMES: dict[str, tuple[str | None, str | None]] = {
    "GradientBoosting": (
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.GradientBoostingRegressor",
    ),
    "HistGradientBoosting": (
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.ensemble.HistGradientBoostingRegressor",
    ),
    "RandomForest": (
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.RandomForestRegressor",
    ),
    "ExtraTrees": ("sklearn.ensemble.ExtraTreesClassifier", "sklearn.ensemble.ExtraTreesRegressor"),
    "AdaBoost": ("sklearn.ensemble.AdaBoostClassifier", "sklearn.ensemble.AdaBoostRegressor"),
    "DecisionTree": ("sklearn.tree.DecisionTreeClassifier", "sklearn.tree.DecisionTreeRegressor"),
    "LogisticRegression": ("sklearn.linear_model.LogisticRegression", None),
    "LinearRegression": (None, "sklearn.linear_model.LinearRegression"),
    "Ridge": ("sklearn.linear_model.RidgeClassifier", "sklearn.linear_model.Ridge"),
    "Lasso": (None, "sklearn.linear_model.Lasso"),
    "ElasticNet": (None, "sklearn.linear_model.ElasticNet"),
    "SVM": ("sklearn.svm.SVC", "sklearn.svm.SVR"),
    "KNeighbors": (
        "sklearn.neighbors.KNeighborsClassifier",
        "sklearn.neighbors.KNeighborsRegressor",
    ),
    "MLP": ("sklearn.neural_network.MLPClassifier", "sklearn.neural_network.MLPRegressor"),
    "NaiveBayes": ("sklearn.naive_bayes.GaussianNB", None),
}

# Models that compare features by distance or by weight need scaled inputs.
_SCALE_SENSITIVE_MODULES = (
    "sklearn.linear_model",
    "sklearn.svm",
    "sklearn.neighbors",
    "sklearn.neural_network",
)

# Trusted without being listed in `model.trusted_packages`.
TRUSTED_BY_DEFAULT = ("sklearn",)

_CLASS_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


@dataclass(frozen=True)
class EstimatorChoice:
    """The estimator to train, as resolved from the config (not yet fitted)."""

    estimator: Any
    name: str
    needs_scaling: bool
    params: dict[str, Any]
    # The team's own modules (relative to the model repo) that the model needs to load.
    code_paths: tuple[str, ...] = ()


def choose_estimator(project: Project, task: str) -> EstimatorChoice:
    model = project.config.model
    written = model.type
    if ":" in written:
        return _from_factory(project, written, task)
    if model.code_paths:
        raise project.config_error(
            ("model", "code_paths"),
            f"only a package.module:factory model.type imports the team's code; {written} "
            "does not, so drop code_paths or write a factory",
        )
    if written in SHORT_NAMES:
        classifier, regressor = SHORT_NAMES[written]
        class_path = classifier if task == "classification" else regressor
        if class_path is None:
            other = "regression" if task == "classification" else "classification"
            raise project.config_error(
                ("model", "type"),
                f"{written} is a {other} model but the target makes this a {task} task; "
                f"pick a {task} model or set task in the feature spec",
            )
    elif _CLASS_PATH.match(written):
        class_path = written
    else:
        raise project.config_error(
            ("model", "type"),
            f"unknown model type '{written}'{did_you_mean(written, SHORT_NAMES)}; use a short "
            f"name ({', '.join(SHORT_NAMES)}), a class path like "
            "sklearn.ensemble.RandomForestClassifier, or package.module:factory",
        )
    estimator_class = _import_class(project, class_path)
    _check_task(project, estimator_class, task)
    params = _params_with_seed(project, estimator_class)
    _check_params(project, estimator_class, params)
    try:
        estimator = estimator_class(**params)
    except Exception as exc:  # a class that checks its parameters as it is made
        raise project.config_error(
            ("model", "params"),
            f"{estimator_class.__name__}(...) raised {type(exc).__name__}: {_first_line(exc)}",
        ) from None
    _validate_params(project, estimator, params)
    return EstimatorChoice(
        estimator=estimator,
        name=estimator_class.__name__,
        needs_scaling=estimator_class.__module__.startswith(_SCALE_SENSITIVE_MODULES),
        params=params,
    )


def _import_class(project: Project, class_path: str) -> type:
    module_name, _, class_name = class_path.rpartition(".")
    _check_trusted(project, module_name, class_path)
    try:
        module = importlib.import_module(module_name)
        estimator_class = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise project.config_error(
            ("model", "type"), f"cannot import {class_path}: {exc}"
        ) from None
    if not isinstance(estimator_class, type) or not hasattr(estimator_class, "fit"):
        raise project.config_error(
            ("model", "type"), f"{class_path} is not a scikit-learn estimator class (no fit method)"
        )
    return estimator_class


def _check_task(project: Project, estimator_class: type, task: str) -> None:
    from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor

    try:
        # scikit-learn reads an estimator's kind from its tags, which need an instance.
        probe = estimator_class()
        classifier, regressor = is_classifier(probe), is_regressor(probe)
    except Exception:  # a class without defaults for every parameter: judge by its mixins
        classifier = issubclass(estimator_class, ClassifierMixin)
        regressor = issubclass(estimator_class, RegressorMixin)
    name = estimator_class.__name__
    if task == "classification" and regressor:
        raise project.config_error(
            ("model", "type"),
            f"{name} is a regressor but the target makes this a classification task; pick a "
            "classifier, or set task: regression in the feature spec",
        )
    if task == "regression" and classifier:
        raise project.config_error(
            ("model", "type"),
            f"{name} is a classifier but the target makes this a regression task; pick a "
            "regressor, or set task: classification in the feature spec",
        )


def _params_with_seed(project: Project, estimator_class: type) -> dict[str, Any]:
    params = dict(project.config.model.params)
    names = _param_names(estimator_class)
    if "random_state" in names and "random_state" not in params:
        params["random_state"] = project.config.model.seed
    return params


def _param_names(estimator_class: type) -> list[str]:
    getter = getattr(estimator_class, "_get_param_names", None)
    if getter is not None:
        return list(getter())
    signature = inspect.signature(estimator_class.__init__)
    return [p for p in signature.parameters if p != "self"]


def _check_params(project: Project, estimator_class: type, params: dict[str, Any]) -> None:
    _check_param_names(project, estimator_class.__name__, _param_names(estimator_class), params)
    constraints = getattr(estimator_class, "_parameter_constraints", None)
    if not constraints:
        return
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    for name, value in params.items():
        try:
            validate_parameter_constraints(
                {name: constraints.get(name, "no_validation")},
                {name: value},
                caller_name=estimator_class.__name__,
            )
        except InvalidParameterError as exc:
            raise project.config_error(
                ("model", "params", name), _constraint_message(exc, value)
            ) from None


def _validate_params(project: Project, estimator: Any, params: dict[str, Any]) -> None:
    """scikit-learn's own check of every parameter, as `fit` would make it, without fitting.

    It sees what the per-parameter check above cannot: the estimator as built (a
    factory's, with its defaults) and constraints between parameters.
    """
    validate = getattr(estimator, "_validate_params", None)
    if not callable(validate):
        return
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        validate()
    except InvalidParameterError as exc:
        match = re.search(r"The '(\w+)' parameter", str(exc))
        name = match.group(1) if match else None
        if name is not None and name in params:
            value = estimator.get_params(deep=False).get(name, params[name])
            raise project.config_error(
                ("model", "params", name), _constraint_message(exc, value)
            ) from None
        raise project.config_error(("model", "type"), _first_line(exc)) from None
    except Exception:  # a team's own estimator with a check of its own: left to fit
        return


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _constraint_message(exc: Exception, value: Any) -> str:
    """sklearn says "The 'x' parameter of Y must be an int ... Got 'five' instead."."""
    match = re.search(r"must be (.*)\. Got .* instead\.?$", str(exc), re.S)
    if match is None:
        return str(exc)
    shown = json.dumps(value) if isinstance(value, str) else repr(value)
    return f"expected {match.group(1)}, got {shown}"


def _from_factory(project: Project, written: str, task: str) -> EstimatorChoice:
    if not _FACTORY.match(written):
        raise project.config_error(
            ("model", "type"), f"'{written}' is not of the form package.module:factory"
        )
    module_name, factory_name = written.split(":")
    factory, code_path = _import_from_repo(project, module_name, factory_name, written)
    params = dict(project.config.model.params)
    _check_factory_params(project, factory, params, written)
    try:
        estimator = factory(**params)
    except (Exception, SystemExit) as exc:  # the team's own code: any failure is theirs to fix
        raise project.config_error(
            ("model", "type"), f"{written}(...) raised {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise project.config_error(
            ("model", "type"),
            f"{written} returned {type(estimator).__name__}, not an estimator with fit/predict",
        )
    _check_task(project, type(estimator), task)
    _validate_params(project, estimator, params)
    return EstimatorChoice(
        estimator=estimator,
        name=type(estimator).__name__,
        # Same rule as for a class; a factory that returns its own Pipeline gets no scaler.
        needs_scaling=type(estimator).__module__.startswith(_SCALE_SENSITIVE_MODULES),
        params=params,
        code_paths=(*((code_path,) if code_path else ()), *project.config.model.code_paths),
    )


def _import_from_repo(
    project: Project, module_name: str, attribute: str, written: str
) -> tuple[Any, str | None]:
    """The factory, and the repo's top-level module or package it lives in (for MLflow)."""
    root = str(project.root)
    # The model's folder first, then the folder of each of model.code_paths (a shared package).
    folders = [root, *(str(folder) for folder in _code_path_folders(project))]
    added = [folder for folder in dict.fromkeys(folders) if folder not in sys.path]
    sys.path[0:0] = added
    try:
        _check_trusted(project, module_name, written)
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute)
        top = project.root / module_name.split(".")[0]
        code_path = next(
            (str(p.relative_to(project.root)) for p in (top, top.with_suffix(".py")) if p.exists()),
            None,
        )
        return factory, code_path
    except (ImportError, AttributeError) as exc:
        raise project.config_error(
            ("model", "type"),
            f"cannot load {written}: {exc} (modules are looked up from {Path(root).name}/)",
        ) from None
    except MlgateError:
        raise
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() on import too
        raise project.config_error(
            ("model", "type"), f"importing {module_name} raised {type(exc).__name__}: {exc}"
        ) from None
    finally:
        for folder in added:
            sys.path.remove(folder)


def _code_path_folders(project: Project) -> list[Path]:
    """The folders `model.code_paths` puts on sys.path; each entry must be in the repository."""
    from mlgate._repopaths import repository_root

    boundary = repository_root(project.root)
    folders: list[Path] = []
    for index, written in enumerate(project.config.model.code_paths):
        location = project.location(written)
        if not isinstance(location, Path) or not location.exists():
            raise project.config_error(
                ("model", "code_paths", index),
                f"{written} not found (looked in {project.root}); list folders or .py files of "
                "the repository, relative to mlgate.yaml",
            )
        if boundary is not None and not location.resolve().is_relative_to(boundary):
            raise project.config_error(
                ("model", "code_paths", index),
                f"{written} resolves outside the repository ({location.resolve()}); keep shared "
                "code in the repository",
            )
        folders.append(location.resolve().parent)
        _forget_elsewhere(location.stem if location.is_file() else location.name, location)
    return folders


def _forget_elsewhere(top: str, location: Path) -> None:
    """Drop a module `top` imported earlier in this process from another place (another
    repository's `common`), so the one at `location` is imported."""
    cached = sys.modules.get(top)
    origin = getattr(getattr(cached, "__spec__", None), "origin", None)
    places = list(getattr(cached, "__path__", None) or []) + ([origin] if origin else [])
    if cached is None or any(Path(p).resolve().is_relative_to(location.resolve()) for p in places):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def _check_factory_params(project: Project, factory: Any, params: dict, written: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    _check_param_names(project, written, list(signature.parameters), params)


def _check_param_names(project: Project, owner: str, valid: list[str], params: dict) -> None:
    for name in params:
        if name not in valid:
            raise project.config_error(
                ("model", "params", name),
                f"{owner} has no parameter '{name}'{did_you_mean(name, valid)}; "
                f"valid: {', '.join(valid) or 'none'}",
            )


def _check_trusted(project: Project, module_name: str, written: str) -> None:
    """Refuse code from outside the model repository unless its package is trusted.

    Only the top-level name is looked up (`find_spec` of a dotted name would import its
    parents): a module inside a repo package is the repo's, wherever the package says.
    """
    trusted = (*TRUSTED_BY_DEFAULT, *project.config.model.trusted_packages)
    if any(module_name == p or module_name.startswith(p + ".") for p in trusted):
        return
    top = module_name.split(".")[0]
    inside = _inside_repo(project, top)
    if inside or inside is None:  # None: no such module, and importing it says so
        return
    raise project.config_error(
        ("model", "type"),
        f"{written}: {top} is neither a module of the model repository nor a trusted "
        f"package; mlgate imports only scikit-learn, the repository's own code and the "
        f"packages listed in model.trusted_packages (add {top} there if you trust it)",
    )


def _inside_repo(project: Project, top: str) -> bool | None:
    """Whether the top-level module `top` is a file (or package folder) of the repo.

    None: there is no such module anywhere (importing it then says so). The repo's own
    module is looked up in the repo alone, not through `sys.modules`: a module of that name
    imported earlier in this process from elsewhere is forgotten, so the repo's is loaded.
    """
    import importlib.machinery

    root = project.root.resolve()
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, [str(root)])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        places = list(spec.submodule_search_locations or [])
        if spec.origin and spec.has_location:
            places.append(spec.origin)
        if not places or not all(Path(p).resolve().is_relative_to(root) for p in places):
            return False  # e.g. a symlink out of the repository
        cached = sys.modules.get(top)
        if cached is not None and getattr(cached, "__spec__", None) != spec:
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
        return True
    try:
        elsewhere = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    return None if elsewhere is None else False
