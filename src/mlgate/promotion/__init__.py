"""Promotion: move aliases through staging, canary and production, keep their history
(the ledger, in the registry itself), roll back, and answer the audit questions.

`moves` plans and commits promotions and rollbacks, `ledger` keeps the alias history
and its claim protocol, `rules` says what must hold before a version may move,
`audit` answers `mlgate lineage`, `deploy` records GitHub deployments. The registry
itself is reached through `mlgate.tracking.model_store`.
"""
