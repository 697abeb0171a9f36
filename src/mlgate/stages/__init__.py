"""One module per stage of `mlgate run`, each holding that stage's compute.

Each module `mlgate.stages.<name>` (the names and order are `mlgate.pipeline.STAGES`)
has `run(session) -> <Name>Result` (`mlgate.results`). A stage reads what earlier
stages left through the `Session`: in memory within one process, or from the run
directory when stages run as separate commands. Stages import `mlgate.results` and
the layers below (data, training, metrics, validation, fairness, the MLflow edge),
never the orchestrator (`mlgate.run`), the report or the commands.
"""
