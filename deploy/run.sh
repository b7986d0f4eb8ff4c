#!/usr/bin/env bash
# Submit the app to a SuperLink with `flwr run . NAME`, follow its log, and fail unless the run
# completed without errors.
#
# Usage: deploy/run.sh NAME [flwr run options, e.g. --run-config "num-server-rounds=3"]
#
#   NAME   a connection added with deploy/add-connection.sh
#
# Runs from the repository root (the app is this folder). `flwr run --stream` exits 0 even when
# the run fails, so two statuses decide the exit code: Flower's (from `flwr ls`) and the fog's,
# from the ServerApp's last log line `[rinr] run status: STATUS` (in the streamed log, or, when
# the stream broke off, in `flwr log RUN_ID NAME --show`). Exit code:
#
#   0  Flower says finished:completed and the fog says completed
#   3  every round ran but some reply was lost, an error or unreadable: completed_with_errors
#      (the report's errors list each one: round, phase, node, reason)
#   1  anything else: the run failed, was stopped, or its status could not be read
#
# The run's report is written by the fog to its `run-dir`.
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
trap 'rm -f "$log" "$log.after"' EXIT

fog_status() {
    # fog_status FILE: the status of the last `[rinr] run status: STATUS` line of FILE, if any.
    sed -n 's/.*\[rinr\] run status: \([a-z_]*\).*/\1/p' "$1" | tail -n1
}

# The stream may end with an error (e.g. the SuperLink restarted); the status checks decide.
"$flwr" run . "$connection" --stream "$@" 2>&1 | tee "$log" || true
run_id="$(sed -n 's/.*Successfully started run \([0-9][0-9]*\).*/\1/p' "$log" | head -n1)"
[[ -n "$run_id" ]] || die "flwr run did not start a run (see the output above)"
status="$("$flwr" ls --run-id "$run_id" "$connection" --format json 2>/dev/null \
    | "$(rinr_python)" -c 'import json, sys; print(json.load(sys.stdin)["runs"][0]["status"])' \
    || echo unknown)"
fog="$(fog_status "$log")"
if [[ -z "$fog" ]]; then
    limit=()
    if command -v timeout >/dev/null 2>&1; then limit=(timeout 120); fi
    "${limit[@]}" "$flwr" log "$run_id" "$connection" --show >"$log.after" 2>&1 || true
    fog="$(fog_status "$log.after")"
fi
info "run $run_id: $status, fog status ${fog:-unknown}"
if [[ "$status" == "finished:completed" && "$fog" == "completed" ]]; then
    exit 0
fi
if [[ "$status" == "finished:completed" && "$fog" == "completed_with_errors" ]]; then
    info "run $run_id completed with errors: its report lists them (round, phase, node, reason)"
    exit 3
fi
info "run $run_id did not complete (Flower: $status, fog: ${fog:-unknown})"
exit 1
