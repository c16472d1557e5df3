"""The token never leaves hubkit: not in output, logs, errors, debug tracebacks, cards, hubkit.json,
verification.json, uploaded files, the server's output, or anything written on disk.

The hub runs as its own process (``LocalHubProcess``) so that its complete output can be searched. The
token is not ``hf_``-shaped, so only hubkit's registration of the token (not the ``hf_…`` pattern) can
hide it. ``publish`` gets it with ``--token``, ``verify`` and ``card`` through ``HF_TOKEN``; every command
runs with ``--debug``, and errors are provoked (wrong token, unreachable endpoint, missing revision) so
that debug tracebacks are searched too.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fixtures_reliability import CliProcesses, fresh_env
from huggingface_hub import HfApi

from hubkit.hub import LocalHubProcess

SECRET = "s3cret-Local-Hub-Token-7f3a9c2e41"
REPO = "localuser/secret-release"
FORMS = (SECRET, base64.b64encode(SECRET.encode()).decode(), urllib.parse.quote(SECRET), SECRET[::-1])


def _leaks(data: bytes) -> list[str]:
    return [form for form in FORMS if form.encode() in data]


@pytest.fixture
def secret_hub(tmp_path: Path) -> Iterator[LocalHubProcess]:
    with LocalHubProcess(tmp_path / "hub", token=SECRET) as hub:
        yield hub


def test_token_appears_nowhere(
    secret_hub: LocalHubProcess,
    timm_run_dir: Path,
    cli_processes: CliProcesses,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hub = secret_hub
    env = fresh_env(tmp_path / "client")
    with_env_token = {**env, "HF_TOKEN": SECRET}
    outputs: dict[str, tuple[int, str]] = {}

    def hubkit(name: str, argv: list[str], run_env: dict[str, str]) -> None:
        outputs[name] = cli_processes.run(["--debug", *argv], tmp_path / f"{name}.log", run_env)

    publish = ["publish", str(timm_run_dir), "--endpoint", hub.endpoint, "--repo", REPO, "--select", "last"]
    hubkit("publish", [*publish, "--token", SECRET, "--tag", "v1"], env)
    hubkit("publish-json-rerun", [*publish, "--token", SECRET, "--tag", "v1", "--json"], env)
    hubkit(
        "verify-record",
        [
            "verify",
            REPO,
            "--revision",
            "epoch-004",
            "--endpoint",
            hub.endpoint,
            "--record",
            "--run",
            str(timm_run_dir),
        ],
        with_env_token,
    )
    hubkit(
        "card",
        ["card", "resnet50.a1_in1k", "--repo-id", REPO, "-o", str(tmp_path / "card.md")],
        with_env_token,
    )
    # errors, with --debug tracebacks
    hubkit(
        "wrong-token", [*publish, "--token", SECRET + "-wrong", "--no-verify", "--repo", "localuser/x"], env
    )
    hubkit(
        "unreachable",
        [*publish[:2], "--endpoint", "http://127.0.0.1:9", "--token", SECRET, "--no-verify"],
        env,
    )
    hubkit(
        "missing-revision", ["verify", REPO, "--revision", "nope", "--endpoint", hub.endpoint], with_env_token
    )
    hubkit("bad-template", [*publish, "--token", SECRET, "--template-dir", str(tmp_path / "nope")], env)

    codes = {name: code for name, (code, _) in outputs.items()}
    assert codes == {
        "publish": 0,
        "publish-json-rerun": 0,
        "verify-record": 0,
        "card": 0,
        "wrong-token": 6,
        "unreachable": 6,
        "missing-revision": 7,
        "bad-template": 5,  # a missing --template-dir is a TemplateError (exit 5) for every command
    }, {name: out[-1500:] for name, (_, out) in outputs.items()}
    assert "Traceback" in outputs["unreachable"][1]  # --debug really printed the traceback
    for name, (_, output) in outputs.items():
        assert _leaks(output.encode()) == [], f"token in the output of {name}"

    # Every file of every revision on the hub (cards, hubkit.json, verification.json, weights, curves).
    api = HfApi(endpoint=hub.endpoint, token=SECRET)
    refs = api.list_repo_refs(REPO)
    revisions = [r.target_commit for r in (*refs.branches, *refs.tags)]
    assert {"verification.json", "hubkit.json", "README.md"} <= set(
        api.list_repo_files(REPO, revision="epoch-004")
    )
    with httpx2.Client() as http:
        for rev in revisions:
            for path in api.list_repo_files(REPO, revision=rev):
                data = http.get(f"{hub.endpoint}/{REPO}/resolve/{rev}/{path}").raise_for_status().content
                assert _leaks(data) == [], f"token in {path}@{rev[:7]}"

    hub.stop()
    assert _leaks("".join(hub.output).encode()) == [], "token in the server's output"
    # Everything written on disk during the session so far: hub store, caches, logs, work dirs.
    leaked = [
        str(path)
        for path in tmp_path_factory.getbasetemp().rglob("*")
        if path.is_file() and not path.is_symlink() and _leaks(path.read_bytes())
    ]
    assert leaked == []
    assert os.environ.get("HF_TOKEN") is None
