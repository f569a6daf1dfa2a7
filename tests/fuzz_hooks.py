"""Schemathesis hooks for tests/integration/test_fuzz.py (loaded via SCHEMATHESIS_HOOKS).

The fuzzer learns key ids from `GET /v1/admin/keys` and would sooner or later revoke its
own key, leaving every later request a 401. Requests to revoke that one key are pointed
at an id that does not exist instead.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

PROTECTED_KEY_ID = os.environ.get("HELPSTREAM_FUZZ_KEY_ID", "")
UNKNOWN_KEY_ID = str(2**63 - 2)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    parameters = case.path_parameters or {}
    if "key_id" in parameters and str(parameters["key_id"]) == PROTECTED_KEY_ID:
        parameters["key_id"] = UNKNOWN_KEY_ID
