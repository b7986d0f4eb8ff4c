#!/usr/bin/env bash
# Create a private CA and the SuperLink's TLS certificate (with IP and DNS subject alt names).
#
# Usage: deploy/make-certs.sh [--out DIR] [--ip ADDR]... [--dns NAME]... [--days N] [--force]
#
#   --out DIR    where to write (default: runs/deploy/certs under the repo)
#   --ip ADDR    an address the edges use to reach the SuperLink (repeatable); 127.0.0.1 is
#                always included
#   --dns NAME   a host name the edges use (repeatable); localhost is always included
#   --days N     validity of both certificates (default 825)
#   --force      replace existing files
#
# Writes DIR/ca.crt (give it to every edge device and to the machine running `flwr run`),
# DIR/ca.key (keep it offline: it signs certificates), DIR/superlink.crt and DIR/superlink.key
# (stay on the fog node). Keys are EC P-384.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out="$RINR_DEPLOY_HOME/certs"
days=825
force=0
ips=(127.0.0.1)
names=(localhost)
while (($#)); do
    case "$1" in
        --out) out="${2:?--out needs a folder}"; shift 2 ;;
        --ip) ips+=("${2:?--ip needs an address}"); shift 2 ;;
        --dns) names+=("${2:?--dns needs a name}"); shift 2 ;;
        --days) days="${2:?--days needs a number}"; shift 2 ;;
        --force) force=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$days" =~ ^[0-9]+$ ]] || die "--days must be a whole number, got '$days'"
need openssl "install OpenSSL (apt-get install openssl)"

mkdir -p "$out"
if [[ -e "$out/ca.crt" && "$force" -eq 0 ]]; then
    die "$out/ca.crt exists; pass --force to replace the CA (every edge then needs the new ca.crt)"
fi

san=""
for ip in "${ips[@]}"; do san+="${san:+,}IP:$ip"; done
for name in "${names[@]}"; do san+="${san:+,}DNS:$name"; done

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
cat >"$workdir/ext.cnf" <<CNF
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
CNF

umask 077
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes \
    -keyout "$out/ca.key" -out "$out/ca.crt" -days "$days" -subj "/CN=rinr private CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>"$workdir/log" || { cat "$workdir/log" >&2; die "openssl could not create the CA"; }
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes \
    -keyout "$out/superlink.key" -out "$workdir/superlink.csr" -subj "/CN=rinr-superlink" \
    2>"$workdir/log" || { cat "$workdir/log" >&2; die "openssl could not create the key"; }
openssl x509 -req -in "$workdir/superlink.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$workdir/ca.srl" -out "$out/superlink.crt" -days "$days" \
    -extfile "$workdir/ext.cnf" -extensions server \
    2>"$workdir/log" || { cat "$workdir/log" >&2; die "openssl could not sign the certificate"; }
chmod 644 "$out/ca.crt" "$out/superlink.crt"
openssl verify -CAfile "$out/ca.crt" "$out/superlink.crt" >/dev/null \
    || die "the new certificate does not verify against the new CA"
info "CA: $out/ca.crt (copy to every edge device); keep $out/ca.key offline"
info "SuperLink: $out/superlink.crt + $out/superlink.key, valid for $san"
