"""Every Qpeapay process (api, web, worker) runs at CPython's default recursion limit; this
module, imported by `contract` itself, puts it back.

py_ecc (pulled in by web3 and eth-account) raises the limit to 100,000 when first imported.
At that limit deeply nested input recurses in C until the thread's stack overflows and the
process dies of SIGSEGV, where the default limit raises a RecursionError first. Importing
py_ecc here, then setting the limit back, spends its side effect once, now: a later import
finds it loaded and changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

DEFAULT_RECURSION_LIMIT = 1000  # CPython's own default

# Installed packages known to raise the limit when imported.
RAISES_THE_LIMIT = ("py_ecc",)


def restore_recursion_limit() -> None:
    for name in RAISES_THE_LIMIT:
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)


restore_recursion_limit()
