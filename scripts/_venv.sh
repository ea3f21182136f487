# Sourced by scripts/test and scripts/demo: make .venv (with the python3 on PATH) and install
# the project into it, editable, with the test extra. Reinstalls only when pyproject.toml or the
# list of package files changed since the last install: editable installs are in strict mode
# (build_backend.py), which links each file, so a new module needs one.
# Needs nothing but python3: on Debian without python3-venv (no ensurepip), the venv is made
# without pip and the system pip installs into it (pip --python, pip >= 22.3).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV_PYTHON="$ROOT/.venv/bin/python"

if ! "$VENV_PYTHON" -c pass 2>/dev/null; then
    python3 -m venv .venv 2>/dev/null || python3 -m venv --clear --without-pip .venv
fi
if "$VENV_PYTHON" -m pip --version >/dev/null 2>&1; then
    pip=("$VENV_PYTHON" -m pip)
else
    pip=(python3 -m pip --python "$VENV_PYTHON")
fi
stamp=.venv/.llmtrace-installed
installed="$(cat pyproject.toml; find src instrumentors -name '*.py' | sort)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$installed" ]]; then
    "${pip[@]}" install --quiet --disable-pip-version-check -e ".[test]" \
        2> >(grep -v "^WARNING: Location" >&2)
    printf '%s' "$installed" > "$stamp"
fi
