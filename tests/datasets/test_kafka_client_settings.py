"""The batch side's Kafka client settings as resolved from credentials: unset values left out, and a
plaintext client (the local broker) without the TLS and SASL settings production's credentials name."""

from __future__ import annotations

from streamflow.datasets.kafka_topic import client_settings

PRODUCTION = {
    "bootstrap.servers": "streamflow-kafka-bootstrap:9093",
    "security.protocol": "SASL_SSL",
    "sasl.mechanisms": "SCRAM-SHA-512",
    "sasl.username": "streamflow-batch",
    "sasl.password": "secret",
    "ssl.ca.location": "/etc/streamflow/kafka-ca/ca.crt",
}


def test_a_tls_client_with_sasl_keeps_every_setting() -> None:
    assert client_settings(PRODUCTION) == PRODUCTION


def test_a_plaintext_client_drops_the_tls_and_sasl_settings() -> None:
    settings = {**PRODUCTION, "bootstrap.servers": "127.0.0.1:9092", "security.protocol": "plaintext"}
    assert client_settings(settings) == {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "plaintext"}


def test_tls_without_sasl_keeps_the_ca_only() -> None:
    settings = {**PRODUCTION, "security.protocol": "SSL"}
    assert client_settings(settings) == {
        "bootstrap.servers": PRODUCTION["bootstrap.servers"],
        "security.protocol": "SSL",
        "ssl.ca.location": PRODUCTION["ssl.ca.location"],
    }


def test_unset_values_from_the_environment_are_left_out() -> None:
    settings = {**PRODUCTION, "sasl.password": None, "bootstrap.servers": ""}
    assert "sasl.password" not in client_settings(settings)
    assert "bootstrap.servers" not in client_settings(settings)
