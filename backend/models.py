"""Imports every table so that `Base.metadata` is whole (for Alembic and test checks)."""

from backend import api
from backend.apikeys import models as apikeys_models
from backend.audit import models as audit_models
from backend.auth import models as auth_models
from backend.chains import models as chains_models
from backend.db import Base
from backend.events import models as events_models
from backend.keys import models as keys_models
from backend.ledger import models as ledger_models
from backend.limits import models as limits_models
from backend.notifications import models as notifications_models
from backend.quotes import models as quotes_models
from backend.transfers import models as transfers_models
from backend.treasury import models as treasury_models
from backend.users import models as users_models
from backend.withdrawals import models as withdrawals_models

# Every module that declares tables: importing them is what makes the metadata whole.
TABLE_MODULES = (
    api,  # idempotency_keys
    apikeys_models,
    audit_models,
    auth_models,
    chains_models,
    events_models,
    keys_models,
    ledger_models,
    limits_models,
    notifications_models,
    quotes_models,
    transfers_models,
    treasury_models,
    users_models,
    withdrawals_models,
)
metadata = Base.metadata
