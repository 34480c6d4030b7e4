"""The service fixtures find real Mosquitto and PostgreSQL servers.

Speaks just enough of each protocol to prove a real server answers (not only
an open port): MQTT 3.1.1 CONNECT/CONNACK and PostgreSQL's SSLRequest.
Without the services these skip with a hint; with SBD_REQUIRE_SERVICES=1
(CI) they fail instead.
"""

from __future__ import annotations

import socket
import struct

from harness.services import Service


def test_mosquitto_accepts_an_mqtt_connect(mosquitto: Service) -> None:
    client_id = b"sbd-ci-probe"
    var_header = b"\x00\x04MQTT\x04\x02\x00\x3c"  # protocol name, level 4, clean session, keepalive 60
    payload = struct.pack(">H", len(client_id)) + client_id
    body = var_header + payload
    packet = bytes([0x10, len(body)]) + body
    with socket.create_connection((mosquitto.host, mosquitto.port), timeout=5) as s:
        s.sendall(packet)
        connack = s.recv(4)
    assert connack[:2] == b"\x20\x02", connack
    assert connack[3] == 0, f"broker refused the connection: return code {connack[3]}"


def test_postgres_answers_an_ssl_request(postgres: Service) -> None:
    with socket.create_connection((postgres.host, postgres.port), timeout=5) as s:
        s.sendall(struct.pack(">II", 8, 80877103))
        answer = s.recv(1)
    assert answer in (b"N", b"S"), answer
