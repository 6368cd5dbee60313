"""A role or a scope arrives in a JSON body as a string (`{"role": "viewer"}`): the strict
request models must take it, and still refuse a name that is not one."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_member_is_added_with_the_role_as_json_sends_it(client: TestClient) -> None:
    added = client.put("/v1/teams/alice/members/bob", json={"role": "viewer"})
    assert added.status_code == 200, added.text
    assert added.json() == {"user": "bob", "role": "viewer"}
    refused = client.put("/v1/teams/alice/members/bob", json={"role": "god"})
    assert refused.status_code == 422
    assert client.get("/v1/teams/alice").json()["members"] == [
        {"user": "alice", "role": "owner"},
        {"user": "bob", "role": "viewer"},
    ]


def test_a_token_is_made_with_the_scope_as_json_sends_it(client: TestClient) -> None:
    made = client.post("/v1/tokens", json={"name": "ci", "scope": "read"})
    assert made.status_code == 201, made.text
    assert made.json()["scope"] == "read"
    assert client.post("/v1/tokens", json={"name": "ci2", "scope": "root"}).status_code == 422
