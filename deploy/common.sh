# shellcheck shell=bash
# Shared helpers of the deploy/ scripts; sourced, never run.

RINR_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RINR_REPO_DIR="$(dirname "$RINR_DEPLOY_DIR")"
# Where generated certificates, node keys and state go by default (git-ignored under runs/).
RINR_DEPLOY_HOME="${RINR_DEPLOY_HOME:-$RINR_REPO_DIR/runs/deploy}"

# Flower's executables start others by name (flower-superlink -> flower-superexec ->
# flwr-serverapp, flower-supernode -> flwr-clientapp), so the environment's bin/ goes first on PATH.
for _bin in "${RINR_VENV:+$RINR_VENV/bin}" "$RINR_REPO_DIR/.venv/bin"; do
    if [[ -n "$_bin" && -x "$_bin/flwr" ]]; then
        PATH="$_bin:$PATH"
        export PATH
        break
    fi
done
unset _bin

# Flower must never build a fresh environment per run (uv would download torch) nor phone home.
export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
export FLWR_DISABLE_UPDATE_CHECK=1

die() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

info() {
    printf '[deploy] %s\n' "$*" >&2
}

warn_insecure() {
    # A loud, unmissable warning for any insecure mode.
    local what="$1"
    {
        printf '\n'
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '!!  WARNING: INSECURE MODE: %s\n' "$what"
        printf '!!  Traffic is NOT encrypted and ANY machine that reaches the port can join\n'
        printf '!!  or submit runs. Use only on an isolated test network.\n'
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '\n'
    } >&2
}

need() {
    # need CMD [HINT]: stop with a clear message when a command is missing.
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; ${2:-install it first}"
}

flwr_bin() {
    # flwr_bin NAME: the Flower executable NAME, from $RINR_VENV/bin, the repo's .venv, or PATH.
    local name="$1" candidate
    for candidate in "${RINR_VENV:+$RINR_VENV/bin/$name}" "$RINR_REPO_DIR/.venv/bin/$name"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    command -v "$name" >/dev/null 2>&1 || die "'$name' not found; run 'make test' once (creates .venv) or set RINR_VENV to a virtual environment with flwr 1.41"
    command -v "$name"
}

rinr_python() {
    # The Python of the project's environment (RINR_VENV, the repo's .venv, or python3).
    local candidate
    for candidate in "${RINR_VENV:+$RINR_VENV/bin/python}" "$RINR_REPO_DIR/.venv/bin/python"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    need python3
    command -v python3
}

require_file() {
    # require_file PATH WHAT: stop unless PATH is a readable file.
    [[ -r "$1" ]] || die "$2 '$1' not found or not readable"
}
