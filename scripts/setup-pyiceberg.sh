#!/usr/bin/env bash
# Creates .venv-iceberg/, a project-local Python environment with an independent Iceberg reader
# (pyiceberg + pyarrow) and DuckDB, used by test/iceberg to check the tables Floe writes.
#
# Idempotent: a marker file records the pinned versions; when it matches, the script exits at once.
# Safe to run from several test workers at the same time (a lock serialises the install).
#
#   scripts/setup-pyiceberg.sh            # install or verify
#   PYTHON=python3.12 scripts/setup-pyiceberg.sh
#
# Needs Python >= 3.10 (pyiceberg 0.12 requires it) with the venv module, and access to PyPI.
set -euo pipefail

PYICEBERG_VERSION=0.12.0
PYARROW_VERSION=22.0.0
DUCKDB_VERSION=1.4.4
PINS="pyiceberg==${PYICEBERG_VERSION} pyarrow==${PYARROW_VERSION} duckdb==${DUCKDB_VERSION}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv-iceberg"
MARKER="${VENV}/.floe-installed"
LOCK="${VENV}/.floe-setup.lock"
PYTHON="${PYTHON:-python3}"

log() { printf '[setup-pyiceberg] %s\n' "$*" >&2; }
fail() { printf '[setup-pyiceberg] ERROR: %s\n' "$*" >&2; exit 1; }

already_installed() {
  [[ -f "${MARKER}" && "$(cat "${MARKER}")" == "${PINS}" && -x "${VENV}/bin/python" ]]
}

if already_installed; then
  log "ready (${PINS})"
  exit 0
fi

# Serialise concurrent installs: flock where available (Linux), otherwise a mkdir lock. The lock
# lives inside the venv directory so that nothing outside .venv-iceberg/ is created.
mkdir -p "${VENV}"
if command -v flock >/dev/null 2>&1; then
  exec 9>"${LOCK}"
  flock 9
else
  waited=0
  until mkdir "${LOCK}.d" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    [[ ${waited} -lt 600 ]] || fail "waited 10 minutes for ${LOCK}.d; remove it if no install is running"
  done
  trap 'rmdir "${LOCK}.d" 2>/dev/null || true' EXIT
fi

if already_installed; then
  log "ready (${PINS}), installed by a concurrent run"
  exit 0
fi

command -v "${PYTHON}" >/dev/null 2>&1 || fail "${PYTHON} not found. Install Python >= 3.10 or set PYTHON=/path/to/python3."
"${PYTHON}" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  fail "$("${PYTHON}" --version 2>&1) is too old: pyiceberg ${PYICEBERG_VERSION} needs Python >= 3.10. Set PYTHON=/path/to/python3.10+."

if [[ ! -x "${VENV}/bin/python" ]]; then  # python -m venv accepts the existing (lock-only) directory
  log "creating ${VENV} with $("${PYTHON}" --version 2>&1)"
  "${PYTHON}" -m venv "${VENV}" ||
    fail "python -m venv failed; on Debian/Ubuntu install the python3-venv package"
fi

log "installing ${PINS} from PyPI (about 70 MB of wheels on first run)"
start=${SECONDS}
"${VENV}/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  "pyiceberg[pyarrow]==${PYICEBERG_VERSION}" "pyarrow==${PYARROW_VERSION}" "duckdb==${DUCKDB_VERSION}" ||
  fail "pip install failed (see above). Check network access to PyPI, then rerun scripts/setup-pyiceberg.sh."

"${VENV}/bin/python" -c 'import pyiceberg, pyarrow, duckdb' ||
  fail "the packages installed but do not import; delete ${VENV} and rerun"

printf '%s' "${PINS}" >"${MARKER}"
log "ready (${PINS}) in $((SECONDS - start)) s"
