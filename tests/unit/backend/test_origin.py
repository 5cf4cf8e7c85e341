# SPDX-License-Identifier: GPL-3.0-or-later
"""OriginBoundSession against real servers on 127.0.0.1: same-origin redirects followed with
method and body kept, every other 3xx refused before anything reaches its target."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from companion.backend import origin
from companion.backend.origin import Origin, OriginBoundSession, RedirectBlocked, origin_of
from tests.support.other_origin import OtherOrigin
from tests.support.reference_backend import ReferenceBackend

PATH = "/anything"


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        server.require_auth = False
        yield server


@pytest.fixture
def other() -> Iterator[OtherOrigin]:
    with OtherOrigin() as server:
        yield server


@pytest.fixture
def session() -> Iterator[OriginBoundSession]:
    with OriginBoundSession() as s:
        yield s


def test_origin_of() -> None:
    assert origin_of("http://Example.org/a?b") == Origin("http", "example.org", 80)
    assert origin_of("HTTPS://example.org:443/") == Origin("https", "example.org", 443)
    assert origin_of("http://[::1]:8080/x") == Origin("http", "::1", 8080)
    assert str(Origin("http", "::1", 8080)) == "http://[::1]:8080"
    assert str(Origin("https", "example.org", 443)) == "https://example.org"
    assert origin_of("http://user:pw@h:81/p") == Origin("http", "h", 81)
    for bad in ("ftp://h/", "http:///nohost", "http://h:99999/", "not a url", ""):
        assert origin_of(bad) is None
    assert origin.shown_origin("http://user:secret@h:81/p?token=t") == "http://h:81"


@given(st.sampled_from(["http", "https"]), st.integers(1, 65535), st.text("abc/?=&", max_size=12))
def test_paths_and_queries_never_change_the_origin(scheme: str, port: int, tail: str) -> None:
    base = f"{scheme}://host.example:{port}"
    assert origin_of(base + "/" + tail) == origin_of(base)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_same_origin_redirects_keep_method_and_body(
    status: int, backend: ReferenceBackend, session: OriginBoundSession
) -> None:
    backend.inject(status=status, location="/moved?x=1", path=PATH)
    resp = session.post(backend.url + PATH, json={"input": "hello"}, headers={"X-T": "1"})
    assert resp.status_code == 200 and resp.json()["data"] == {"method": "POST", "path": "/moved"}
    first, second = backend.requests
    assert (second.method, second.json, second.headers["X-T"]) == ("POST", {"input": "hello"}, "1")
    assert first.json == second.json


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_another_origin_is_refused(
    status: int, backend: ReferenceBackend, other: OtherOrigin, session: OriginBoundSession
) -> None:
    backend.inject(status=status, location=other.url + PATH, path=PATH)
    with pytest.raises(RedirectBlocked) as caught:
        session.post(backend.url + PATH, json={"input": "secret"}, stream=True)
    err = caught.value
    assert (err.status, err.reason, err.target) == (status, "other_origin", other.url)
    assert err.origin == backend.url and "secret" not in str(err) and other.url not in str(err)
    assert other.untouched


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1:{port}/x",  # another scheme, same host and port
        "http://localhost:{port}/x",  # the same machine, by another name
        "http://127.0.0.1:{other}/x",  # another port
    ],
)
def test_scheme_host_and_port_each_make_another_origin(
    location: str, backend: ReferenceBackend, other: OtherOrigin, session: OriginBoundSession
) -> None:
    target = location.format(port=backend.port, other=other.url.rsplit(":", 1)[1])
    backend.inject(status=307, location=target, path=PATH)
    with pytest.raises(RedirectBlocked) as caught:
        session.get(backend.url + PATH)
    assert caught.value.reason == "other_origin"
    assert other.untouched and len(backend.requests) == 1


def test_allow_redirects_false_does_not_hand_back_a_3xx(
    backend: ReferenceBackend, other: OtherOrigin, session: OriginBoundSession
) -> None:
    backend.inject(status=302, location=other.url, path=PATH)
    with pytest.raises(RedirectBlocked):
        session.get(backend.url + PATH, allow_redirects=False)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 302}, "no_location"),
        ({"status": 304}, "no_location"),
        ({"status": 302, "location": "http://[::1"}, "no_location"),
        ({"status": 302, "location": "ftp://127.0.0.1/x"}, "other_origin"),
        ({"status": 307, "location": PATH, "times": 99}, "too_many"),
    ],
)
def test_other_3xx_answers_are_refused(
    fault: dict[str, object], reason: str, backend: ReferenceBackend, session: OriginBoundSession
) -> None:
    backend.inject(path=PATH, **fault)
    with pytest.raises(RedirectBlocked) as caught:
        session.get(backend.url + PATH)
    assert caught.value.reason == reason
    if reason == "too_many":
        assert len(backend.requests) == 1 + origin.MAX_HOPS


def test_the_hop_limit_is_the_sessions(backend: ReferenceBackend) -> None:
    backend.inject(status=308, location=PATH, path=PATH, times=2)
    with OriginBoundSession(max_hops=1) as short, pytest.raises(RedirectBlocked):
        short.get(backend.url + PATH)
    backend.clear_faults()
    backend.inject(status=308, location=PATH, path=PATH, times=2)
    with OriginBoundSession(max_hops=2) as enough:
        assert enough.get(backend.url + PATH).status_code == 200


def test_a_plain_answer_is_untouched(
    backend: ReferenceBackend, session: OriginBoundSession
) -> None:
    resp = session.get(backend.url + PATH)
    assert resp.status_code == 200 and not resp.history
    assert isinstance(resp, requests.Response)
