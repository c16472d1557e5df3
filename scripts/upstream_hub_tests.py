"""Run huggingface_hub's own upstream tests against hubkit's local hub and count what passes.

The test modules come from the PyPI sdist of the installed (pinned) ``huggingface_hub``; they are never
committed. The sdist is looked for, in order: ``--sdist PATH``, ``$HUBKIT_UPSTREAM_SDIST``, the cache
dir (``$HUBKIT_UPSTREAM_CACHE``, else ``$XDG_CACHE_HOME/hubkit/upstream``, ``~/.cache/hubkit/upstream``), and finally downloaded there with
``pip download``. Offline machines: on a machine with PyPI access run

    pip download --no-deps --no-binary :all: huggingface_hub==2.4.0 -d DIR

and copy ``DIR/huggingface_hub-2.4.0.tar.gz`` into the cache dir (or pass ``--sdist``).

The tests are unpacked into a temp dir. Only ``tests/testing_constants.py`` is rewritten (endpoint, user,
tokens); the sdist lacks upstream's ``conftest.py`` and ``__init__.py``, so ``scripts/upstream_conftest.py``
and an empty ``__init__.py`` are added. A :class:`hubkit.hub.LocalHub` is started on a temp data dir with a
users file that creates the users and orgs the tests need (:func:`users_config`), and
pytest runs the model-repo subset in a child process.

Usage::

    .venv/bin/python scripts/upstream_hub_tests.py [--json results.json] [--only NODEID ...] [-- PYTEST_ARGS]

Prints pass/fail counts, then each failure with the first line of its reason; ``--json`` writes
``{"version", "counts", "tests": {nodeid: {"outcome", "reason"}}}``.
Exit status: 0 when the run completed (whatever the counts), 2 when the sdist cannot be obtained.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The users the upstream tests use, created on the local hub through its users file (hashed tokens):
# the main user (member of the org whoami must list), a second user, and an Enterprise org admin.
HUB_USER = "localuser"
HUB_TOKEN = "hf_hubkitUpstreamTestToken000000000"
OTHER_USER = "otheruser"
OTHER_TOKEN = "hf_hubkitUpstreamOtherToken00000000"
ENTERPRISE_USER = "enterpriseadmin"
ENTERPRISE_ORG = "enterpriseorg"
ENTERPRISE_TOKEN = "hf_hubkitUpstreamEnterpriseToken000"

# The model-repo subset of issue 18. Whole modules, test_hf_api.py classes, and the push/metadata tests
# of test_repocard.py (its metadata-update classes whole, plus every test with "push" in its name).
HF_API_CLASSES = (
    "TestHfApiRepoFileExists",
    "TestHfApiEndpoints",
    "TestCommitApi",
    "TestHfApiUploadEmptyFile",
    "TestHfApiDeleteFolder",
    "TestHfApiListRepoTree",
    "TestHfApiTagEndpoint",
    "TestHfApiBranchEndpoint",
    "TestHfApiDeleteFiles",
    "TestHfApiPrivate",
    "TestCommitInBackground",
    "TestListGitCommits",
    "TestHfApiVerifyChecksums",
)
WHOLE_MODULES = ("test_file_download.py", "test_snapshot_download.py", "test_commit_scheduler.py")
REPOCARD_CLASSES = ("TestRepocardMetadataUpdate", "TestMetadataUpdateOnMissingCard")
REPOCARD_PUSH_CLASSES = ("TestRepoCard", "TestModelCard", "TestDatasetCard")
VALID_ORG = ("valid_org_hub", "Dummy Hub Org")  # test_whoami_with_passing_token looks for it


def users_config() -> dict[str, object]:
    """The local hub's users file for the upstream tests (tokens stored as sha256, as always)."""
    from hubkit.hub.users import hash_token

    def user(name: str, token: str) -> dict[str, object]:
        return {"name": name, "tokens": [{"sha256": hash_token(token), "role": "write", "name": "upstream"}]}

    return {
        "users": [
            user(HUB_USER, HUB_TOKEN),
            user(OTHER_USER, OTHER_TOKEN),
            user(ENTERPRISE_USER, ENTERPRISE_TOKEN),
        ],
        "orgs": [
            {"name": VALID_ORG[0], "fullname": VALID_ORG[1], "members": [HUB_USER]},
            {"name": ENTERPRISE_ORG, "members": [ENTERPRISE_USER], "private_by_default": True},
        ],
    }


class SdistUnavailable(RuntimeError):
    """The upstream sdist is neither given, cached, nor downloadable (no access to PyPI)."""


@dataclass(frozen=True)
class RunResult:
    version: str  # "2.4.0"
    tests: dict[str, dict[str, str]]  # nodeid -> {"outcome": "passed", "reason": ""}
    returncode: int  # pytest's exit status

    @property
    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(entry["outcome"] for entry in self.tests.values()))

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "counts": self.counts, "tests": self.tests}


