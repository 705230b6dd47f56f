"""Imports every table so that `Base.metadata` is whole (for Alembic and test checks)."""

from backend import api  # noqa: F401  (idempotency_keys)
from backend.apikeys import models as apikeys_models  # noqa: F401
from backend.audit import models as audit_models  # noqa: F401
from backend.auth import models as auth_models  # noqa: F401
from backend.chains import models as chains_models  # noqa: F401
from backend.db import Base
from backend.events import models as events_models  # noqa: F401
from backend.keys import models as keys_models  # noqa: F401
from backend.ledger import models as ledger_models  # noqa: F401
from backend.limits import models as limits_models  # noqa: F401
from backend.notifications import models as notifications_models  # noqa: F401
from backend.quotes import models as quotes_models  # noqa: F401
from backend.transfers import models as transfers_models  # noqa: F401
from backend.treasury import models as treasury_models  # noqa: F401
from backend.users import models as users_models  # noqa: F401
from backend.withdrawals import models as withdrawals_models  # noqa: F401

metadata = Base.metadata
