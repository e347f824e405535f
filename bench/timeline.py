"""Where a lone classify call's time goes: each hop timed from packets captured on loopback.

    .venv/bin/python bench/timeline.py --duration 5 [--model mlserver]

One client sends classify calls one after the other (wrk -c1) to ``mlgraph serve`` (one
worker, PostgreSQL, the real model server) while tshark captures the payload packets of the
three connections: client to mlgraph, mlgraph to the model, mlgraph to PostgreSQL. With one
client the hops of a call follow each other, so every call splits into five spans:

    in → model    mlgraph, from the request's arrival to its model request
    model         the model server's answer to mlgraph (what it takes, seen from mlgraph)
    model → db    mlgraph, from the model's answer to its INSERT
    db            PostgreSQL's answer, the commit's WAL flush included
    db → out      mlgraph, from the commit to the answer sent

Then wrk -c1 calls the model server directly for the same time, and the same capture gives
the model's answer to wrk. Medians per span; needs Debian's tshark and root (dumpcap).
Packets are timed by the kernel as they cross loopback: nothing is added to mlgraph.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    BODIES,
    PROTOCOLS,
    asyncpg_url,
    fresh_database,
    machine,
    start_mlgraph,
    start_model,
    table,
    use_ref,
    wrk,
)

PG_PORT = 5432
SPANS = ("in → model", "model", "model → db", "db", "db → out")


@dataclass(frozen=True, slots=True)
class Packet:
    time: float
    source: int
    destination: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds of calls each way")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of calls first")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    parser.add_argument(
        "--model", choices=sorted(PROTOCOLS), default="seldon",
        help="the model server: seldon (v1 protocol) or mlserver (V2, Open Inference Protocol)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("tshark") is None:
        sys.exit("timeline.py needs tshark: apt-get install -y tshark")
    protocol = PROTOCOLS[args.model]
    with use_ref(args.ref) as code, tempfile.TemporaryDirectory() as tmp, fresh_database() as name:
        workdir = Path(tmp)
        model = start_model(workdir, kind=args.model)
        mlgraph = start_mlgraph(workdir, asyncpg_url(name), model.url, protocol["mlgraph_env"])
        try:
            model_port, mlgraph_port = _port(model.url), _port(mlgraph.url)
            graphql = f"{mlgraph.url}/graphql"
            direct = f"{model.url}{protocol['path']}"
            wrk("warm-up", graphql, concurrency=1, duration=args.warmup, body=BODIES["mlgraph"])
            wrk("warm-up", direct, concurrency=1, duration=args.warmup, body=protocol["body"])
            ports = (mlgraph_port, model_port, PG_PORT)
            with _capture(workdir / "through.pcap", ports) as through:
                wrk("mlgraph", graphql, concurrency=1, duration=args.duration,
                    body=BODIES["mlgraph"], bad_mark="errors")  # fmt: skip
            with _capture(workdir / "direct.pcap", (model_port,)) as direct_capture:
                wrk("direct", direct, concurrency=1, duration=args.duration, body=protocol["body"])
            calls = _calls(_packets(through), mlgraph_port, model_port)
            answers = _direct_answers(_packets(direct_capture), model_port)
        finally:
            mlgraph.stop()
            model.stop()
    print(f"# lone-call timeline, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print(f"{machine()['cpu']}; mlgraph at {code}; model server {args.model}")
    print(f"{len(calls)} calls through mlgraph, {len(answers)} direct calls, one at a time\n")
    total = [sum(call) for call in calls]
    own = [call[0] + call[2] + call[4] for call in calls]
    columns = [[call[index] for call in calls] for index in range(len(SPANS))]
    named = [
        *zip(SPANS, columns, strict=True),
        ("whole call, seen on loopback", total),
        ("of which mlgraph's own", own),
        ("the model answering wrk directly", answers),
    ]
    rows = [[span, _ms(statistics.median(v)), _ms(_p(v, 0.9))] for span, v in named]
    print(table(["span", "p50 ms", "p90 ms"], rows))
    return 0


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@contextmanager
def _capture(path: Path, ports: Sequence[int]) -> Iterator[Path]:
    # Payload packets only: the spans begin and end with data, not with ACKs.
    capture_filter = " or ".join(f"tcp port {port}" for port in ports)
    process = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"({capture_filter}) and tcp[tcpflags] & tcp-push != 0",
         "-w", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # dumpcap opens the interface before the first call
    try:
        yield path
    finally:
        time.sleep(0.5)
        process.terminate()
        process.wait(timeout=30)


def _packets(path: Path) -> list[Packet]:
    fields = ["-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len"]
    result = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", *fields],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    packets = []
    for line in result.stdout.splitlines():
        stamp, source, destination, length = line.split("\t")
        if int(length or 0) > 0:
            packets.append(Packet(float(stamp), int(source), int(destination)))
    return packets


def _calls(packets: Sequence[Packet], mlgraph: int, model: int) -> list[tuple[float, ...]]:
    """The five spans of each complete call: request in, model out, model back, db out,
    db back, answer out, in that order (a segment's first packet starts each hop)."""
    calls: list[tuple[float, ...]] = []
    marks: list[float] = []
    expected = [(None, mlgraph), (None, model), (model, None), (None, PG_PORT), (PG_PORT, None),
                (mlgraph, None)]  # fmt: skip
    previous: tuple[int, int] | None = None
    for packet in packets:
        hop = (packet.source, packet.destination)
        if hop == previous:
            continue  # the rest of a message sent in several packets
        previous = hop
        want_source, want_destination = expected[len(marks)]
        if hop[1] == mlgraph and packet.source != model:
            marks = [packet.time]  # a new call from the client starts the sequence again
        elif (want_source is None or packet.source == want_source) and (
            want_destination is None or packet.destination == want_destination
        ):
            marks.append(packet.time)
        else:
            marks = []  # out of order (a health probe, a second statement): skip this call
        if len(marks) == len(expected):
            calls.append(tuple(b - a for a, b in itertools.pairwise(marks)))
            marks = []
    return calls


def _direct_answers(packets: Sequence[Packet], model: int) -> list[float]:
    answers, asked = [], None
    for packet in packets:
        if packet.destination == model and asked is None:
            asked = packet.time
        elif packet.source == model and asked is not None:
            answers.append(packet.time - asked)
            asked = None
    return answers


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