def cache_dir() -> Path:
    """``$HUBKIT_UPSTREAM_CACHE``, else ``$XDG_CACHE_HOME/hubkit/upstream`` (``~/.cache`` by default)."""
    if os.environ.get("HUBKIT_UPSTREAM_CACHE"):
        return Path(os.environ["HUBKIT_UPSTREAM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hubkit" / "upstream"


def find_sdist(hf_version: str, sdist: Path | None = None, *, download: bool = True) -> Path:
    """The sdist of ``huggingface_hub==hf_version``: given, cached, or fetched from PyPI into the cache."""
    name = f"huggingface_hub-{hf_version}.tar.gz"
    candidates = [
        sdist,
        Path(os.environ["HUBKIT_UPSTREAM_SDIST"]) if os.environ.get("HUBKIT_UPSTREAM_SDIST") else None,
    ]
    candidates.append(cache_dir() / name)
    for path in candidates:
        if path is not None and path.is_file():
            return path
    if not download:
        raise SdistUnavailable(f"{name} is not in {cache_dir()}.")
    cache_dir().mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet"]
    cmd += ["--timeout", "15", "--retries", "1"]  # fail fast without network
    cmd += [f"huggingface_hub=={hf_version}", "-d", str(cache_dir())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0 or not (cache_dir() / name).is_file():
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SdistUnavailable(
            f"Cannot download {name} from PyPI ({why}). "
            f"On a machine with PyPI access run `pip download --no-deps --no-binary :all: "
            f"huggingface_hub=={hf_version} -d DIR` and copy the file into {cache_dir()} (or pass --sdist)."
        )
    return cache_dir() / name


def unpack_tests(sdist: Path, dest: Path) -> Path:
    """Extract only ``tests/`` of the sdist into ``dest``; returns the tests dir."""
    with tarfile.open(sdist) as tar:
        prefix = tar.getnames()[0].split("/")[0] + "/tests/"
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        for member in members:
            member.name = "tests/" + member.name[len(prefix) :]
        tar.extractall(dest, members=members, filter="data")
    return dest / "tests"


def rewrite_constants(tests_dir: Path, endpoint: str, full_name: str) -> None:
    """Point ``testing_constants.py`` at the local hub: the only upstream file changed."""
    values = {
        "USER": HUB_USER,
        "FULL_NAME": full_name,
        "TOKEN": HUB_TOKEN,
        "OTHER_USER": OTHER_USER,
        "OTHER_TOKEN": OTHER_TOKEN,
        "ENTERPRISE_USER": ENTERPRISE_USER,
        "ENTERPRISE_ORG": ENTERPRISE_ORG,
        "ENTERPRISE_TOKEN": ENTERPRISE_TOKEN,
        "ENDPOINT_STAGING": endpoint,
    }
    path = tests_dir / "testing_constants.py"
    text = path.read_text(encoding="utf-8")
    for name, value in values.items():
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, count=1, flags=re.MULTILINE)
        if n != 1:
            raise RuntimeError(f"{path} has no `{name} = ...` line; the upstream layout changed.")
    path.write_text(text, encoding="utf-8")


def _methods(module: Path, classes: tuple[str, ...], contains: str = "") -> list[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    ids = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in classes:
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef)
                    and item.name.startswith("test")
                    and contains in item.name
                ):
                    ids.append(f"{module.name}::{node.name}::{item.name}")
    return ids


def selection(tests_dir: Path) -> list[str]:
    """The node ids (relative to ``tests/``) of the model-repo subset."""
    ids = [f"test_hf_api.py::{name}" for name in HF_API_CLASSES]
    ids += list(WHOLE_MODULES)
    ids += [f"test_repocard.py::{name}" for name in REPOCARD_CLASSES]
    ids += _methods(tests_dir / "test_repocard.py", REPOCARD_PUSH_CLASSES, contains="push")
    return ids


def run(
    *,
    sdist: Path | None = None,
    only: list[str] | None = None,
    pytest_args: list[str] | None = None,
    download: bool = True,
    timeout: float | None = None,
) -> RunResult:
    """Start a local hub, run the upstream selection (or ``only``) with pytest, return the outcomes."""
    from hubkit.hub import LocalHub

    hf_version = version("huggingface_hub")
    archive = find_sdist(hf_version, sdist, download=download)
    with tempfile.TemporaryDirectory(prefix="hubkit-upstream-") as tmp:
        work = Path(tmp)
        tests_dir = unpack_tests(archive, work / "src")
        (tests_dir / "__init__.py").write_text("", encoding="utf-8")
        shutil.copyfile(HERE / "upstream_conftest.py", tests_dir / "conftest.py")
        (work / "src" / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        report = work / "report.json"
        users_file = work / "users.json"  # JSON is YAML
        users_file.write_text(json.dumps(users_config()), encoding="utf-8")
        with LocalHub(work / "hub-data", token=HUB_TOKEN, users=users_file) as hub:
            from huggingface_hub import HfApi

            full_name = HfApi(endpoint=hub.endpoint, token=HUB_TOKEN).whoami()["fullname"]
            rewrite_constants(tests_dir, hub.endpoint, full_name)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
            env.update(
                HF_ENDPOINT=hub.endpoint,
                HF_HOME=str(work / "hf-home"),
                HF_HUB_DISABLE_TELEMETRY="1",
                DISABLE_SYMLINKS_IN_WINDOWS_TESTS="1",
                HUBKIT_UPSTREAM_REPORT=str(report),
            )
            ids = [f"tests/{i}" for i in (only or selection(tests_dir))]
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rN",
                "--tb=no",
                "--disable-warnings",
            ]
            cmd += [*(pytest_args or []), *ids]
            proc = subprocess.run(cmd, cwd=work / "src", env=env, timeout=timeout, check=False)
        tests = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    return RunResult(version=hf_version, tests=tests, returncode=proc.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="path to huggingface_hub-<version>.tar.gz")
    parser.add_argument("--json", type=Path, help="write the outcomes here as JSON")
    parser.add_argument("--only", nargs="+", help="node ids relative to tests/, instead of the subset")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    try:
        result = run(sdist=args.sdist, only=args.only, pytest_args=args.pytest_args)
    except SdistUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for nodeid, entry in sorted(result.tests.items()):
        if entry["outcome"] in ("failed", "error"):
            print(f"{entry['outcome'].upper():6} {nodeid}: {entry['reason']}")
    counts = result.counts
    ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    print(
        f"huggingface_hub {result.version} upstream tests on the local hub: {counts.get('passed', 0)} of {ran} pass",
        end="",
    )
    print(f" ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
