"""`git push xae main` as a developer does it: the real git client against the tests' plane.

The repository's remote and credential helper come from `xae git:remote`; git is run with no
global config and no prompt, so a push that works proves the helper answered, and the token
never appears in `.git/config`. Each refusal (a broken build, a deleted deploy branch, a
branch name with shell characters, a symlink out of the tree, a submodule, a wrong token,
another team's app) must fail the push with a clear `remote:` message, leave the refs and the
release serving as they were, and leave nothing behind.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import BIN, Plane, wait_for

pytestmark = pytest.mark.e2e

BUILD_TIMEOUT = 600


@dataclass
class Repo:
    """A working copy with the remote `xae`, as `xae git:remote` leaves it."""

    path: Path
    env: dict[str, str]

    def git(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT if "push" in args else 60,
        )
        if ok is True and proc.returncode != 0:
            pytest.fail(f"`git {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr}")
        if ok is False and proc.returncode == 0:
            pytest.fail(f"`git {' '.join(args)}` succeeded; it should not have:\n{proc.stderr}")
        return proc

    def xae(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "xae"), *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def remote_refs(self) -> dict[str, str]:
        listed = self.git("ls-remote", "xae").stdout
        return {ref: sha for sha, ref in (line.split("\t") for line in listed.splitlines())}


def git_env(plane: Plane, home: Path) -> dict[str, str]:
    """git as on a fresh machine: no global config, never prompting."""
    home.mkdir(exist_ok=True)
    return plane.env | {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }


def new_repo(plane: Plane, source: Path, app: str, home: Path) -> Repo:
    repo = Repo(source, git_env(plane, home))
    repo.git("init", "-q", "-b", "main")
    repo.commit("first version")
    repo.xae("git:remote", "--app", app)
    return repo


def release_descriptions(plane: Plane, app: str) -> list[str]:
    return [str(r["description"]) for r in plane.xae_json("releases", "--app", app)]


def say(source: Path, text: str) -> None:
    """Make the Flask app's answer start with `text` (a code-only change)."""
    app_py = source / "app.py"
    body = app_py.read_text()
    body = re.sub(r'body = f"[^"]*', f'body = f"{text} hello from {{socket.gethostname()}}', body)
    app_py.write_text(body)


def test_a_push_builds_releases_and_serves_the_commit_and_a_force_push_replaces_it(
    plane: Plane, app_source: Callable[[str], Path], tmp_path: Path
) -> None:
    app = plane.new_app("git")
    source = app_source("flask")
    say(source, "first")
    repo = new_repo(plane, source, app, tmp_path / "home")
    assert plane.token not in (source / ".git" / "config").read_text()

    pushed = repo.git("push", "xae", "main")
    assert "remote: -----> building image" in pushed.stderr
    assert re.search(r"remote: -----> deployed v\d+", pushed.stderr), pushed.stderr
    wait_for(lambda: plane.serving(app, "first hello"), 60, "the pushed commit to serve")
    first = repo.head()
    assert release_descriptions(plane, app)[0] == f"Deploy {first[:7]}: first version"

    # Rewritten history: refused without --force, deployed with it.
    say(source, "amended")
    repo.git("commit", "-q", "-a", "--amend", "-m", "second take")
    refused = repo.git("push", "xae", "main", ok=False)
    assert "rejected" in refused.stderr
    forced = repo.git("push", "--force", "xae", "main")
    assert "remote: -----> deployed" in forced.stderr
    wait_for(lambda: plane.serving(app, "amended hello"), 60, "the forced commit to serve")
    assert repo.remote_refs()["refs/heads/main"] == repo.head() != first
    assert release_descriptions(plane, app)[0] == f"Deploy {repo.head()[:7]}: second take"


@pytest.fixture
def pushed(plane: Plane, app_source: Callable[[str], Path], tmp_path: Path) -> tuple[str, Repo]:
    """An app serving the Flask fixture, pushed once from a fresh repository."""
    app = plane.new_app("gitbad")
    source = app_source("flask")
    say(source, "good")
    repo = new_repo(plane, source, app, tmp_path / "home")
    repo.git("push", "xae", "main")
    wait_for(lambda: plane.serving(app, "good hello"), 60, "the first push to serve")
    return app, repo


def assert_untouched(plane: Plane, app: str, repo: Repo, main: str, releases: int) -> None:
    assert repo.remote_refs()["refs/heads/main"] == main
    assert len(release_descriptions(plane, app)) == releases
    assert plane.serving(app, "good hello")
    # Each push's channel directory (named after the plane) goes with its request.
    channels = f"xae-push-{plane.env['XAE_PLANE']}-*"
    wait_for(
        lambda: not list(Path(tempfile.gettempdir()).glob(channels)),
        10,
        "the push channels' directories to go",
    )
    builds = plane.state_dir / "builds" / app
    assert not builds.exists() or not any(builds.iterdir())


