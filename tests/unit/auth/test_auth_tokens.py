"""Users and bearer tokens against a real SQLite store."""

from __future__ import annotations

import hashlib
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.unit.fakes import PASSWORD, scrypt_hash

from xae.auth.passwords import needs_rehash, verify_password
from xae.auth.policy import authorize_app
from xae.auth.tokens import (
    TOKEN_PREFIX,
    authenticate,
    create_user,
    issue_token,
    login,
    revoke_tokens,
    set_password,
    token_row,
)
from xae.domain.access import Action, Role
from xae.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized
from xae.store.db import Database
from xae.store.models import App, Membership, Team, Token, User, utcnow

DAY = timedelta(days=1)


def test_a_created_user_can_log_in_and_the_token_authenticates_them(db: Database) -> None:
    with db.session() as session:
        create_user(session, "carol", "long-enough-pw")
    with db.session() as session:
        issued = login(session, "carol", "long-enough-pw", DAY)
    with db.session() as session:
        user = authenticate(session, issued.token)
        assert user.name == "carol"
        assert not user.is_admin


def test_a_created_user_has_only_a_password_hash_in_the_store(db: Database) -> None:
    with db.session() as session:
        create_user(session, "carol", "long-enough-pw", is_admin=True)
    with db.session() as session:
        user = session.scalars(select(User).where(User.name == "carol")).one()
        assert user.is_admin
        assert "long-enough-pw" not in user.password_hash
        assert verify_password("long-enough-pw", user.password_hash)


def test_creating_a_user_twice_is_already_exists(db: Database) -> None:
    with pytest.raises(AlreadyExists, match="'alice' already exists"), db.session() as session:
        create_user(session, "alice", "another-password")


@pytest.mark.parametrize("name", ["", "a b", "al;ce", "x" * 65, "../root"])
def test_invalid_user_names_are_rejected(db: Database, name: str) -> None:
    with pytest.raises(InvalidInput, match="is not valid|is required"), db.session() as session:
        create_user(session, name, "long-enough-pw")


def test_a_password_shorter_than_8_characters_is_rejected(db: Database) -> None:
    with pytest.raises(InvalidInput, match="at least 8 characters"), db.session() as session:
        create_user(session, "carol", "short")


def test_login_with_a_wrong_password_is_unauthorized(db: Database) -> None:
    with pytest.raises(Unauthorized) as caught, db.session() as session:
        login(session, "alice", "wrong-password", DAY)
    assert caught.value.status == 401
    assert "wrong-password" not in caught.value.message


def test_login_as_an_unknown_user_says_the_same_as_a_wrong_password(db: Database) -> None:
    with pytest.raises(Unauthorized) as unknown, db.session() as session:
        login(session, "nobody", PASSWORD, DAY)
    with pytest.raises(Unauthorized) as wrong, db.session() as session:
        login(session, "alice", "wrong-password", DAY)
    assert unknown.value.message == wrong.value.message


def _alice(session: Session) -> User:
    return session.scalars(select(User).where(User.name == "alice")).one()


def test_a_token_is_prefixed_random_and_expires_after_its_ttl(db: Database) -> None:
    before = utcnow()
    with db.session() as session:
        first = issue_token(session, _alice(session), DAY)
        second = issue_token(session, _alice(session), DAY)
    assert first.token.startswith(TOKEN_PREFIX)
    assert first.token != second.token
    assert before + DAY <= first.expires_at <= utcnow() + DAY


def test_tokens_are_stored_only_as_their_sha256(db: Database) -> None:
    with db.session() as session:
        issued = issue_token(session, _alice(session), DAY)
    with db.session() as session:
        rows = list(session.scalars(select(Token)))
    assert [r.token_hash for r in rows] == [hashlib.sha256(issued.token.encode()).hexdigest()]
    assert all(issued.token not in r.token_hash for r in rows)


