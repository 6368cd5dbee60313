"""The rules of a weighted traffic split between releases of one app. Pure: no I/O.

A split sends `weight` percent of an app's requests to each named release (`v7=90 v8=10`).
These are the rules the CLI checks before sending and the API checks again before anything is
stored: 2 to `MAX_RELEASES` releases, no release twice, integer weights 0-100 that add up to
100. What only the store knows (the release exists, succeeded
and has an image) is checked by `xae.control.splits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xae.errors import InvalidInput

MIN_RELEASES = 2
MAX_RELEASES = 5
"""Each release in a split runs its own web instances: five bounds what one split costs."""

_ITEM = re.compile(r"v?([0-9]{1,9})=([0-9]{1,3})")


@dataclass(frozen=True)
class Share:
    """One release's share of the app's requests."""

    version: int
    weight: int
    """Percent of the app's requests, 0-100."""

    @property
    def label(self) -> str:
        """How users and the router's access log name the release: `v7`."""
        return f"v{self.version}"


def parse_share(text: str) -> Share:
    """`v7=90` (or `7=90`) as a `Share`; anything else is refused with the expected form."""
    match = _ITEM.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 40 and text.isprintable() else "this argument"
        raise InvalidInput(
            f"{shown!s} is not a release and a weight: write each as vN=PERCENT, e.g. `v7=90 v8=10`"
        )
    return Share(int(match.group(1)), int(match.group(2)))


def validate_shares(shares: list[Share]) -> list[Share]:
    """Return `shares` if they make a valid split; else raise `InvalidInput` saying what to fix."""
    if not MIN_RELEASES <= len(shares) <= MAX_RELEASES:
        raise InvalidInput(
            f"a split names {MIN_RELEASES} to {MAX_RELEASES} releases, got {len(shares)}: "
            "e.g. `xae routes:split v7=90 v8=10`"
        )
    seen: set[int] = set()
    for share in shares:
        if share.version < 1:
            raise InvalidInput(f"{share.label} is not a release: versions start at v1")
        if share.version in seen:
            raise InvalidInput(f"{share.label} is named twice: give each release one weight")
        seen.add(share.version)
        if not 0 <= share.weight <= 100:
            raise InvalidInput(
                f"the weight of {share.label} is {share.weight}: a weight is a percentage, 0-100"
            )
    total = sum(s.weight for s in shares)
    if total != 100:
        shown = "+".join(str(s.weight) for s in shares)
        raise InvalidInput(
            f"the weights add up to {total} ({shown}), not 100: change them so they do"
        )
    return shares


def extra_web_sets(stored: list[dict[str, int]] | None) -> int:
    """How many releases beyond the current one run web instances for a split (as stored on the
    app: `[{version, weight}]`): each runs the app's web quantity, which the per-app instance
    ceiling counts."""
    return max(0, len([s for s in stored or [] if s.get("weight", 0) > 0]) - 1)
