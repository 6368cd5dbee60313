"""`make bench` rewrites docs/benchmarks.md: its own table, and the sections others appended;
each other benchmark replaces only its own section (`bench/report.py`)."""

from __future__ import annotations

from pathlib import Path

from bench.report import write_section
from bench.run import Result, write_report


def test_a_rerun_keeps_the_sections_other_benchmarks_appended(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(
        "# Benchmarks\n\n| old | table |\n\n### Kubernetes at scale (KWOK)\n\n| p99 | 0.4 s |\n"
    )
    write_report(
        [Result(name="warm redeploy", value="1.5 s", target="≤ 3 s", met=True)], report, (1.0, 2.5)
    )

    text = report.read_text()
    assert "| warm redeploy | 1.5 s | ≤ 3 s | yes |" in text
    assert "load average 1.0 before the run and 2.5 after" in text
    assert "| old | table |" not in text
    assert text.rstrip().endswith("### Kubernetes at scale (KWOK)\n\n| p99 | 0.4 s |")


def test_a_first_report_has_only_its_own_table(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    write_report([Result(name="scale", value="4 s", target="≤ 3 s", met=False)], report, (0, 0))
    assert "| scale | 4 s | ≤ 3 s | **no** |" in report.read_text()
    assert "###" not in report.read_text()


REPORT = """# Benchmarks

| warm redeploy | 1.5 s |

### git push to serving — 2026-12-01 23:50 UTC

| old warm push |

### git push to serving, cold and Node — 2026-12-02 00:09 UTC

| cold push |
"""


def test_a_benchmark_replaces_its_own_section_and_keeps_every_other(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT)

    write_section(
        "### git push to serving, cold and Node — 2026-12-03\n\n| new cold |\n",
        "### git push to serving, cold and Node",
        report,
    )
    write_section(
        "### git push to serving — 2026-12-03\n\n| new warm |\n", "### git push to serving", report
    )

    assert report.read_text() == (
        "# Benchmarks\n\n| warm redeploy | 1.5 s |\n\n"
        "### git push to serving — 2026-12-03\n\n| new warm |\n\n"
        "### git push to serving, cold and Node — 2026-12-03\n\n| new cold |\n"
    )


def test_a_new_benchmark_appends_its_section(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT)
    write_section("### Build queue\n\n| fair |", "### Build queue", report)
    assert report.read_text() == REPORT + "\n### Build queue\n\n| fair |\n"
