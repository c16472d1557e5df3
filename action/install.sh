#!/usr/bin/env bash
# Install hubkit for the action into its own virtual environment, so that the workflow's Python (and
# whatever the job installed there) is left alone. Reads:
#   HUBKIT_SETUP_PYTHON  the interpreter actions/setup-python installed (falls back to python3)
#   HUBKIT_VERSION       empty: install the action's own checkout with its constraints.txt;
#                        otherwise install hubkit==HUBKIT_VERSION from the package index
#   HUBKIT_EXTRAS        comma-separated extras (e.g. mmpretrain); empty: none
#   GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_OUTPUT  set by the runner
# Writes the step output `python` (the venv's interpreter) for the publish step.
set -euo pipefail

python="${HUBKIT_SETUP_PYTHON:-python3}"
version="${HUBKIT_VERSION:-}"
extras="${HUBKIT_EXTRAS:-}"
action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set; run this script as part of the action}"

# A version is a PEP 440 string; anything else would reach pip as an option or a URL.
if [[ -n "$version" && ! "$version" =~ ^[0-9][0-9A-Za-z.+!]*$ ]]; then
    echo "::error title=hubkit::hubkit-version must be a version number such as 0.1.0 (got an invalid value)." >&2
    echo "  hint: leave hubkit-version empty to use the action's own checkout." >&2
    exit 2
fi

# Extras are names of the package's optional dependencies; anything else would reach pip as something else.
if [[ -n "$extras" && ! "$extras" =~ ^[a-z][a-z0-9_-]*(,[a-z][a-z0-9_-]*)*$ ]]; then
    echo "::error title=hubkit::extras must be comma-separated extra names such as mmpretrain (got an invalid value)." >&2
    echo "  hint: leave extras empty for timm and OpenCLIP runs." >&2
    exit 2
fi
suffix="${extras:+[$extras]}"

venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/hubkit-action-venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip

if [[ -z "$version" ]]; then
    echo "Installing hubkit from the action checkout ($action_path) with its constraints.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$action_path/constraints.txt" "$action_path$suffix"
else
    echo "Installing hubkit==$version from the package index"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "hubkit$suffix==$version"
fi

"$venv/bin/hubkit" --version
echo "python=$venv/bin/python" >>"$GITHUB_OUTPUT"
