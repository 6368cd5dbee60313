"""kube-apiserver request latency over a run, against the Kubernetes API-call SLO.

The SLO (kubernetes/community sig-scalability, "API call latency"): for single-object
mutating calls, the 99th percentile per (resource, verb) is at most 1 s. The API server
exports the histogram `apiserver_request_duration_seconds`; a run takes a snapshot of it
before and after, and the p99 of each (verb, resource) is computed from the difference of
the two, the way Prometheus' `histogram_quantile` does (linear interpolation inside the
bucket the rank falls in). So the numbers cover exactly the requests made during the run,
by every client (xae, the controllers, the scheduler, kwok), not just ours.

"Single-object mutating" as the 1.33 API server labels it: `verb` in POST, PUT, PATCH,
DELETE, APPLY (server-side apply) and `scope="resource"` (one named object; creates are
labelled "resource" too, DELETECOLLECTION is "namespace" or "cluster" and is left out).
Subresources (pods/status, pods/binding, ...) are rows of their own.

    before = snapshot()
    ...  # the run
    rows = mutating_latency(before, snapshot())
    print(render_markdown(rows))

`python -m bench.k8s_apiserver [COMMAND...]` snapshots, runs COMMAND (or waits for Enter),
snapshots again and prints the table.
"""

from __future__ import annotations

import base64
import math
import re
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_KUBECONFIG = Path("/var/lib/xae/k8s/kubeconfig")
METRIC = "apiserver_request_duration_seconds"
MUTATING_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY"})
SLO_SECONDS = 1.0

# One histogram series: its labels (without `le`), sorted, as a hashable key.
SeriesKey = tuple[tuple[str, str], ...]
# A snapshot: for each series, the cumulative count of each bucket's upper bound `le`
# (math.inf for "+Inf").
Snapshot = dict[SeriesKey, dict[float, float]]


# ------------------------------------------------------------------ parsing

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
# name="value", the value with \\, \" and \n escapes (the exposition format's only ones).
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if m is None:
            raise ValueError(f"bad label set: {{{text}}}")
        labels[m.group(1)] = re.sub(
            r"\\.", lambda e: _UNESCAPE.get(e.group(0), e.group(0)), m.group(2)
        )
        pos = m.end()
    return labels


def _parse_value(text: str) -> float:
    # float() also takes "+Inf", "-Inf" and "NaN", the exposition format's spellings.
    return float(text)


def parse_histogram(text: str, metric: str = METRIC) -> Snapshot:
    """The `<metric>_bucket` series of a Prometheus text exposition."""
    bucket = metric + "_bucket"
    out: Snapshot = {}
    for line in text.splitlines():
        if not line.startswith(bucket):
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group("name") != bucket:
            continue
        labels = _parse_labels(m.group("labels") or "")
        le = labels.pop("le", None)
        if le is None:
            continue
        key: SeriesKey = tuple(sorted(labels.items()))
        out.setdefault(key, {})[_parse_value(le)] = _parse_value(m.group("value"))
    return out


# ------------------------------------------------------------------ quantiles


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """The q-quantile of a histogram given as {upper bound: cumulative count}, as Prometheus'
    `histogram_quantile`: linear interpolation within the bucket that holds the rank, the
    lowest bucket starting at 0, and the highest finite bound if the rank is in +Inf.

    NaN if there are no observations, no +Inf bucket, or fewer than two buckets."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    # Cumulative counts must not decrease; Prometheus repairs small violations the same way
    # (a scrape can race with observations across buckets).
    counts: list[float] = []
    for b in bounds:
        counts.append(max(buckets[b], counts[-1]) if counts else buckets[b])
    total = counts[-1]
    if total <= 0 or math.isnan(total):
        return math.nan
    rank = q * total
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(bounds) - 1:  # in +Inf: the best we know is the highest finite bound
        return bounds[-2]
    if i == 0 and bounds[0] <= 0:
        return bounds[0]
    lower = 0.0 if i == 0 else bounds[i - 1]
    below = 0.0 if i == 0 else counts[i - 1]
    upper, inside = bounds[i], counts[i] - below
    if inside <= 0:  # only reachable for rank 0 (q == 0)
        return lower
    return lower + (upper - lower) * (rank - below) / inside


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """after - before, series by series. A series that went down (the API server restarted
    in between) counts from zero, like Prometheus' increase(); a new one counts whole."""
    out: Snapshot = {}
    for key, now in after.items():
        then = before.get(key, {})
        if any(now.get(le, 0.0) < count for le, count in then.items()):
            out[key] = dict(now)
        else:
            out[key] = {le: count - then.get(le, 0.0) for le, count in now.items()}
    return out


