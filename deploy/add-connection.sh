#!/usr/bin/env bash
# Add a SuperLink connection to $FLWR_HOME/config.toml (default ~/.flwr), for `flwr run . NAME`.
#
# Usage: deploy/add-connection.sh NAME HOST:PORT --ca CA_CERT [--default]
#        deploy/add-connection.sh NAME HOST:PORT --insecure        (test networks only)
#
# Example: deploy/add-connection.sh fog 192.168.1.10:9092 --ca runs/deploy/certs/ca.crt --default
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for arg in "$@"; do
    case "$arg" in
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --insecure) warn_insecure "connection $1 without TLS" ;;
    esac
done
export PYTHONPATH="$RINR_REPO_DIR${PYTHONPATH:+:$PYTHONPATH}"
exec "$(rinr_python)" -m deploy.connection "$@"
