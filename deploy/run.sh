#!/usr/bin/env bash
# Submit the app to a SuperLink with `flwr run . NAME`, follow its log, and fail if the run fails.
#
# Usage: deploy/run.sh NAME [flwr run options, e.g. --run-config "num-server-rounds=3"]
#
#   NAME   a connection added with deploy/add-connection.sh
#
# Runs from the repository root (the app is this folder). `flwr run --stream` exits 0 even when
# the run fails, so the final status is read with `flwr ls` and becomes this script's exit code
# (0 only for finished:completed). The run's report is written by the fog to its `run-dir`.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    "") die "name the connection: deploy/run.sh NAME (see --help)" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
connection="$1"
shift
flwr="$(flwr_bin flwr)"
cd "$RINR_REPO_DIR"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The stream may end with an error (e.g. the SuperLink restarted); the status check decides.
"$flwr" run . "$connection" --stream "$@" 2>&1 | tee "$log" || true
run_id="$(sed -n 's/.*Successfully started run \([0-9][0-9]*\).*/\1/p' "$log" | head -n1)"
[[ -n "$run_id" ]] || die "flwr run did not start a run (see the output above)"
status="$("$flwr" ls --run-id "$run_id" "$connection" --format json 2>/dev/null \
    | "$(rinr_python)" -c 'import json, sys; print(json.load(sys.stdin)["runs"][0]["status"])' \
    || echo unknown)"
info "run $run_id: $status"
[[ "$status" == "finished:completed" ]]