def _add(into: dict[float, float], buckets: Mapping[float, float]) -> None:
    for le, count in buckets.items():
        into[le] = into.get(le, 0.0) + count


# ------------------------------------------------------------------ rows


@dataclass(frozen=True)
class LatencyRow:
    """One (verb, resource) of single-object mutating calls during the run."""

    verb: str
    # kubectl style: "pods", "pods/status", "deployments.apps", "leases.coordination.k8s.io"
    resource: str
    count: int
    p50: float
    p99: float

    @property
    def slo_met(self) -> bool:
        return self.p99 <= SLO_SECONDS


@dataclass(frozen=True)
class Summary:
    count: int  # all single-object mutating calls in the run
    worst_p99: float  # NaN if there were none
    worst: str  # "VERB resource" of the worst p99, "" if none

    @property
    def slo_met(self) -> bool:
        return not self.worst_p99 > SLO_SECONDS


def _resource_name(labels: Mapping[str, str]) -> str:
    name = labels.get("resource", "")
    if labels.get("group"):
        name += "." + labels["group"]
    if labels.get("subresource"):
        name += "/" + labels["subresource"]
    return name


def latency_rows(
    histograms: Snapshot, *, verbs: Iterable[str] = MUTATING_VERBS, scope: str = "resource"
) -> list[LatencyRow]:
    """Rows for one snapshot or delta: the series of `verbs` in `scope`, summed over the
    other labels (dry_run, version, component) per (verb, resource); empty ones left out;
    slowest p99 first."""
    wanted = frozenset(verbs)
    grouped: dict[tuple[str, str], dict[float, float]] = {}
    for key, buckets in histograms.items():
        labels = dict(key)
        if labels.get("verb") not in wanted or labels.get("scope") != scope:
            continue
        _add(grouped.setdefault((labels["verb"], _resource_name(labels)), {}), buckets)
    rows = []
    for (verb, resource), buckets in grouped.items():
        count = buckets.get(math.inf, 0.0)
        if count <= 0:
            continue
        rows.append(
            LatencyRow(
                verb=verb,
                resource=resource,
                count=round(count),
                p50=histogram_quantile(0.5, buckets),
                p99=histogram_quantile(0.99, buckets),
            )
        )
    rows.sort(key=lambda r: (-r.p99, -r.count, r.verb, r.resource))
    return rows


def mutating_latency(before: Snapshot, after: Snapshot) -> list[LatencyRow]:
    """The single-object mutating calls made between two snapshots, per (verb, resource)."""
    return latency_rows(delta(before, after))


