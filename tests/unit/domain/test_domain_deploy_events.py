"""A deploy's events on the wire: exactly the NDJSON lines the CLI and scripts have always read
(each line below is what the API sent before the events were typed, key order included)."""

from __future__ import annotations

import json

from xae.domain.deploy_events import Done, Failed, LogLine, Step
from xae.errors import BuildFailed, XaeError

RELEASE = {"version": 3, "status": "succeeded", "description": "Deploy build 3 (python)"}


def test_a_step_is_an_event_with_its_message() -> None:
    assert Step("releasing v3").to_json() == '{"event": "step", "message": "releasing v3"}'


def test_a_log_line_is_an_event_with_its_line() -> None:
    assert LogLine("Collecting flask").to_json() == '{"event": "log", "line": "Collecting flask"}'


def test_done_carries_the_url_then_the_release_then_what_runs() -> None:
    done = Done(url="http://shop.localhost:8080/", release=RELEASE, processes={"web": 1})
    assert done.to_json() == json.dumps(
        {
            "event": "done",
            "url": "http://shop.localhost:8080/",
            "release": RELEASE,
            "processes": {"web": 1},
        }
    )
    assert list(json.loads(done.to_json())) == ["event", "url", "release", "processes"]


def test_done_without_a_release_leaves_the_key_out() -> None:
    done = Done(url="http://shop.localhost:8080/", release=None, processes={})
    assert done.to_json() == (
        '{"event": "done", "url": "http://shop.localhost:8080/", "processes": {}}'
    )


def test_a_failure_is_an_error_event_in_the_apis_error_shape() -> None:
    error = BuildFailed("the build failed: see the log", details={"log_tail": ["boom"]})
    assert Failed.of(error).to_json() == json.dumps(
        {
            "event": "error",
            "error": {
                "code": "build_failed",
                "message": "the build failed: see the log",
                "details": {"log_tail": ["boom"]},
            },
        }
    )


def test_an_unexpected_failure_has_empty_details() -> None:
    failed = Failed(code="internal_error", message="the deploy hit an unexpected error")
    assert failed.to_dict() == {
        "event": "error",
        "error": {
            "code": "internal_error",
            "message": "the deploy hit an unexpected error",
            "details": {},
        },
    }
    assert Failed.of(XaeError("x")).to_dict()["error"]["code"] == "internal_error"
