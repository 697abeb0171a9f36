"""Promotion: move aliases through staging, canary and production, keep their history
(the ledger, in the registry itself), roll back, and answer lineage questions."""

from mlgate.promotion.ledger import Entry, Ledger
from mlgate.promotion.moves import Outcome, Request, promote, rollback
from mlgate.promotion.store import ModelStore

__all__ = ["Entry", "Ledger", "ModelStore", "Outcome", "Request", "promote", "rollback"]
