"""A shaped link between two Linux network namespaces, to time transfers on a slow edge link.

:class:`ShapedLink` creates the namespaces ``<name>-fog`` and ``<name>-edge``, joins them with
a veth pair (``10.77.<n>.1`` at the fog, ``10.77.<n>.2`` at the edge) and caps each direction
with a token bucket filter (``tc qdisc ... tbf``) at ``rate`` bytes/s (2 MB/s by default, the
paper's wireless link). Processes run inside with ``ip netns exec`` (:meth:`ShapedLink.command`),
e.g. a SuperLink in the fog namespace and SuperNodes in the edge namespace.

Latency: ``delay_ms > 0`` adds ``tc netem`` delay under the rate limit. Kernels without the
``sch_netem`` module (like the one this project was built on) refuse it, and
:class:`ShapedLink` then fails with a clear message: there, only the rate is emulated, and
transfer times are bandwidth-bound times without propagation delay.

Needs root, ``ip`` (iproute2) and ``tc``; :func:`unavailable_reason` says why not, so callers
can skip cleanly. Command line::

    python -m deploy.netem check
    python -m deploy.netem measure [--rate 2000000] [--bytes 4000000]
    python -m deploy.netem transfer runs/<run>/report.json [--rate 2000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rinr_core.errors import RinrError

DEFAULT_RATE = 2_000_000
"""Bytes per second of the emulated link (2 MB/s)."""

_RECEIVER = """
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(1)
print("ready", flush=True)
conn, _ = server.accept()
total, first = 0, None
while chunk := conn.recv(1 << 16):
    first = first or time.perf_counter()
    total += len(chunk)
print(total, time.perf_counter() - (first or time.perf_counter()), flush=True)
"""
_SENDER = """
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sock.sendall(bytes(int(sys.argv[3])))
sock.close()
"""


def unavailable_reason() -> str | None:
    """Why namespaces and tc shaping cannot be used here, or ``None`` when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"'{tool}' (iproute2) is not installed"
    probe = f"rinr-probe-{uuid.uuid4().hex[:6]}"
    result = _run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return f"'ip netns add' failed: {result.stderr.strip()}"
    try:
        shaped = _run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root",
                       "tbf", "rate", "8mbit", "burst", "32kb", "latency", "50ms"], check=False)
        if shaped.returncode != 0:
            return f"tc tbf is unavailable: {shaped.stderr.strip()}"
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return None


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a short command; raise RinrError with its message when it fails and ``check``."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    if check and result.returncode != 0:
        raise RinrError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result


