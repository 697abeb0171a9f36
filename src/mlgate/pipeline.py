"""The stages of `mlgate run`: their order, the words a reader sees, and their commands.

The one list of stages. The CLI builds its stage commands from it, the orchestrator
(`mlgate.run`) runs them in this order, and the report, the card and the cache name
them from here. Pure data: importing it costs nothing, so `mlgate --help` stays fast.
"""

from __future__ import annotations


class Stage:
    """One stage. A plain class, not a dataclass: `dataclasses` imports `inspect`, which
    would double the start-up of `mlgate --help`."""

    __slots__ = ("always_shown", "help", "label", "name", "stops_the_run")

    def __init__(
        self,
        name: str,
        label: str,  # how the report's verdict table names it
        help: str,  # the summary of `mlgate <name>`
        stops_the_run: bool = False,  # a FAILED verdict stops the stages after it
        always_shown: bool = False,  # in the report's verdict table even when it passed
    ) -> None:
        self.name = name
        self.label = label
        self.help = help
        self.stops_the_run = stops_the_run
        self.always_shown = always_shown

    def __repr__(self) -> str:
        return f"Stage({self.name!r})"

    @property
    def module(self) -> str:
        """The module holding the stage's compute: `run(session) -> <Stage>Result`."""
        return f"{__package__}.stages.{self.name}"

    @property
    def result_file(self) -> str:
        return f"{self.name}.json"


STAGES: tuple[Stage, ...] = (
    Stage(
        "validate",
        "data validation",
        "check the data: the feature spec, the expectation suite, drift",
        stops_the_run=True,  # bad data must never reach training
        always_shown=True,
    ),
    Stage("train", "training", "read and check the data, then train the model"),
    Stage(
        "evaluate",
        "evaluation",
        "score the trained model and judge the evaluation gates",
        always_shown=True,
    ),
    Stage(
        "fairness",
        "fairness",
        "judge the model's predictions group by group (Fairlearn)",
        always_shown=True,
    ),
    Stage("card", "model card", "write the model card (markdown and HTML) from the stage results"),
    Stage(
        "register",
        "registry",
        "log the run to MLflow and register the model if every gate passed",
        always_shown=True,
    ),
)

NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
LABELS: dict[str, str] = {stage.name: stage.label for stage in STAGES}
BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}

# What each stage command runs in a fresh process: `train` starts a new run (it needs the
# data checked first); the others continue the latest run (or --run-dir).
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "run": (NAMES, "new"),
    "validate": (("validate",), "new"),
    "train": (("validate", "train"), "new"),
    "evaluate": (("evaluate",), "existing"),
    "fairness": (("fairness",), "existing"),
    "card": (("card",), "existing"),
    "register": (("register",), "existing"),
}
RUN_HELP = "every stage in order: " + ", ".join(NAMES)


def before(name: str) -> tuple[str, ...]:
    """The stages that run before `name`, in order."""
    return NAMES[: NAMES.index(name)]
