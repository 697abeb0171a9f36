"""The MLflow edge: every call mlgate makes to a tracking server or its model registry.

- `uri`: which tracking server (the one resolver of the tracking URI) and how to name it.
- `client`: opening an MlflowClient with mlgate's MLflow settings, and `calls`, which
  turns MLflow's and the network's failures into one ServiceError line (exit 3).
- `aliases`: the one reader of `model@alias` (the champion included), and moving aliases.
- `registry`: the register stage's side: log a run, register a version, find one by
  its fingerprint, read the champion, log and read a version's files.
- `model_store`: one registered model's aliases, tags and versions, for promotion,
  lineage and build-image.
- `tags`: every `mlgate.*` tag key, defined once.

MLflow is imported inside the functions that call it: importing it takes seconds, and
`mlgate --help` or a run with nothing to do must not pay for it.
"""
