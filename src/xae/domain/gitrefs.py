"""Git ref names and the ref updates of a push: the one gate for names a pusher chooses.

A branch name reaches `git` commands, a repository's `HEAD` and the push's output, so it is
checked here before anything else sees it: git's own rules (`git check-ref-format`) and, on
top, a plain character set with no shell metacharacters, no whitespace and no option-like
leading `-`. A name that fails is refused with a message saying why; it is never quoted or
escaped into something else.

`plan_push` reads the updates a pre-receive hook is given and decides, without I/O, which are
refused (a bad name, a ref outside branches and tags, deleting the deploy branch) and which
one, if any, deploys. Pure, standard library only: the hook (`xae.codecenter.hook`) and the
CLI import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xae.errors import InvalidInput

ZERO_SHA = "0" * 40
"""The sha git gives for a ref that does not exist (before a create, after a delete)."""

MAX_BRANCH = 255
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
HEADS, TAGS = "refs/heads/", "refs/tags/"


def branch_problem(name: str) -> str | None:
    """Why `name` cannot be a branch (or tag) name here, or None if it can."""
    if not name:
        return "it is empty"
    if len(name) > MAX_BRANCH:
        return f"it is longer than {MAX_BRANCH} characters"
    if not _BRANCH_CHARS.fullmatch(name):
        return "only letters, digits and . _ / - are allowed (no spaces or shell characters)"
    if name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")):
        return "it may not start with - or / nor end with /, . or .lock"
    if ".." in name or "//" in name or "/." in name or name.startswith("."):
        return "it may not contain .. or //, nor a part starting with ."
    if name == "HEAD" or name == "@":
        return f"{name} is reserved by git"
    return None


def validate_branch(name: str) -> str:
    """`name` if it is a usable deploy branch; `InvalidInput` saying why otherwise."""
    problem = branch_problem(name)
    if problem is not None:
        raise InvalidInput(f"{_show(name)} is not a usable branch name: {problem}")
    return name


@dataclass(frozen=True)
class RefUpdate:
    """One line a pre-receive hook reads: `<old-sha> <new-sha> <ref>`."""

    old: str
    new: str
    ref: str

    @property
    def deletes(self) -> bool:
        return self.new == ZERO_SHA or set(self.new) == {"0"}

    @property
    def branch(self) -> str | None:
        """The branch this updates (`main` for `refs/heads/main`), None for other refs."""
        return self.ref[len(HEADS) :] if self.ref.startswith(HEADS) else None


class BadUpdate(ValueError):
    """A line git would never send: the hook stops without deciding anything."""


def parse_updates(text: str) -> list[RefUpdate]:
    """The updates of a pre-receive hook's standard input."""
    updates = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 3 or not (_SHA.fullmatch(parts[0]) and _SHA.fullmatch(parts[1])):
            raise BadUpdate(f"unexpected ref update line: {_show(line)}")
        updates.append(RefUpdate(parts[0], parts[1], parts[2]))
    return updates


@dataclass(frozen=True)
class PushPlan:
    refusals: list[str]
    """One message per refused update: any refusal rejects the whole push."""
    deploy: RefUpdate | None
    """The update of the deploy branch, to build and roll out; None if it is not pushed."""
    previews: tuple[RefUpdate, ...] = ()
    """With preview apps on: the other branches pushed, each deployed to its preview app."""
    closed: tuple[str, ...] = ()
    """With preview apps on: the other branches deleted, whose preview apps go with them."""


def plan_push(updates: list[RefUpdate], deploy_branch: str, *, previews: bool = False) -> PushPlan:
    """Which updates are refused, which one deploys and (with `previews`) which other
    branches deploy to, or remove, their preview apps."""
    refusals: list[str] = []
    deploy: RefUpdate | None = None
    preview: list[RefUpdate] = []
    closed: list[str] = []
    for update in updates:
        if update.ref.startswith(HEADS):
            short, kind = update.ref[len(HEADS) :], "branch"
        elif update.ref.startswith(TAGS):
            short, kind = update.ref[len(TAGS) :], "tag"
        else:
            refusals.append(
                f"{_show(update.ref)}: only branches (refs/heads/) and tags (refs/tags/) "
                "can be pushed to xae"
            )
            continue
        problem = branch_problem(short)
        if problem is not None:
            refusals.append(f"{kind} {_show(short)} is refused: {problem}")
        elif kind == "branch" and short == deploy_branch:
            if update.deletes:
                refusals.append(
                    f"deleting {short!r}, the deploy branch, is refused: the app keeps running "
                    "its current release; choose another deploy branch first "
                    "(`xae git:branch OTHER --app APP`)"
                )
            else:
                deploy = update
        elif kind == "branch" and previews:
            if update.deletes:
                closed.append(short)
            else:
                preview.append(update)
    if refusals:
        return PushPlan(refusals, None)
    return PushPlan(refusals, deploy, tuple(preview), tuple(closed))


def _show(text: str) -> str:
    """A pusher's text as it may appear in a message: printable ASCII, cut short."""
    cut = text[:80]
    shown = repr(cut) if cut.isascii() and cut.isprintable() else ascii(cut)
    return shown + ("…" if len(text) > 80 else "")
