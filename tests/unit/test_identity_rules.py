"""The domain's identity rules: a user holds one key at a time, the `authentication`
setting changes only as the contract says, and events recorded before `auth` and
`on_behalf_of` existed still read."""

from datetime import date, datetime, timezone
from uuid import uuid4

import pytest

from lotline.domain.aggregate import Actor, Auth
from lotline.domain.errors import InvalidInput, NotAuthorised, RuleRefused
from lotline.domain.roles import Role
from lotline.domain.settings import Authentication, FirmSettings
from lotline.domain.user import KeyCredential, User

AT = datetime(2026, 1, 5, 21, tzinfo=timezone.utc)
ROOT = Actor("root", Role.ADMIN, date(2026, 1, 5), AT)
ROOT_WITH_KEY = Actor("root", Role.ADMIN, date(2026, 1, 5), AT, auth=Auth.KEY)
DIGEST = "0" * 64


def test_a_new_key_revokes_the_one_held_and_events_name_keys_by_id():
    olivia = User.add("olivia", (Role.OVERLAY_MANAGER,), ROOT)
    olivia.issue_key("aaaaaaaaaaaa", DIGEST, ROOT)
    olivia.issue_key("bbbbbbbbbbbb", "1" * 64, ROOT)
    events = olivia.collect_events()
    assert [(type(e).__name__, getattr(e, "key_id", None)) for e in events] == [
        ("Added", None), ("KeyIssued", "aaaaaaaaaaaa"), ("KeyRevoked", "aaaaaaaaaaaa"), ("KeyIssued", "bbbbbbbbbbbb")]
    assert (olivia.key_id, olivia.key_digest) == ("bbbbbbbbbbbb", "1" * 64)
    olivia.revoke_key(ROOT)
    assert olivia.key_id is None
    with pytest.raises(RuleRefused, match="holds no key"):
        olivia.revoke_key(ROOT)
    olivia.remove(ROOT)
    with pytest.raises(RuleRefused, match="removed"):
        olivia.issue_key("cccccccccccc", DIGEST, ROOT)


def test_a_credential_digest_covers_every_field():
    credential = KeyCredential("k", "olivia", "scrypt", 16384, 8, 1, "ab", "cd")
    changed = [KeyCredential("k", "olivia", "scrypt", 16384, 8, 1, "ab", "ce"),
               KeyCredential("k", "bob", "scrypt", 16384, 8, 1, "ab", "cd"),
               KeyCredential("k", "olivia", "scrypt", 1024, 8, 1, "ab", "cd")]
    assert len({credential.digest(), *(c.digest() for c in changed)}) == 4


def test_authentication_switches_to_key_only_for_an_admin_holding_one_and_back_only_with_a_key():
    settings = FirmSettings.create(ROOT)
    root = User.add("root", (Role.ADMIN,), ROOT)
    assert settings.authentication is Authentication.ASSERTED
    with pytest.raises(RuleRefused, match="holds no key"):
        settings.change_authentication("key", ROOT, root)
    with pytest.raises(InvalidInput, match="must be asserted or key"):
        settings.change_authentication("keys", ROOT, root)
    root.issue_key("aaaaaaaaaaaa", DIGEST, ROOT)
    settings.change_authentication("key", ROOT, root)
    assert settings.authentication is Authentication.KEY
    with pytest.raises(NotAuthorised, match="presenting a key"):
        settings.change_authentication("asserted", ROOT, root)
    settings.change_authentication("asserted", ROOT_WITH_KEY, root)
    assert settings.authentication is Authentication.ASSERTED
    with pytest.raises(InvalidInput, match="on its own"):
        settings.change("authentication", "1", ROOT)


def test_events_recorded_before_auth_and_on_behalf_of_read_as_asserted_and_on_no_ones_behalf():
    old = User.Added.model_validate({
        "originator_id": str(uuid4()), "originator_version": 1, "timestamp": AT.isoformat(), "actor": "system",
        "role": "admin", "effective_date": "2026-01-05", "reason": None, "user_id": "root", "roles": ["admin"]})
    assert (old.auth, old.on_behalf_of) == ("asserted", None)
    assert "auth" not in old.data() and "on_behalf_of" not in old.data()
    on_behalf = Actor("root", Role.ADMIN, date(2026, 1, 5), AT, auth=Auth.KEY, on_behalf_of="ipc")
    event = User.add("ipc", (Role.POLICY_COMMITTEE,), on_behalf).collect_events()[0]
    assert (event.actor, event.role, event.auth, event.on_behalf_of) == ("root", "admin", "key", "ipc")
