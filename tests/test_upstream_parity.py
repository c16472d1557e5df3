"""huggingface_hub's own upstream tests, run against the local hub: a stable part that passes today.

The full measurement is ``scripts/upstream_hub_tests.py`` (docs/local-hub.md, "Parity with the Hub:
upstream tests"). This runs a small selection of the tests that pass, so a regression of the local hub
shows up in CI. The test modules come from the sdist of the pinned huggingface_hub; without it (no
PyPI access, nothing cached) the test is skipped with the command that gets it.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "upstream_hub_tests.py"

# Each one passed in every full run; they cover tree listing, deletes, empty and LFS-sized uploads,
# checksums, revision resolution, snapshot downloads (patterns, local dir), card metadata pushes, and
# the issue-18 causes: missing repos, error wording, .gitignore, pull requests, users, settings, moves.
STABLE = [
    "test_hf_api.py::TestHfApiListRepoTree",
    "test_hf_api.py::TestHfApiDeleteFiles",
    "test_hf_api.py::TestHfApiUploadEmptyFile",
    "test_hf_api.py::TestHfApiVerifyChecksums",
    "test_hf_api.py::TestHfApiTagEndpoint::test_create_tag_twice",
    "test_snapshot_download.py::TestResolveRevision",
    "test_snapshot_download.py::TestSnapshotDownload::test_download_model",
    "test_snapshot_download.py::TestSnapshotDownload::test_download_model_with_allow_pattern",
    "test_snapshot_download.py::TestSnapshotDownload::test_download_to_local_dir",
    "test_repocard.py::TestRepocardMetadataUpdate::test_update_existing_result_with_overwrite",
    "test_repocard.py::TestRepocardMetadataUpdate::test_update_new_result_new_dataset",
    # The causes fixed for issue 18 (docs/local-hub.md): one test each.
    "test_hf_api.py::TestHfApiRepoFileExists::test_repo_exists",
    "test_hf_api.py::TestCommitApi::test_create_commit_conflict",
    "test_hf_api.py::TestCommitApi::test_upload_folder_gitignore_in_commit",
    "test_hf_api.py::TestCommitApi::test_create_commit_create_pr",
    "test_hf_api.py::TestCommitApi::test_create_commit_create_pr_on_foreign_repo",
    "test_hf_api.py::TestCommitApi::test_create_repo_already_exists_but_no_write_permission",
    "test_hf_api.py::TestHfApiEndpoints::test_update_repo_settings",
    "test_hf_api.py::TestHfApiEndpoints::test_move_repo_normal_usage",
]
EXPECTED_COUNT = 32  # the selection's tests; a change means upstream moved tests around


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upstream_hub_tests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
# Resolved at import, before the autouse fixture points XDG_CACHE_HOME at a per-test temp dir.
CACHE = harness.cache_dir()


@pytest.fixture(scope="module")
def sdist() -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBKIT_UPSTREAM_CACHE", str(CACHE))
        try:
            return harness.find_sdist(version("huggingface_hub"))
        except harness.SdistUnavailable as exc:
            pytest.skip(f"upstream huggingface_hub sdist unavailable: {exc}")


def test_constants_rewrite_changes_only_the_identity_lines(sdist: Path, tmp_path: Path) -> None:
    tests_dir = harness.unpack_tests(sdist, tmp_path)
    before = (tests_dir / "testing_constants.py").read_text(encoding="utf-8").splitlines()
    harness.rewrite_constants(tests_dir, "http://127.0.0.1:9", "hubkit local hub user")
    after = (tests_dir / "testing_constants.py").read_text(encoding="utf-8").splitlines()
    changed = {b.split(" = ")[0] for b, a in zip(before, after, strict=True) if a != b}
    assert changed == {
        "USER",
        "FULL_NAME",
        "TOKEN",
        "OTHER_USER",
        "OTHER_TOKEN",
        "ENTERPRISE_USER",
        "ENTERPRISE_ORG",
        "ENTERPRISE_TOKEN",
        "ENDPOINT_STAGING",
    }
    assert "ENDPOINT_STAGING = 'http://127.0.0.1:9'" in after
    # The subset of issue 18 is found in the unpacked modules.
    ids = harness.selection(tests_dir)
    assert "test_hf_api.py::TestHfApiRepoFileExists" in ids
    assert any(i.startswith("test_repocard.py::TestRepoCard::test_push") for i in ids)


@pytest.mark.slow
def test_stable_upstream_selection_passes_on_local_hub(sdist: Path) -> None:
    result = harness.run(sdist=sdist, only=STABLE, timeout=300)
    not_passed = {k: v for k, v in result.tests.items() if v["outcome"] != "passed"}
    assert not_passed == {}
    assert len(result.tests) == EXPECTED_COUNT
    assert result.returncode == 0
