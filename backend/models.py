"""Imports every table so that `Base.metadata` is whole (for Alembic and test checks)."""

from backend import api  # noqa: F401  (idempotency_keys)
from backend.db import Base
from backend.ledger import models as ledger_models  # noqa: F401

metadata = Base.metadata
