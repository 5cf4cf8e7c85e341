# SPDX-License-Identifier: GPL-3.0-or-later
"""An API key checked with ``GET /v1/models``; a server without that route takes it unchecked."""

from __future__ import annotations

import pytest

from companion.backend.client import BackendClient
from companion.backend.errors import HttpError, Unauthorized
from companion.backend.key_check import check_api_key
from companion.backend.signin import API_KEY_ACCOUNT, fetch_account
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault, ReferenceBackend


def test_a_right_key_passes_a_wrong_one_does_not(reference_backend: ReferenceBackend) -> None:
    with BackendClient(
        base_url=reference_backend.openai_url, token=lambda: reference_backend.token
    ) as c:
        check_api_key(c)
    wrong = BackendClient(base_url=reference_backend.openai_url, token=lambda: "sk-wrong")
    with wrong, pytest.raises(Unauthorized):
        check_api_key(wrong)


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_a_model_list_takes_the_key(
    reference_backend: ReferenceBackend, sentry_transport: RecordingTransport, status: int
) -> None:
    reference_backend.inject(Fault(status=status, path="/v1/models", body='{"detail":"Not Found"}',
                                   content_type="application/json"))  # fmt: skip
    assert fetch_account(reference_backend.openai_url, "any") == API_KEY_ACCOUNT
    assert sentry_transport.events == []


def test_other_failures_still_fail(reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(Fault(status=500, path="/v1/models"))
    with pytest.raises(HttpError):
        fetch_account(reference_backend.openai_url, reference_backend.token)
