#!/usr/bin/env bash
# Create one ECDSA P-384 key pair per SuperNode (for Flower's SuperNode authentication).
#
# Usage: deploy/make-node-keys.sh [--out DIR] [--force] NAME...
#
#   NAME     one name per edge device, e.g. edge-0 edge-1 (letters, digits, '.', '_', '-')
#   --out    where to write (default: runs/deploy/keys under the repo)
#   --force  replace existing keys (the old public key must then be unregistered)
#
# Writes DIR/NAME (the private key: copy it to that edge device only, mode 600) and
# DIR/NAME.pub (register it on the SuperLink: deploy/register-nodes.sh).
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out="$RINR_DEPLOY_HOME/keys"
force=0
nodes=()
while (($#)); do
    case "$1" in
        --out) out="${2:?--out needs a folder}"; shift 2 ;;
        --force) force=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) nodes+=("$1"); shift ;;
    esac
done
((${#nodes[@]})) || die "name at least one node, e.g. deploy/make-node-keys.sh edge-0 edge-1"
need ssh-keygen "install OpenSSH's client tools (apt-get install openssh-client)"

for name in "${nodes[@]}"; do
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "node name '$name' may use only letters, digits, '.', '_' and '-'"
done
mkdir -p "$out"
for name in "${nodes[@]}"; do
    if [[ -e "$out/$name" ]]; then
        ((force)) || die "$out/$name exists; pass --force to replace it"
        rm -f "$out/$name" "$out/$name.pub"
    fi
    ssh-keygen -q -t ecdsa -b 384 -N "" -C "rinr-$name" -f "$out/$name"
    chmod 600 "$out/$name"
    info "node $name: private key $out/$name (to that device only), public key $out/$name.pub"
done
