# Schemas shared by the sbd.validate fuzzers (CPython), the benchmark and the
# corpus replay on MicroPython: the same definitions on both runtimes.
from sbd import validate as v

SENSOR = v.obj(
    {
        "id": v.text(1, 8, chars=v.IDENT),
        "kind": v.one_of("temperature", "humidity", "soil", "light"),
        "pin": v.integer(0, 48),
        "interval_s": v.integer(1, 86400),
        "offset": v.number(-10, 10),
        "enabled": v.boolean(),
    }
)

# A typical ~1 KiB device configuration (bench/bench_validate.py).
CONFIG = v.obj(
    {
        "device": v.obj(
            {
                "name": v.text(1, 32, chars=v.HOSTNAME),
                "location": v.text(0, 64),
                "timezone": v.text(1, 40),
                "led": v.boolean(default=True),
                "log_level": v.one_of("debug", "info", "warning", "error"),
            }
        ),
        "wifi": v.obj(
            {
                "ssid": v.text(1, 32),
                "password": v.text(8, 63),
                "country": v.text(2, 2, chars="A-Z"),
                "hostname": v.text(1, 32, chars=v.HOSTNAME),
                "static_ip": v.text(7, 15, chars="0-9.", nullable=True),
            }
        ),
        "mqtt": v.obj(
            {
                "host": v.text(1, 64, chars=v.HOSTNAME),
                "port": v.integer(1, 65535),
                "client_id": v.text(1, 23, chars=v.IDENT),
                "topic_prefix": v.text(1, 64),
                "keepalive": v.integer(10, 3600),
                "qos": v.one_of(0, 1),
                "tls": v.boolean(),
            }
        ),
        "sensors": v.list_of(SENSOR, max_items=8),
        "schedule": v.obj(
            {
                "vent_open_c": v.number(0, 50),
                "vent_close_c": v.number(0, 50),
                "water_start": v.text(5, 5, chars="0-9:"),
                "water_minutes": v.integer(0, 120),
                "days": v.list_of(v.one_of("mon", "tue", "wed", "thu", "fri", "sat", "sun"), max_items=7),
            }
        ),
        "ota": v.obj(
            {
                "channel": v.one_of("stable", "beta"),
                "check_hours": v.integer(1, 168),
                "url": v.text(9, 128, prefix="https://", chars=v.PRINTABLE),
                "key_id": v.hexbytes(8, 8),
            }
        ),
    }
)

CONFIG_DOC = (
    b'{"device": {"name": "greenhouse-controller-01", "location": "north bay", "timezone": '
    b'"Europe/London", "led": true, "log_level": "info"}, "wifi": {"ssid": "HomeNetwork-5G", '
    b'"password": "correct horse battery staple", "country": "GB", "hostname": "gh-ctl-01", '
    b'"static_ip": null}, "mqtt": {"host": "broker.example.com", "port": 8883, "client_id": '
    b'"gh-ctl-01", "topic_prefix": "home/greenhouse/ctl01", "keepalive": 60, "qos": 1, "tls": true}, '
    b'"sensors": [{"id": "t1", "kind": "temperature", "pin": 4, "interval_s": 30, "offset": -0.5, '
    b'"enabled": true}, {"id": "h1", "kind": "humidity", "pin": 5, "interval_s": 30, "offset": 0.0, '
    b'"enabled": true}, {"id": "s1", "kind": "soil", "pin": 32, "interval_s": 300, "offset": 1.25, '
    b'"enabled": false}, {"id": "l1", "kind": "light", "pin": 33, "interval_s": 60, "offset": 0.0, '
    b'"enabled": true}], "schedule": {"vent_open_c": 27.5, "vent_close_c": 24.0, "water_start": '
    b'"06:30", "water_minutes": 12, "days": ["mon", "wed", "fri", "sun"]}, "ota": {"channel": '
    b'"stable", "check_hours": 24, "url": "https://updates.example.com/gh/manifest.json", '
    b'"key_id": "0a1b2c3d4e5f6a7b"}}'
)

# An OTA-manifest-like document: lists of objects, bytes as hex and base64.
MANIFEST = v.obj(
    {
        "version": v.integer(1),
        "board": v.one_of("esp32", "esp32s3", "rp2040", "rp2350"),
        "expires": v.integer(0),
        "files": v.list_of(
            v.obj(
                {
                    "path": v.text(1, 64, chars="A-Za-z0-9_./-", prefix="/"),
                    "size": v.integer(0, 1048576),
                    "sha256": v.hexbytes(32, 32),
                }
            ),
            1,
            8,
        ),
        "sig": v.b64bytes(64, 64),
    }
)

MANIFEST_DOC = (
    b'{"version": 7, "board": "esp32", "expires": 1900000000, "files": ['
    b'{"path": "/lib/app.mpy", "size": 12345, "sha256": "' + b"ab" * 32 + b'"}, '
    b'{"path": "/main.py", "size": 200, "sha256": "' + b"01" * 32 + b'"}], '
    b'"sig": "' + b"A" * 84 + b'AA=="}'
)

# An MQTT command: an enum selects, extra arguments are kept for the handler.
COMMAND = v.obj(
    {
        "cmd": v.one_of("reboot", "set", "get", "ota"),
        "id": v.integer(0, 65535),
        "args": v.obj({"key": v.text(1, 32, chars=v.IDENT, optional=True)}, v.KEEP, optional=True),
        "note": v.text(0, 200, allow_control=True, optional=True),
    }
)

COMMAND_DOC = b'{"cmd": "set", "id": 42, "args": {"key": "led", "value": [1, {"x": null}]}, "note": "a\\nb"}'

# A top-level list of numbers.
READINGS = v.list_of(v.number(-1000, 1000, nullable=True), 0, 32)
READINGS_DOC = b"[1.5, -2, 0, null, 1e2, 999.999]"

# name -> (schema, max_bytes, a valid document)
ALL = {
    "config": (CONFIG, 2048, CONFIG_DOC),
    "manifest": (MANIFEST, 1024, MANIFEST_DOC),
    "command": (COMMAND, 512, COMMAND_DOC),
    "readings": (READINGS, 512, READINGS_DOC),
}
