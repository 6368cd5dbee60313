"""The apiserver-latency report's parsing and quantile math, on small synthetic expositions
(no cluster needed)."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pytest
from bench.k8s_apiserver import (
    LatencyRow,
    Snapshot,
    _credentials,
    delta,
    histogram_quantile,
    latency_rows,
    mutating_latency,
    parse_histogram,
    render_markdown,
    summarize,
)

INF = math.inf
BOUNDS = ["0.1", "0.5", "1", "+Inf"]


def series(
    labels: str, counts: list[int], metric: str = "apiserver_request_duration_seconds"
) -> str:
    """The bucket lines of one series (cumulative counts, one per BOUNDS), plus _sum/_count."""
    lines = [
        f'{metric}_bucket{{{labels},le="{le}"}} {c}' for le, c in zip(BOUNDS, counts, strict=True)
    ]
    lines.append(f"{metric}_sum{{{labels}}} 12.5")
    lines.append(f"{metric}_count{{{labels}}} {counts[-1]}")
    return "\n".join(lines)


def labels(
    verb: str,
    resource: str,
    *,
    scope: str = "resource",
    group: str = "",
    subresource: str = "",
    dry_run: str = "",
) -> str:
    return (
        f'component="apiserver",dry_run="{dry_run}",group="{group}",resource="{resource}",'
        f'scope="{scope}",subresource="{subresource}",verb="{verb}",version="v1"'
    )


def exposition(*parts: str) -> str:
    head = (
        "# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution\n"
        "# TYPE apiserver_request_duration_seconds histogram\n"
    )
    return head + "\n".join(parts) + "\n"


# ------------------------------------------------------------------ histogram_quantile


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.1: 10.0, 0.5: 60.0, 1.0: 100.0, INF: 100.0}
    # rank 50 falls in (0.1, 0.5], 40 of its 50 observations in: 0.1 + 0.4 * 40/50
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.42)
    # rank 99 falls in (0.5, 1], 39 of 40 in: 0.5 + 0.5 * 39/40
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.9875)
    assert histogram_quantile(1.0, buckets) == pytest.approx(1.0)


def test_quantile_lowest_bucket_starts_at_zero() -> None:
    assert histogram_quantile(0.5, {0.2: 10.0, INF: 10.0}) == pytest.approx(0.1)


def test_quantile_in_inf_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, {0.1: 1.0, 1.0: 2.0, INF: 10.0}) == 1.0


def test_quantile_order_of_buckets_does_not_matter() -> None:
    assert histogram_quantile(0.5, {INF: 100.0, 1.0: 100.0, 0.1: 10.0, 0.5: 60.0}) == (
        pytest.approx(0.42)
    )


def test_quantile_repairs_non_monotonic_counts() -> None:
    # 0.5's count below 0.1's is read as 10, like Prometheus' ensureMonotonic: rank 15 is
    # then 5 of the 10 observations in (0.5, 1] (unrepaired it would be 6 of 11)
    buckets = {0.1: 10.0, 0.5: 9.0, 1.0: 20.0, INF: 20.0}
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.75)


@pytest.mark.parametrize(
    "buckets",
    [
        {0.1: 0.0, 1.0: 0.0, INF: 0.0},  # no observations
        {0.1: 1.0, 1.0: 2.0},  # no +Inf bucket
        {INF: 5.0},  # a single bucket
        {},
    ],
)
def test_quantile_undefined_is_nan(buckets: dict[float, float]) -> None:
    assert math.isnan(histogram_quantile(0.99, buckets))


def test_quantile_out_of_range_q() -> None:
    buckets = {0.1: 1.0, INF: 1.0}
    assert histogram_quantile(1.5, buckets) == INF
    assert histogram_quantile(-0.1, buckets) == -INF
    assert math.isnan(histogram_quantile(math.nan, buckets))


# ------------------------------------------------------------------ parse_histogram


def test_parse_reads_bucket_lines_only() -> None:
    text = exposition(
        series(labels("POST", "pods"), [1, 2, 3, 3]),
        series(labels("GET", "pods"), [5, 5, 5, 5]),
        'apiserver_request_total{code="201",verb="POST"} 3',
        series('verb="POST"', [9, 9, 9, 9], metric="apiserver_request_sli_duration_seconds"),
    )
    snap = parse_histogram(text)
    assert len(snap) == 2
    post = dict(next(k for k in snap if dict(k)["verb"] == "POST"))
    assert post["resource"] == "pods" and "le" not in post
    assert snap[tuple(sorted(post.items()))] == {0.1: 1.0, 0.5: 2.0, 1.0: 3.0, INF: 3.0}


def test_parse_label_escapes_commas_and_timestamps() -> None:
    text = (
        'apiserver_request_duration_seconds_bucket{a="x\\"y,z",b="back\\\\slash\\nnl",'
        'le="+Inf"} 7 1712345678000\n'
        'apiserver_request_duration_seconds_bucket{a="x\\"y,z",b="back\\\\slash\\nnl",le="1"} 6.0\n'
    )
    snap = parse_histogram(text)
    assert snap == {(("a", 'x"y,z'), ("b", "back\\slash\nnl")): {INF: 7.0, 1.0: 6.0}}


def test_parse_rejects_a_broken_label_set() -> None:
    with pytest.raises(ValueError):
        parse_histogram('apiserver_request_duration_seconds_bucket{a="x",le=1} 3\n')


# ------------------------------------------------------------------ delta and rows


def test_delta_subtracts_and_handles_resets_and_new_series() -> None:
    a, b, c = (("verb", "POST"),), (("verb", "PUT"),), (("verb", "PATCH"),)
    before: Snapshot = {a: {1.0: 5.0, INF: 6.0}, b: {1.0: 50.0, INF: 60.0}}
    after: Snapshot = {a: {1.0: 7.0, INF: 10.0}, b: {1.0: 2.0, INF: 3.0}, c: {1.0: 1.0, INF: 1.0}}
    assert delta(before, after) == {
        a: {1.0: 2.0, INF: 4.0},
        b: {1.0: 2.0, INF: 3.0},  # went down: a restart, counted from zero
        c: {1.0: 1.0, INF: 1.0},
    }


def test_mutating_latency_keeps_single_object_mutations_per_verb_and_resource() -> None:
    before = parse_histogram(exposition(series(labels("POST", "pods"), [10, 10, 10, 10])))
    after = parse_histogram(
        exposition(
            series(labels("POST", "pods"), [10, 60, 110, 110]),  # +100 in this run
            series(labels("POST", "pods", dry_run="All"), [0, 0, 0, 100]),  # summed in
            series(labels("PATCH", "pods", subresource="status"), [4, 4, 4, 4]),
            series(labels("APPLY", "deployments", group="apps"), [1, 2, 2, 2]),
            series(labels("DELETE", "pods", scope="namespace"), [9, 9, 9, 9]),  # a collection
            series(labels("LIST", "pods", scope="namespace"), [9, 9, 9, 9]),  # not mutating
            series(labels("PUT", "leases", group="coordination.k8s.io"), [0, 0, 0, 0]),  # none
        )
    )
    rows = mutating_latency(before, after)
    assert [(r.verb, r.resource, r.count) for r in rows] == [
        ("POST", "pods", 200),
        ("APPLY", "deployments.apps", 2),
        ("PATCH", "pods/status", 4),
    ]
    post = rows[0]
    # 200 calls: 50 in (0.1, 0.5], 50 in (0.5, 1], 100 above 1 s -> p99 in +Inf -> 1.0
    assert post.p99 == 1.0 and post.p50 == pytest.approx(1.0)
    assert rows[1].p99 == pytest.approx(0.1 + 0.4 * (1.98 - 1) / 1)
    assert rows[2].p99 == pytest.approx(0.1 * 0.99)


def test_rows_can_select_other_verbs() -> None:
    snap = parse_histogram(
        exposition(series(labels("LIST", "pods", scope="cluster"), [1, 1, 1, 1]))
    )
    assert latency_rows(snap) == []
    assert [r.verb for r in latency_rows(snap, verbs={"LIST"}, scope="cluster")] == ["LIST"]


def test_summary_and_markdown() -> None:
    rows = [
        LatencyRow(verb="POST", resource="pods", count=3000, p50=0.02, p99=1.2),
        LatencyRow(verb="PATCH", resource="pods/status", count=6000, p50=0.01, p99=0.3),
    ]
    s = summarize(rows)
    assert (s.count, s.worst_p99, s.worst, s.slo_met) == (9000, 1.2, "POST pods", False)
    assert not rows[0].slo_met and rows[1].slo_met
    table = render_markdown(rows)
    assert "| POST | pods | 3,000 | 20 ms | 1200 ms | **missed** |" in table
    assert "| PATCH | pods/status | 6,000 | 10 ms | 300 ms | met |" in table
    assert "Worst p99: 1200 ms (POST pods) over 9,000" in table and "SLO MISSED" in table
    assert "1 more" in render_markdown(rows, limit=1)


def test_summary_of_nothing() -> None:
    s = summarize([])
    assert s.count == 0 and math.isnan(s.worst_p99) and s.slo_met
    assert "No single-object mutating calls" in render_markdown([])


# ------------------------------------------------------------------ kubeconfig


def test_credentials_from_embedded_data_and_from_paths(tmp_path: Path) -> None:
    pytest.importorskip("yaml")

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    (tmp_path / "client.key").write_text("KEY")
    conf = tmp_path / "kubeconfig"
    conf.write_text(
        f"""apiVersion: v1
kind: Config
current-context: local
clusters:
- name: other
  cluster: {{server: https://elsewhere:6443, certificate-authority-data: {b64("NO")}}}
- name: mine
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: {b64("CA")}
contexts:
- name: local
  context: {{cluster: mine, user: admin}}
users:
- name: admin
  user:
    client-certificate-data: {b64("CERT")}
    client-key: client.key
"""
    )
    creds = _credentials(conf)
    assert creds.server == "https://127.0.0.1:6443"
    assert (creds.ca_pem, creds.cert_pem, creds.key_pem) == ("CA", b"CERT", b"KEY")
