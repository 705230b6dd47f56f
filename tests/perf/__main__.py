"""`python -m tests.perf [name ...]`: run every benchmark, or the named ones (`ledger`)."""

from tests.perf.harness import main

raise SystemExit(main())