def test_an_expired_token_is_unauthorized_and_says_to_log_in_again(db: Database) -> None:
    with db.session() as session:
        issued = issue_token(session, _alice(session), timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired.*xae login"), db.session() as session:
        authenticate(session, issued.token)


def test_a_token_about_to_expire_fails_a_check_that_needs_it_for_longer(db: Database) -> None:
    with db.session() as session:
        issued = issue_token(session, _alice(session), timedelta(hours=1))
    with db.session() as session:
        assert authenticate(session, issued.token).name == "alice"
        with pytest.raises(Unauthorized):
            token_row(session, issued.token, valid_for=DAY)


@pytest.mark.parametrize("token", ["", "xae_not-a-real-token", "Bearer xae_abc"])
def test_an_unknown_token_is_unauthorized(db: Database, token: str) -> None:
    with pytest.raises(Unauthorized, match="not valid"), db.session() as session:
        authenticate(session, token)


def test_a_tampered_token_is_unauthorized(db: Database) -> None:
    with db.session() as session:
        issued = issue_token(session, _alice(session), DAY)
    with pytest.raises(Unauthorized), db.session() as session:
        authenticate(session, issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"))


def test_a_new_password_replaces_the_old_one(db: Database) -> None:
    with db.session() as session:
        set_password(session, "alice", "brand-new-password")
    with db.session() as session:
        assert login(session, "alice", "brand-new-password", DAY).token
    with pytest.raises(Unauthorized), db.session() as session:
        login(session, "alice", PASSWORD, DAY)


def test_setting_the_password_of_an_unknown_user_is_invalid(db: Database) -> None:
    with pytest.raises(InvalidInput, match="no user 'nobody'"), db.session() as session:
        set_password(session, "nobody", "brand-new-password")


def test_team_members_and_admins_may_act_on_an_app_and_others_see_it_as_missing(
    db: Database,
) -> None:
    with db.session() as session:
        users = {u.name: u for u in session.scalars(select(User))}
        team = Team(name="shop-team")
        session.add(team)
        session.flush()
        session.add(Membership(team_id=team.id, user_id=users["alice"].id, role=Role.DEVELOPER))
        app = App(name="shop", team_id=team.id)
        session.add(app)
        session.flush()
        for name in ("alice", "root", "bob"):
            issued = issue_token(session, users[name], DAY)
            principal = authenticate(session, issued.token)
            if name == "bob":
                with pytest.raises(NotFound, match="'shop' does not exist, or is not yours"):
                    authorize_app(principal, app, Action.APP_READ, writes=False)
            else:
                authorize_app(principal, app, Action.APP_DEPLOY, writes=True)


def _median_login_seconds(db: Database, name: str, calls: int = 5) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        with pytest.raises(Unauthorized), db.session() as session:
            login(session, name, "wrong-password", DAY)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_an_unknown_user_costs_a_full_password_check_like_a_known_one(db: Database) -> None:
    _median_login_seconds(db, "nobody", calls=1)  # the dummy hash is made once, up front
    known = _median_login_seconds(db, "alice")
    unknown = _median_login_seconds(db, "nobody")
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_revoking_a_users_tokens_makes_them_all_unauthorized(db: Database) -> None:
    with db.session() as session:
        issued = [issue_token(session, _alice(session), DAY) for _ in range(2)]
        bob = session.scalars(select(User).where(User.name == "bob")).one()
        bobs = issue_token(session, bob, DAY)
    with db.session() as session:
        assert revoke_tokens(session, _alice(session)) == 2
    for token in issued:
        with pytest.raises(Unauthorized), db.session() as session:
            authenticate(session, token.token)
    with db.session() as session:
        assert authenticate(session, bobs.token).name == "bob"


def test_a_scrypt_password_is_rehashed_with_argon2id_at_the_next_successful_login(
    db: Database,
) -> None:
    with db.session() as session:
        _alice(session).password_hash = scrypt_hash(PASSWORD)
    with pytest.raises(Unauthorized), db.session() as session:
        login(session, "alice", "wrong-password", DAY)
    with db.session() as session:
        assert _alice(session).password_hash.startswith("scrypt$")  # a failure changes nothing

    with db.session() as session:
        assert login(session, "alice", PASSWORD, DAY).token

    with db.session() as session:
        stored = _alice(session).password_hash
    assert stored.startswith("$argon2id$") and not needs_rehash(stored)
    assert verify_password(PASSWORD, stored)
    with db.session() as session:
        assert login(session, "alice", PASSWORD, DAY).token
        assert _alice(session).password_hash == stored  # an up-to-date hash is left alone
