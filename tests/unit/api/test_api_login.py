"""Logging in over HTTP gives nothing away: one answer for every failure, throttled guesses,
and someone else's app looks exactly like a missing one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.unit.fakes import PASSWORD, World

from xae.auth.throttle import LoginThrottle, ThrottleLimits

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def small_limits(client: TestClient, per_account: int = 3, per_address: int = 6) -> None:
    limits = ThrottleLimits(per_account=per_account, per_address=per_address, window=600)
    client.app.state.login_throttle = LoginThrottle(limits)  # type: ignore[attr-defined]


def log_in(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/auth/tokens", json={"username": username, "password": password})
    return response.status_code, response.json()


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(anonymous: TestClient) -> None:
    assert log_in(anonymous, "nobody-here", "wrong-password") == log_in(
        anonymous, "alice", "wrong-password"
    )


def test_guessing_one_accounts_password_is_refused_with_retry_after(
    anonymous: TestClient,
) -> None:
    small_limits(anonymous)
    for _ in range(3):
        assert log_in(anonymous, "alice", "guess")[0] == 401
    response = anonymous.post("/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 429  # even the right password waits out the window
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 600
    error = response.json()["error"]
    assert error["code"] == "too_many_requests"
    assert f"try again in {retry_after} seconds" in error["message"]
    assert PASSWORD not in error["message"]
    # Another account from the same address is not locked out by alice's guesses.
    assert log_in(anonymous, "bob", PASSWORD)[0] == 201


def test_a_made_up_name_is_throttled_like_a_real_one(anonymous: TestClient) -> None:
    small_limits(anonymous, per_address=100)
    answers = {}
    for name in ("alice", "no-such-user"):
        statuses = [log_in(anonymous, name, "guess")[0] for _ in range(4)]
        answers[name] = statuses
    assert answers["alice"] == answers["no-such-user"] == [401, 401, 401, 429]


def test_guessing_from_one_address_is_refused_whatever_the_names(anonymous: TestClient) -> None:
    small_limits(anonymous, per_account=100, per_address=4)
    for i in range(4):
        assert log_in(anonymous, f"user{i}", "guess")[0] == 401
    response = anonymous.post("/v1/auth/tokens", json={"username": "bob", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_a_successful_login_clears_the_accounts_failures(anonymous: TestClient) -> None:
    small_limits(anonymous)
    for _ in range(2):
        assert log_in(anonymous, "alice", "guess")[0] == 401
    assert log_in(anonymous, "alice", PASSWORD)[0] == 201
    for _ in range(2):
        assert log_in(anonymous, "alice", "guess")[0] == 401
    assert log_in(anonymous, "alice", PASSWORD)[0] == 201


def test_the_openapi_document_lists_401_and_429_for_logging_in(anonymous: TestClient) -> None:
    responses = anonymous.get("/openapi.json").json()["paths"]["/v1/auth/tokens"]["post"]
    assert {"201", "401", "429"} <= set(responses["responses"])


def test_someone_elses_app_answers_exactly_like_a_missing_one(
    world: World, client: TestClient, shop: str
) -> None:
    client.headers["Authorization"] = f"Bearer {world.token('bob')}"
    for method, suffix in (("GET", ""), ("GET", "/config"), ("DELETE", ""), ("GET", "/releases")):
        theirs = client.request(method, f"/v1/apps/{shop}{suffix}", params={"confirm": shop})
        missing = client.request(method, f"/v1/apps/nope{suffix}", params={"confirm": "nope"})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(shop, "NAME") == missing.text.replace("nope", "NAME")


def test_an_oversized_login_is_refused_before_any_password_check(anonymous: TestClient) -> None:
    # A megabyte password is refused before it is even parsed: the body is over the API's limit.
    for username, password, status, code in (
        ("u" * 255, "x", 422, "invalid_input"),
        ("admin", "p" * 1025, 422, "invalid_input"),
        ("admin", "p" * 1_000_000, 413, "body_too_large"),
    ):
        response = anonymous.post(
            "/v1/auth/tokens", json={"username": username, "password": password}
        )
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert "p" * 100 not in response.text  # the refused value is not echoed back