def summarize(rows: Iterable[LatencyRow]) -> Summary:
    rows = list(rows)
    if not rows:
        return Summary(count=0, worst_p99=math.nan, worst="")
    worst = max(rows, key=lambda r: r.p99)
    return Summary(
        count=sum(r.count for r in rows),
        worst_p99=worst.p99,
        worst=f"{worst.verb} {worst.resource}",
    )


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def render_markdown(rows: Iterable[LatencyRow], *, limit: int | None = None) -> str:
    """A markdown table (slowest first, at most `limit` rows) and a line with the worst p99
    against the SLO."""
    rows = list(rows)
    lines = [
        "| verb | resource | calls | p50 | p99 | SLO p99 ≤ 1 s |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows[:limit]:
        lines.append(
            f"| {r.verb} | {r.resource} | {r.count:,} | {_ms(r.p50)} | {_ms(r.p99)} "
            f"| {'met' if r.slo_met else '**missed**'} |"
        )
    if limit is not None and len(rows) > limit:
        lines.append(f"| … | {len(rows) - limit} more | | | | |")
    s = summarize(rows)
    lines.append("")
    if s.count:
        lines.append(
            f"Worst p99: {_ms(s.worst_p99)} ({s.worst}) over {s.count:,} single-object "
            f"mutating calls: SLO {'met' if s.slo_met else 'MISSED'}."
        )
    else:
        lines.append("No single-object mutating calls in the interval.")
    return "\n".join(lines)


# ------------------------------------------------------------------ fetching


@dataclass(frozen=True)
class _Credentials:
    server: str
    ca_pem: str
    cert_pem: bytes
    key_pem: bytes


def _pick(items: Any, name: str, field: str) -> dict[str, Any]:
    for item in items or []:
        if not isinstance(item, dict) or item.get("name") != name:
            continue
        if isinstance(item.get(field), dict):
            found: dict[str, Any] = item[field]
            return found
    raise ValueError(f"kubeconfig has no {field} named {name!r}")


def _data(entry: Mapping[str, Any], key: str, base: Path) -> bytes:
    """`<key>-data` (base64) or `<key>` (a path, relative to the kubeconfig's directory)."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return (base / str(entry[key])).read_bytes()
    raise ValueError(f"kubeconfig has neither {key}-data nor {key}")


def _credentials(kubeconfig: Path) -> _Credentials:
    # PyYAML is in the venv (lightkube needs it) but not one of xae's own dependencies, so it
    # is imported only here: the parsing and quantile math work without it.
    import yaml  # type: ignore[import-untyped, import-not-found, unused-ignore]

    conf = yaml.safe_load(kubeconfig.read_text())
    if not isinstance(conf, dict):
        raise ValueError(f"{kubeconfig} is not a kubeconfig")
    context = _pick(conf.get("contexts"), str(conf.get("current-context", "")), "context")
    cluster = _pick(conf.get("clusters"), str(context.get("cluster", "")), "cluster")
    user = _pick(conf.get("users"), str(context.get("user", "")), "user")
    base = kubeconfig.parent
    return _Credentials(
        server=str(cluster["server"]).rstrip("/"),
        ca_pem=_data(cluster, "certificate-authority", base).decode(),
        cert_pem=_data(user, "client-certificate", base),
        key_pem=_data(user, "client-key", base),
    )


def _ssl_context(creds: _Credentials) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=creds.ca_pem)
    # load_cert_chain only reads files: the key lives in a private temp dir for a moment.
    with tempfile.TemporaryDirectory(prefix="xae-kubeconfig-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert.write_bytes(creds.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(creds.key_pem)
        ctx.load_cert_chain(cert, key)
    return ctx


def fetch_metrics(kubeconfig: Path = DEFAULT_KUBECONFIG, *, timeout: float = 60.0) -> str:
    """The API server's /metrics text, with the kubeconfig's client certificate."""
    creds = _credentials(kubeconfig)
    # trust_env=False: a proxy from the environment must not see calls to 127.0.0.1.
    with httpx.Client(verify=_ssl_context(creds), trust_env=False, timeout=timeout) as client:
        response = client.get(creds.server + "/metrics")
        response.raise_for_status()
        return response.text


def snapshot(kubeconfig: Path = DEFAULT_KUBECONFIG) -> Snapshot:
    """The request-duration histograms, now."""
    return parse_histogram(fetch_metrics(kubeconfig))


def main(argv: list[str]) -> int:
    before = snapshot()
    if argv:
        code = subprocess.run(argv, check=False).returncode
    else:
        input("snapshot taken; press Enter for the second one ")
        code = 0
    print(render_markdown(mutating_latency(before, snapshot())))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
