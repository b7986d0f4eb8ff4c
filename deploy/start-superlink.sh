#!/usr/bin/env bash
# Start the SuperLink on the fog node: TLS on and SuperNode authentication on, unless --insecure.
#
# Usage: deploy/start-superlink.sh [--certs DIR] [--host ADDR] [--port N] [--state-dir DIR]
#                                  [--insecure] [-- EXTRA_FLOWER_SUPERLINK_FLAGS...]
#
#   --certs DIR      ca.crt, superlink.crt, superlink.key from deploy/make-certs.sh
#                    (default: $RINR_CERTS or runs/deploy/certs)
#   --host ADDR      listen address (default: $RINR_HOST or 0.0.0.0, every interface)
#   --port N         the SuperLink's one HTTP port: Fleet (SuperNodes), Control (`flwr`) and
#                    Runtime (ServerApp) APIs (default: $RINR_PORT or 9092)
#   --state-dir DIR  its database (registered node keys, runs) and log file
#                    (default: $RINR_STATE_DIR or runs/deploy/superlink)
#   --insecure       no TLS and no SuperNode authentication: anyone who reaches the port may
#                    join. Prints a loud warning. For isolated test networks only.
#
# The process replaces this script (exec), so a supervisor (systemd) sees flower-superlink
# itself. Runtime installation of app dependencies is off: the fog's Python environment must
# already hold the project (pip install -e .). The ServerApp runs in this directory: relative
# paths of the run (cache-dir, run-dir) are taken from here.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

certs="${RINR_CERTS:-$RINR_DEPLOY_HOME/certs}"
host="${RINR_HOST:-0.0.0.0}"
port="${RINR_PORT:-9092}"
state="${RINR_STATE_DIR:-$RINR_DEPLOY_HOME/superlink}"
insecure=0
extra=()
while (($#)); do
    case "$1" in
        --certs) certs="${2:?--certs needs a folder}"; shift 2 ;;
        --host) host="${2:?--host needs an address}"; shift 2 ;;
        --port) port="${2:?--port needs a number}"; shift 2 ;;
        --state-dir) state="${2:?--state-dir needs a folder}"; shift 2 ;;
        --insecure) insecure=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"

args=(--host "$host" --port "$port" --database "$state/superlink.db"
      --log-file "$state/superlink.log" --isolation subprocess
      --disable-runtime-dependency-installation)
if ((insecure)); then
    warn_insecure "SuperLink on $host:$port without TLS and without SuperNode authentication"
    args+=(--insecure)
else
    for file in ca.crt superlink.crt superlink.key; do
        require_file "$certs/$file" "TLS file (create it with deploy/make-certs.sh)"
    done
    args+=(--ssl-ca-certfile "$certs/ca.crt" --ssl-certfile "$certs/superlink.crt"
           --ssl-keyfile "$certs/superlink.key" --enable-supernode-auth)
fi
mkdir -p "$state"
info "flower-superlink on $host:$port, state in $state"
exec "$(flwr_bin flower-superlink)" "${args[@]}" "${extra[@]}"