@dataclass
class ShapedLink:
    """Two namespaces joined by a rate-limited veth pair (see the module docstring)."""

    rate: int = DEFAULT_RATE
    delay_ms: float = 0.0
    name: str = field(default_factory=lambda: f"rinr-{uuid.uuid4().hex[:6]}")
    subnet: int = field(default_factory=lambda: 1 + uuid.uuid4().int % 250)
    created: list[str] = field(default_factory=list)

    @property
    def namespaces(self) -> dict[str, str]:
        """``{"fog": ..., "edge": ...}`` namespace names."""
        return {"fog": f"{self.name}-fog", "edge": f"{self.name}-edge"}

    def address(self, side: str) -> str:
        """The IPv4 address of ``side`` (``fog`` or ``edge``) on the link."""
        return f"10.77.{self.subnet}.{1 if side == 'fog' else 2}"

    def up(self) -> ShapedLink:
        """Create the namespaces, the veth pair and the shaping on both ends.

        Raises
        ------
        RinrError
            A command failed (not root, no tc, no netem for ``delay_ms > 0``); whatever was
            created is removed first.
        """
        try:
            for ns in self.namespaces.values():
                _run(["ip", "netns", "add", ns])
                self.created.append(ns)
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            fog, edge = self.namespaces["fog"], self.namespaces["edge"]
            _run(["ip", "link", "add", "rinr0", "netns", fog, "type", "veth", "peer", "name",
                  "rinr1", "netns", edge])
            for side, dev in (("fog", "rinr0"), ("edge", "rinr1")):
                ns = self.namespaces[side]
                _run(["ip", "-n", ns, "addr", "add", f"{self.address(side)}/24", "dev", dev])
                _run(["ip", "-n", ns, "link", "set", dev, "up"])
                self._shape(ns, dev)
        except RinrError:
            self.down()
            raise
        return self

    def _shape(self, ns: str, dev: str) -> None:
        """Cap ``dev`` at :attr:`rate` (tbf), with netem delay under it when asked."""
        rate = f"{self.rate * 8}bit"
        burst = str(max(16_000, self.rate // 100))  # 10 ms of traffic, at least 16 kB
        tbf = ["tbf", "rate", rate, "burst", burst, "latency", "100ms"]
        if self.delay_ms <= 0:
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", *tbf])
            return
        result = _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
                       "handle", "1:", "netem", "delay", f"{self.delay_ms}ms"], check=False)
        if result.returncode != 0:
            raise RinrError(f"this kernel cannot add latency (tc netem: {result.stderr.strip()}); "
                            "load sch_netem or use delay_ms=0 (rate limit only)")
        _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "parent", "1:1",
              "handle", "10:", *tbf])

    def down(self) -> None:
        """Delete the namespaces (and with them the veth pair and its shaping)."""
        while self.created:
            _run(["ip", "netns", "del", self.created.pop()], check=False)

    def command(self, side: str, argv: list[str]) -> list[str]:
        """``argv`` wrapped to run inside ``side``'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[side], *argv]

    def send(self, nbytes: int, *, src: str = "fog", port: int = 5901,
             timeout: float = 600.0) -> float:
        """Send ``nbytes`` over TCP from ``src`` to the other side; return the seconds taken.

        The time is the receiver's, from the first byte to the last.
        """
        dst = "edge" if src == "fog" else "fog"
        receiver = subprocess.Popen(  # noqa: S603
            self.command(dst, [sys.executable, "-c", _RECEIVER, self.address(dst), str(port)]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert receiver.stdout is not None
            if receiver.stdout.readline().strip() != "ready":
                raise RinrError(f"the receiver did not start: {receiver.stderr.read()}")
            subprocess.run(self.command(src, [sys.executable, "-c", _SENDER, self.address(dst),  # noqa: S603
                                              str(port), str(nbytes)]),
                           check=True, timeout=timeout, capture_output=True)
            out, _ = receiver.communicate(timeout=timeout)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        received, seconds = out.split()
        if int(received) != nbytes:
            raise RinrError(f"sent {nbytes} bytes but {received} arrived")
        return float(seconds)

    def __enter__(self) -> ShapedLink:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def transfer_times(report: dict, link: ShapedLink) -> dict[str, dict[str, float]]:
    """Seconds to move a run's broadcast (fog -> edges) on ``link``: as sent vs as JPEG relay.

    Uses the byte counts of the run's report (the broadcast phase, all nodes, one after the
    other on the one link, as on a shared wireless channel).
    """
    summary = report["summary"]
    sent = int(summary["bytes_by_phase"]["broadcast"]["down"])
    relay = int(summary["jpeg_relay_bytes_by_phase"]["broadcast"]["down"])
    return {
        summary["codec"]: {"bytes": sent, "seconds": round(link.send(sent), 3)},
        "jpeg relay": {"bytes": relay, "seconds": round(link.send(relay, port=5902), 3)},
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m deploy.netem",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("check", "measure", "transfer"))
    parser.add_argument("report", nargs="?", type=Path, help="report.json (transfer)")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE, help="bytes/s (2000000)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="needs tc netem")
    parser.add_argument("--bytes", type=int, default=2 * DEFAULT_RATE, help="measure: bytes")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"[netem] cannot shape a link here: {reason}", file=sys.stderr)
        return 77 if args.action == "check" else 2
    if args.action == "check":
        print("[netem] namespaces and tc tbf work here")
        return 0
    with ShapedLink(args.rate, args.delay_ms) as link:
        if args.action == "measure":
            seconds = link.send(args.bytes)
            print(json.dumps({"bytes": args.bytes, "seconds": round(seconds, 3),
                              "bytes_per_s": round(args.bytes / seconds)}))
        else:
            if args.report is None:
                parser.error("transfer needs the path of a report.json")
            report = json.loads(args.report.read_text())
            print(json.dumps(transfer_times(report, link), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
