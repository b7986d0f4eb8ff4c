#!/usr/bin/env bash
# Start a SuperNode on an edge device: TLS + its own private key, unless --insecure.
#
# Usage: deploy/start-supernode.sh --superlink HOST:PORT --partition-id P --num-partitions N
#            [--key FILE] [--ca FILE] [--data DIR] [--device DEV] [--edge-dir DIR]
#            [--port N] [--insecure] [-- EXTRA_FLOWER_SUPERNODE_FLAGS...]
#
#   --superlink HOST:PORT  the fog's SuperLink ($RINR_SUPERLINK)
#   --partition-id P       this node's number, 0..N-1, unique and stable: the fog knows a node
#                          by it and sends it what it lacks after a restart ($RINR_PARTITION_ID)
#   --num-partitions N     how many edge nodes there are ($RINR_NUM_PARTITIONS)
#   --key FILE             this node's private key from deploy/make-node-keys.sh ($RINR_NODE_KEY)
#   --ca FILE              the CA certificate ca.crt from deploy/make-certs.sh ($RINR_CA)
#   --data DIR             this node's own frames: an OTB folder (img/ + groundtruth_rect.txt)
#                          or a YOLO folder (images/ + labels/) ($RINR_DATA; default: the run's
#                          `data`, generated scenes when empty)
#   --device DEV           torch device for decoding and training, e.g. cuda, cuda:0, cpu
#                          ($RINR_DEVICE; default: the run's `device`, cuda when present)
#   --edge-dir DIR         where the node keeps received INRs and models ($RINR_EDGE_DIR;
#                          default: the run's `edge-dir`)
#   --port N               the node's local Runtime API port; every SuperNode on one machine
#                          needs its own ($RINR_NODE_PORT, default 9094)
#   --insecure             no TLS and no key (only against a SuperLink started --insecure)
#
# The process replaces this script (exec). It reconnects by itself when the link drops.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

superlink="${RINR_SUPERLINK:-}"
partition="${RINR_PARTITION_ID:-}"
partitions="${RINR_NUM_PARTITIONS:-}"
key="${RINR_NODE_KEY:-}"
ca="${RINR_CA:-}"
data="${RINR_DATA:-}"
device="${RINR_DEVICE:-}"
edge_dir="${RINR_EDGE_DIR:-}"
port="${RINR_NODE_PORT:-9094}"
insecure=0
extra=()
while (($#)); do
    case "$1" in
        --superlink) superlink="${2:?--superlink needs HOST:PORT}"; shift 2 ;;
        --partition-id) partition="${2:?--partition-id needs a number}"; shift 2 ;;
        --num-partitions) partitions="${2:?--num-partitions needs a number}"; shift 2 ;;
        --key) key="${2:?--key needs a file}"; shift 2 ;;
        --ca) ca="${2:?--ca needs a file}"; shift 2 ;;
        --data) data="${2:?--data needs a folder}"; shift 2 ;;
        --device) device="${2:?--device needs a name}"; shift 2 ;;
        --edge-dir) edge_dir="${2:?--edge-dir needs a folder}"; shift 2 ;;
        --port) port="${2:?--port needs a number}"; shift 2 ;;
        --insecure) insecure=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ -n "$superlink" ]] || die "--superlink HOST:PORT is required"
[[ "$partition" =~ ^[0-9]+$ ]] || die "--partition-id must be a whole number >= 0, got '$partition'"
[[ "$partitions" =~ ^[0-9]+$ ]] && ((10#$partitions > 10#$partition)) \
    || die "--num-partitions must be a whole number above --partition-id, got '$partitions'"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"

node_config="partition-id=$partition num-partitions=$partitions"
add_string() {
    # add_string KEY VALUE: append KEY="VALUE" to the node config (TOML string).
    [[ "$2" != *'"'* && "$2" != *'\'* ]] || die "$1 '$2' may not contain quotes or backslashes"
    node_config+=" $1=\"$2\""
}
if [[ -n "$data" ]]; then
    [[ -d "$data" ]] || die "data folder '$data' does not exist (the camera's frame folder)"
    add_string data "$(cd "$data" && pwd)"
fi
[[ -z "$device" ]] || add_string device "$device"
if [[ -n "$edge_dir" ]]; then
    mkdir -p "$edge_dir"
    add_string edge-dir "$(cd "$edge_dir" && pwd)"
fi

args=(--superlink "$superlink" --port "$port" --node-config "$node_config")
if ((insecure)); then
    warn_insecure "SuperNode $partition connecting to $superlink without TLS"
    args+=(--insecure)
else
    require_file "$key" "private key (--key; create it with deploy/make-node-keys.sh)"
    require_file "$ca" "CA certificate (--ca; ca.crt from the fog node)"
    args+=(--root-certificates "$ca" --auth-supernode-private-key "$key")
fi
info "SuperNode $partition/$partitions -> $superlink (node config: $node_config)"
exec "$(flwr_bin flower-supernode)" "${args[@]}" "${extra[@]}"