@pytest.mark.backends("docker")
def test_refused_pushes_leave_the_refs_and_the_release_as_they_were(
    plane: Plane, pushed: tuple[str, Repo]
) -> None:
    app, repo = pushed
    main, releases = repo.head(), len(release_descriptions(plane, app))

    # A commit that does not build: the push fails, the old release keeps serving.
    (repo.path / "requirements.txt").write_text("flask\nno-such-package-xae-test==0.0.1\n")
    repo.commit("break the build")
    broken = repo.git("push", "xae", "main", ok=False)
    assert "remote:  !" in broken.stderr and "still serves" in broken.stderr
    assert_untouched(plane, app, repo, main, releases)
    repo.git("reset", "-q", "--hard", main)

    # A symlink out of the tree.
    os.symlink("../../../../etc/passwd", repo.path / "passwd")
    repo.commit("link out")
    escaping = repo.git("push", "xae", "main", ok=False)
    assert "points outside the upload" in escaping.stderr
    assert_untouched(plane, app, repo, main, releases)
    repo.git("reset", "-q", "--hard", main)

    # A submodule (a gitlink to a commit of another repository).
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib")
    repo.git("commit", "-q", "-m", "add a submodule")
    submodule = repo.git("push", "xae", "main", ok=False)
    assert "submodules ('vendor/lib')" in submodule.stderr
    assert_untouched(plane, app, repo, main, releases)
    repo.git("reset", "-q", "--hard", main)

    # Deleting the deploy branch.
    deleting = repo.git("push", "xae", ":main", ok=False)
    assert "deleting 'main', the deploy branch, is refused" in deleting.stderr
    assert_untouched(plane, app, repo, main, releases)

    # A branch name with shell characters (git itself allows `;` and `$`).
    shell = repo.git("push", "xae", "HEAD:refs/heads/x;id$(id)", ok=False)
    assert "only letters, digits and . _ / - are allowed" in shell.stderr
    assert "refs/heads/x;id$(id)" not in repo.remote_refs()
    assert_untouched(plane, app, repo, main, releases)


