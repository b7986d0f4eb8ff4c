#!/usr/bin/env bash
# Register SuperNode public keys on the SuperLink, so that those nodes (and only those) may join.
#
# Usage: deploy/register-nodes.sh CONNECTION PUBLIC_KEY...
#
#   CONNECTION   a SuperLink connection in $FLWR_HOME/config.toml (deploy/add-connection.sh)
#   PUBLIC_KEY   NAME.pub files from deploy/make-node-keys.sh
#
# Prints "<key file> <node id>" per key. A key that is already registered is reported and
# skipped. Run it from any machine that has the CA certificate and reaches the SuperLink.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    "") die "name the connection and the keys: deploy/register-nodes.sh CONNECTION KEY.pub... (see --help)" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
connection="$1"
shift
(($#)) || die "name at least one public key file (NAME.pub)"
flwr="$(flwr_bin flwr)"
python="$(rinr_python)"
status=0
for key in "$@"; do
    require_file "$key" "public key"
    grep -q '^ecdsa-sha2-nistp384 ' "$key" || die "$key is not an ECDSA P-384 public key (use deploy/make-node-keys.sh)"
    out="$("$flwr" supernode register "$key" "$connection" --format json 2>&1)" || true
    node_id="$(printf '%s' "$out" | "$python" -c '
import json, sys
text = sys.stdin.read()
try:
    data = json.loads(text[text.index("{"):])
except ValueError:
    sys.exit(1)
if data.get("success"):
    print(data["node-id"])
else:
    message = str(data.get("error-message", data)).strip()
    print("ERROR " + message.splitlines()[-1])
' || printf 'ERROR %s' "$out")"
    case "$node_id" in
        ERROR*already*)
            info "$key is already registered: ${node_id#ERROR }" ;;
        ERROR*)
            printf 'error: registering %s failed: %s\n' "$key" "${node_id#ERROR }" >&2
            status=1 ;;
        *)
            printf '%s %s\n' "$key" "$node_id" ;;
    esac
done
exit "$status"
