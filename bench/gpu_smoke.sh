#!/usr/bin/env bash
# GPU smoke check, at most about 3 minutes on one GPU: is CUDA really used end to end?
#
#   bash bench/gpu_smoke.sh [OUT_DIR]        (default out/gpu-smoke; needs `make .venv/.installed-stamp`)
#
# 1. prints nvidia-smi and torch's CUDA build;
# 2. runs the CUDA variants of the tests (they skip on a machine without a GPU);
# 3. runs a 2-node `flwr run` (python -m fog.demo) with device = "cuda", which gives each
#    virtual node a GPU share, and checks from its report that the fog and both nodes
#    computed on CUDA (a node that got no GPU refuses the work and the run is not completed).
# Writes OUT_DIR/gpu_smoke.log and OUT_DIR/gpu_smoke.json; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-out/gpu-smoke}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_smoke.log") 2>&1

echo "== nvidia-smi"
nvidia-smi
echo "== torch"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")'
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible")'

echo "== CUDA test variants"
"$PY" -m pytest -q -rs -k "cuda" tests/rinr_core tests/fog/test_run_devices.py

echo "== 2-node flwr run on CUDA"
before=$(ls -d runs/demo-* 2>/dev/null | sort | tail -n1 || true)
"$PY" -m fog.demo --nodes 2 --rounds 1 --timeout 150 --set 'device="cuda"' --set train=false \
    --set frames-per-node=6
report=$(ls -d runs/demo-* | sort | tail -n1)/report.json
[ "$(dirname "$report")" != "$before" ] || { echo "no new demo report"; exit 1; }
"$PY" - "$report" "$OUT/gpu_smoke.json" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
summary = report["summary"]
devices = summary.get("devices", {})
checks = {
    "status completed": summary["status"] == "completed",
    "fog on cuda": devices.get("fog", "").startswith("cuda"),
    "2 nodes on cuda": sum(1 for k, v in devices.items() if k != "fog" and v.startswith("cuda")) == 2,
}
result = {"report": sys.argv[1], "status": summary["status"], "devices": devices, "checks": checks}
json.dump(result, open(sys.argv[2], "w"), indent=1)
print(json.dumps(result, indent=1))
sys.exit(0 if all(checks.values()) else "a GPU check failed: " + ", ".join(k for k, ok in checks.items() if not ok))
PYEOF
echo "== GPU smoke check passed"