@pytest.mark.backends("docker")
def test_another_branch_is_stored_not_deployed_and_the_deploy_branch_can_change(
    plane: Plane, pushed: tuple[str, Repo], tmp_path: Path
) -> None:
    app, repo = pushed
    main, releases = repo.head(), len(release_descriptions(plane, app))
    say(repo.path, "feature")
    feature = repo.commit("a feature")
    stored = repo.git("push", "xae", "HEAD:feature")
    assert "only a push to 'main' deploys" in stored.stderr
    assert repo.remote_refs()["refs/heads/feature"] == feature
    assert_untouched(plane, app, repo, main, releases)

    assert repo.xae("git:branch", "--app", app).stdout.strip() == "main"
    repo.xae("git:branch", "feature", "--app", app)
    assert repo.xae("git:branch", "--app", app).stdout.strip() == "feature"
    repo.xae("git:branch", "main", "--app", app)

    # `xae git:clone` gets the same history, set up to push.
    clone_env = repo.env
    cloned = subprocess.run(
        [str(BIN / "xae"), "git:clone", app, str(tmp_path / "copy")],
        env=clone_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cloned.returncode == 0, cloned.stderr
    copy = Repo(tmp_path / "copy", clone_env)
    assert copy.head() == main
    assert copy.git("remote").stdout.split() == ["xae"]
    assert plane.token not in (copy.path / ".git" / "config").read_text()
    assert copy.remote_refs()["refs/heads/feature"] == feature


@pytest.mark.backends("docker")
def test_a_wrong_token_is_refused_and_another_teams_app_is_not_found(
    plane: Plane, pushed: tuple[str, Repo], tmp_path: Path
) -> None:
    app, repo = pushed
    url = repo.git("remote", "get-url", "xae").stdout.strip()

    anonymous = httpx.get(f"{url}/info/refs", params={"service": "git-receive-pack"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")

    wrong = repo.git(
        "-c",
        "credential.helper=",
        "-c",
        "credential.helper=!f() { echo username=x; echo password=not-a-token; }; f",
        "push",
        url,
        "main",
        ok=False,
    )
    assert "Authentication failed" in wrong.stderr

    # Someone of another team, with a real token of their own.
    made = plane.xae("users:create", "mallory@example.org").stdout
    password = re.search(r"password for '[^']+': (\S+)", made)
    assert password, made
    home = tmp_path / "mallory"
    env = plane.env | {"XDG_CONFIG_HOME": str(home)}
    subprocess.run(
        [str(BIN / "xae"), "login", "--api-url", plane.api, "--email", "mallory@example.org"]
        + ["--password", password.group(1)],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    theirs = Repo(repo.path, repo.env | {"XDG_CONFIG_HOME": str(home)})
    for args in (("ls-remote", url), ("push", url, "HEAD:refs/heads/stolen")):
        refused = theirs.git(*args, ok=False)
        assert "not found" in refused.stderr, refused.stderr
    assert "refs/heads/stolen" not in repo.remote_refs()
    plane.xae(
        "users:remove", "mallory@example.org", "--confirm", "mallory@example.org", check=False
    )
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.backends("docker")
def test_with_previews_on_a_pushed_branch_gets_its_own_app_until_the_branch_is_deleted(
    plane: Plane, pushed: tuple[str, Repo]
) -> None:
    app, repo = pushed
    main, releases = repo.head(), len(release_descriptions(plane, app))
    repo.xae("previews:on", "--app", app)
    say(repo.path, "preview")
    repo.commit("try a feature")

    created = repo.git("push", "xae", "HEAD:Feature/Login_Page")
    named = re.search(r"remote: -----> preview app (\S+) ", created.stderr)
    assert named, created.stderr
    # The branch as a DNS label, cut so the whole name stays a valid app name.
    preview = named.group(1)
    assert preview.startswith(f"{app}--feature-login"), preview
    assert re.search(r"remote: -----> deployed v\d+", created.stderr), created.stderr
    wait_for(lambda: plane.serving(preview, "preview hello"), 60, "the preview app to serve")
    listed = plane.xae_json("previews", "--app", app)
    assert [(p["branch"], p["app"]) for p in listed["previews"]] == [
        ("Feature/Login_Page", preview)
    ]
    # The app itself did not move.
    assert_untouched(plane, app, repo, main, releases)

    deleted = repo.git("push", "xae", ":Feature/Login_Page")
    assert f"remote: -----> destroyed the preview app {preview}" in deleted.stderr
    assert preview not in [a["name"] for a in plane.xae_json("apps")]
    assert plane.xae_json("previews", "--app", app)["previews"] == []
    assert plane.serving(app, "good hello")

    # One push of the deploy branch and a branch whose build fails: main deploys first, so the
    # branch's failure can no longer refuse the push (main's ref must name what serves). It is
    # reported, and both refs are stored.
    repo.git("checkout", "-q", "main")
    say(repo.path, "together")
    together = repo.commit("a change for main")
    repo.git("checkout", "-q", "-b", "broken")
    (repo.path / "xae.yaml").write_text("no_such_key: 1\n")
    broken = repo.commit("a manifest xae refuses")
    repo.git("checkout", "-q", "main")
    both = repo.git("push", "xae", "main", "broken")
    assert re.search(r"remote: -----> deployed v\d+", both.stderr), both.stderr
    assert "xae.yaml" in both.stderr and "no_such_key" in both.stderr, both.stderr
    assert "remote:  !     failed: deploying" in both.stderr, both.stderr
    assert "of 'broken' to its preview app" in both.stderr, both.stderr
    refs = repo.remote_refs()
    assert (refs["refs/heads/main"], refs["refs/heads/broken"]) == (together, broken)
    wait_for(lambda: plane.serving(app, "together hello"), 60, "main's new commit to serve")
    for made in {a["app"] for a in plane.xae_json("previews", "--app", app)["previews"]}:
        plane.apps.append(made)  # destroyed with the test's apps


@pytest.mark.backends("docker")
def test_a_push_with_an_app_token_stores_a_branch_but_never_creates_a_preview_app(
    plane: Plane, pushed: tuple[str, Repo]
) -> None:
    """Making a preview is making an app: a CI token limited to the app may push any branch,
    but only someone who may create apps in the team makes the branch's preview; once made,
    the app token updates it and removes it with the branch."""
    app, repo = pushed
    main, releases = repo.head(), len(release_descriptions(plane, app))
    repo.xae("previews:on", "--app", app)
    name = f"ci-{secrets.token_hex(2)}"
    made = plane.xae("tokens:create", name, "--app", app, "--expires-in-days", "1").stdout
    token = next(line for line in made.splitlines() if line.startswith("xae_"))
    ci = Repo(repo.path, repo.env | {"XAE_TOKEN": token})
    try:
        say(repo.path, "branch")
        pushed_sha = repo.commit("a branch from CI")
        stored = ci.git("push", "xae", "HEAD:feature-ci")
        assert re.search(
            rf"remote: -----> no preview app {app}--feature-ci was made: making one creates "
            r"an app in team '[^']+', and token '" + name + "' is limited to one app",
            stored.stderr,
        ), stored.stderr
        assert "xae login" in stored.stderr and "deployed" not in stored.stderr
        assert repo.remote_refs()["refs/heads/feature-ci"] == pushed_sha
        assert plane.xae_json("previews", "--app", app)["previews"] == []
        assert f"{app}--feature-ci" not in [a["name"] for a in plane.xae_json("apps")]

        # A developer's own login token makes it; the app token then updates it.
        repo.git("push", "xae", ":feature-ci")  # git sends no update for a branch as it is
        made_by_dev = repo.git("push", "xae", "HEAD:feature-ci")
        assert f"remote: -----> preview app {app}--feature-ci " in made_by_dev.stderr
        preview = f"{app}--feature-ci"
        plane.apps.append(preview)
        wait_for(lambda: plane.serving(preview, "branch hello"), 60, "the preview to serve")
        say(repo.path, "updated")
        repo.commit("CI updates the branch")
        updated = ci.git("push", "xae", "HEAD:feature-ci")
        assert re.search(r"remote: -----> deployed v\d+", updated.stderr), updated.stderr
        wait_for(lambda: plane.serving(preview, "updated hello"), 60, "the update to serve")

        removed = ci.git("push", "xae", ":feature-ci")
        assert f"remote: -----> destroyed the preview app {preview}" in removed.stderr
        plane.apps.remove(preview)
        assert plane.xae_json("previews", "--app", app)["previews"] == []
        assert_untouched(plane, app, repo, main, releases)
    finally:
        listed = {t["name"]: t for t in plane.xae_json("tokens")}
        if name in listed:
            plane.xae("tokens:revoke", str(listed[name]["id"]))


def reply(source: Path, text: str) -> None:
    """Make the Express app's answer start with `text` (a code-only change)."""
    server = source / "server.js"
    body = re.sub(r"send\(`[^$`]*hello from ", f"send(`{text} hello from ", server.read_text())
    server.write_text(body)


@pytest.mark.backends("docker")
def test_two_pushes_of_an_express_app_at_once_take_turns_and_never_race(
    plane: Plane, app_source: Callable[[str], Path], tmp_path: Path
) -> None:
    app = plane.new_app("gitnode")
    source = app_source("express")
    reply(source, "one")
    repo = new_repo(plane, source, app, tmp_path / "home")
    first = repo.git("push", "xae", "main")
    assert "remote:        -----> node app detected" in first.stderr, first.stderr
    wait_for(lambda: plane.serving(app, "one hello"), 60, "the Express app to serve")
    releases = len(release_descriptions(plane, app))

    # A second working copy of the same history: two developers push at once.
    other = Repo(tmp_path / "other", repo.env)
    shutil.copytree(repo.path, other.path, symlinks=True)
    reply(repo.path, "two")
    repo.commit("two")
    reply(other.path, "three")
    other.commit("three")

    def push(r: Repo) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["git", "push", "--force", "xae", "main"],
            cwd=r.path,
            env=r.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    early = push(repo)
    wait_for(lambda: len(plane.xae_json("builds", "--app", app)) >= 2, 60, "the first push's build")
    late = push(other)
    _, early_err = early.communicate(timeout=BUILD_TIMEOUT)
    _, late_err = late.communicate(timeout=BUILD_TIMEOUT)
    assert early.returncode == 0, early_err
    # The later one waited its turn, saw that main had moved under it and deployed nothing:
    # git would have refused its ref update after the fact.
    assert late.returncode != 0, late_err
    assert f"remote: -----> queued: another push to {app} is deploying" in late_err, late_err
    assert "'main' moved to" in late_err and "nothing was deployed" in late_err, late_err
    assert release_descriptions(plane, app)[0] == f"Deploy {repo.head()[:7]}: two"
    assert len(release_descriptions(plane, app)) == releases + 1
    assert repo.remote_refs()["refs/heads/main"] == repo.head()
    wait_for(lambda: plane.serving(app, "two hello"), 60, "the first push to serve")

    # Pushed again (now from where main is), it deploys.
    again = other.git("push", "--force", "xae", "main")
    assert re.search(r"remote: -----> deployed v\d+", again.stderr), again.stderr
    wait_for(lambda: plane.serving(app, "three hello"), 60, "the second push to serve")
