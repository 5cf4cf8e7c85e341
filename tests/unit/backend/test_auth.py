# SPDX-License-Identifier: GPL-3.0-or-later
"""The session store: keyring or 0600 file, JWT expiry known locally, env token, sign out."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail
from keyring.compat import properties

from companion import config
from companion.backend import policy
from companion.backend.auth import (
    CREDENTIALS_FILE,
    SERVICE,
    Account,
    SecretStore,
    SessionStore,
    SignedOut,
    jwt_expiry,
)
from companion.backend.client import BackendClient
from companion.backend.errors import NotSent, Unauthorized
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend

URL = "http://127.0.0.1:9/"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in memory (the OS one is not here)."""

    @properties.classproperty
    def priority(cls) -> float:
        # Not viable: defining a backend registers it, and keyring.get_keyring() would pick
        # it as the machine's keyring. It is only ever passed in explicitly.
        raise RuntimeError("test keyring: pass it in explicitly")

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.data.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not there")


class LockedKeyring(MemoryKeyring):
    """A keyring that is there but refuses to store (a locked collection)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


def _file_store(cfg: Path) -> SecretStore:
    return SecretStore(backend=fail.Keyring(), path=cfg / CREDENTIALS_FILE)


def test_this_machine_has_no_keyring_so_the_default_is_the_file() -> None:
    assert SecretStore().using_file  # keyring.get_keyring() is the fail backend here


def test_jwt_expiry_is_read_from_the_payload() -> None:
    auth = ReferenceAuth()
    token = auth.issue(lifetime_s=120)
    exp = jwt_expiry(token)
    assert exp == auth.issued[token].exp
    assert jwt_expiry("tok-0123456789abcdef") is None
    assert jwt_expiry("a.b.c") is None
    assert jwt_expiry("a.eyJleHAiOiAieCJ9.c") is None  # exp not a number


def test_no_keyring_backend_writes_a_0600_file_and_a_notice(_private_config_dir: Path) -> None:
    session = SessionStore(base_url=URL, secrets=SecretStore(), env={})
    token = ReferenceAuth().issue()
    notice = session.store(token, account=Account(name="Ann"))
    path = _private_config_dir / CREDENTIALS_FILE
    assert notice is not None and str(path) in notice and "\n" not in notice
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in _private_config_dir.iterdir()] == [CREDENTIALS_FILE]  # no temp left
    # A new run finds it (key per backend URL, trailing slash or not).
    again = SessionStore(base_url=URL.rstrip("/"), secrets=SecretStore(), env={})
    assert again.token() == token and again.source == "file" and again.signed_in
    # Never in the settings file.
    config.save_settings(config.Settings(backend_url=URL))
    assert token not in (_private_config_dir / "settings.json").read_text()


def test_the_file_is_replaced_atomically_and_keeps_its_mode(_private_config_dir: Path) -> None:
    store = _file_store(_private_config_dir)
    store.set("http://a", "first-token")
    inode = os.stat(store.path).st_ino
    store.set("http://b", "second-token")
    assert os.stat(store.path).st_ino != inode  # a new file renamed over the old one
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.get("http://a") == "first-token" and store.get("http://b") == "second-token"
    store.delete("http://a")
    assert store.get("http://a") is None and store.get("http://b") == "second-token"


def test_a_damaged_file_is_ignored(_private_config_dir: Path) -> None:
    store = _file_store(_private_config_dir)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{ not json")
    assert store.get(URL) is None
    store.set(URL, "t-1")
    assert store.get(URL) == "t-1"


def test_a_keyring_keeps_it_under_companion_per_url(_private_config_dir: Path) -> None:
    ring = MemoryKeyring()
    store = SecretStore(backend=ring)
    session = SessionStore(base_url=URL, secrets=store, env={})
    assert session.store("tok-in-the-keyring") is None
    assert ring.data == {(SERVICE, URL.rstrip("/")): "tok-in-the-keyring"}
    assert not (_private_config_dir / CREDENTIALS_FILE).exists()
    again = SessionStore(base_url=URL, secrets=SecretStore(backend=ring), env={})
    assert again.token() == "tok-in-the-keyring" and again.source == "keyring"
    again.sign_out()
    assert ring.data == {}


def test_a_keyring_that_refuses_falls_back_to_the_file(_private_config_dir: Path) -> None:
    store = SecretStore(backend=LockedKeyring())
    assert store.set(URL, "tok-locked-out") is not None
    assert store.using_file and store.get(URL) == "tok-locked-out"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_the_environment_token_is_used_as_is_and_never_written(
    _private_config_dir: Path,
) -> None:
    ring = MemoryKeyring()
    session = SessionStore(
        base_url=URL, secrets=SecretStore(backend=ring), env={"COMPANION_TOKEN": "env-tok-123"}
    )
    assert session.token() == "env-tok-123" and session.source == "env"
    session.set_base_url("http://other")
    assert session.token() == "env-tok-123"
    assert ring.data == {}
    assert not _private_config_dir.exists() or not any(_private_config_dir.iterdir())
    # Signing out forgets it for the rest of the run (the environment is not ours to change).
    session.sign_out()
    with pytest.raises(SignedOut):
        session.token()


def test_the_environment_wins_over_the_stored_token(_private_config_dir: Path) -> None:
    _file_store(_private_config_dir).set(URL, "stored-tok")
    session = SessionStore(
        base_url=URL, secrets=_file_store(_private_config_dir), env={"COMPANION_TOKEN": "env-tok"}
    )
    assert session.token() == "env-tok"
    session.store("signed-in-tok")  # a sign-in during the run supersedes the environment
    assert session.token() == "signed-in-tok"


def test_an_expired_token_is_signed_out_before_any_request(_private_config_dir: Path) -> None:
    with ReferenceBackend() as backend:
        auth = ReferenceAuth.install(backend)
        stale = auth.issue(lifetime_s=-60)
        _file_store(_private_config_dir).set(backend.url, stale)
        session = SessionStore(base_url=backend.url, secrets=SecretStore(), env={})
        assert session.expired and not session.signed_in and session.state == "expired"
        with BackendClient(base_url=backend.url, token=session.token) as client:
            with pytest.raises(Unauthorized) as caught:
                client.authed_json("GET", "/auth/me")
            err = caught.value
            assert isinstance(err, SignedOut) and err.reason == "expired"
            assert (err.method, err.path, err.status) == ("GET", "/auth/me", None)
            assert not policy.should_report(err) and policy.log_level(err) == logging.INFO
        assert backend.requests == []  # no 401 round trip


def test_a_token_close_to_its_expiry_counts_as_expired() -> None:
    auth = ReferenceAuth()
    now = [1000.0]
    token = auth.issue(lifetime_s=3600)
    session = SessionStore(
        base_url=URL, secrets=SecretStore(backend=MemoryKeyring()), env={}, clock=lambda: now[0]
    )
    session.store(token)
    exp = jwt_expiry(token)
    assert exp is not None
    now[0] = exp - 60
    assert session.token() == token
    now[0] = exp - 5  # inside the margin: a request would outlive it
    assert session.expired


def test_lapsed_and_signed_out_block_requests_until_the_next_sign_in(
    _private_config_dir: Path,
) -> None:
    session = SessionStore(base_url=URL, secrets=_file_store(_private_config_dir), env={})
    assert session.token() is None and session.state == "none"  # never signed in: no header
    session.store("tok-a")
    session.mark_lapsed()
    with pytest.raises(SignedOut) as caught:
        session.token()
    assert caught.value.reason == "lapsed" and not session.signed_in
    session.store("tok-b")
    assert session.token() == "tok-b"
    session.sign_out()
    assert _file_store(_private_config_dir).get(URL) is None
    with pytest.raises(SignedOut) as caught:
        session.token()
    assert caught.value.reason == "signed_out" and session.account is None


def test_signed_out_pickles_and_says_nothing_secret() -> None:
    import pickle

    err = SignedOut("POST", "/openai/v1/audio/speech?token=x", reason="lapsed")
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, SignedOut) and again.reason == "lapsed"
    assert "token" not in str(again) and again.path == "/openai/v1/audio/speech"


def test_no_token_in_log_lines(caplog: pytest.LogCaptureFixture, _private_config_dir: Path) -> None:
    token = ReferenceAuth().issue()
    with caplog.at_level(logging.DEBUG):
        session = SessionStore(base_url=URL, secrets=SecretStore(), env={})
        session.store(token)
        SessionStore(base_url=URL, secrets=SecretStore(), env={}).sign_out()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "[auth]" in text and token not in text
    assert token not in repr(session)


def test_account_from_auth_me() -> None:
    a = Account.from_me({"id": 7, "name": "Ann", "email": "ann@example.org"})
    assert (a.name, a.id, a.label) == ("Ann", "7", "Ann (ann@example.org)")
    assert Account.from_me({"user": {"username": "bob"}}).label == "bob"
    assert Account.from_me({"email": "c@example.org"}).label == "c@example.org"
    assert Account.from_me(None).label == "your account"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("tok-e1\r\nX-Evil: 1", "it contains a line break"),
        ("tok-e1 x9", "it contains a space"),
        ("tok-e1:x9", "it contains a colon"),
    ],
)
def test_an_unusable_environment_token_is_never_sent(
    token: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ReferenceBackend(token=token.replace("\r\n", "")) as backend:
        with caplog.at_level(logging.DEBUG):
            session = SessionStore(
                base_url=backend.url, secrets=SecretStore(), env={"COMPANION_TOKEN": f" {token}\n"}
            )
            client = BackendClient(base_url=backend.url, token=session.token)
            with client, pytest.raises(NotSent) as caught:
                client.authed_json("GET", "/auth/me")
        assert backend.connections == 0
    err = caught.value
    assert (err.method, err.path, err.reason, err.problem) == (
        "GET",
        "/auth/me",
        "bad_token",
        problem,
    )
    assert err.user_message.startswith(f"COMPANION_TOKEN cannot be used ({problem})")
    assert session.expires_at is None and session.has_token
    every = [str(err), err.user_message, *(r.getMessage() for r in caplog.records)]
    assert not any(token in text for text in every)


def test_an_unusable_token_is_not_stored(_private_config_dir: Path) -> None:
    session = SessionStore(base_url=URL, secrets=_file_store(_private_config_dir), env={})
    with pytest.raises(ValueError) as caught:
        session.store("tok-a\nb")
    assert "tok-a" not in str(caught.value) and "line break" in str(caught.value)
    assert not session.has_token


def test_a_loaded_token_is_redacted_before_its_first_request(_private_config_dir: Path) -> None:
    from companion import telemetry
    from companion.backend import headers

    headers.reset()
    try:
        odd = "odd_shape_token~1234"
        SessionStore(base_url=URL, secrets=_file_store(_private_config_dir), env={}).store(odd)
        assert telemetry.scrub_text(f"x {odd} y") == "x [Filtered] y"
    finally:
        headers.reset()
