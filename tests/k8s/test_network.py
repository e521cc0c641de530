"""Egress: no policy opens the internet; each component reaches the named pods and, outside the pod
network, only the CIDRs its overlay sets (overlays/<name>/network-cidrs.yaml), on the ports it needs."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from tests.k8s.manifests import K8S_DIR, Manifest, one

FLINK = (("app", "streamflow-scoring"),)
KAFKA = (("strimzi.io/cluster", "streamflow"),)
BATCH = (("app.kubernetes.io/name", "streamflow-batch"),)
FLINK_PORTS = frozenset({6121, 6122, 6123, 6124, 8081})
KAFKA_TLS = ("pods", (("strimzi.io/cluster", "streamflow"), ("strimzi.io/kind", "Kafka")), frozenset({9093}))
KUBERNETES_API = ("cidr", "kubernetes-api", frozenset({443, 6443}))
# Every egress allow of each component (besides DNS, allowed to every pod): a peer and its ports
# (None: every port). A peer is ("pods", labels) in the namespace or ("cidr", key of network-cidrs.yaml).
EGRESS: dict[str, dict[tuple[tuple[str, str], ...], set[tuple[Any, ...]]]] = {
    "local": {
        FLINK: {
            ("pods", FLINK, FLINK_PORTS),
            KAFKA_TLS,
            KUBERNETES_API,
        },
        KAFKA: {("pods", KAFKA, None), KUBERNETES_API},
        BATCH: {("pods", (("app.kubernetes.io/name", "postgres"),), frozenset({5432})), KAFKA_TLS},
    },
    "prod": {
        FLINK: {
            ("pods", FLINK, FLINK_PORTS),
            KAFKA_TLS,
            KUBERNETES_API,
            ("cidr", "object-store", frozenset({443})),
        },
        KAFKA: {("pods", KAFKA, None), KUBERNETES_API},
        BATCH: {("cidr", "gold-db", frozenset({5432})), KAFKA_TLS},
    },
}


def _network_cidrs(overlay: str) -> dict[str, str]:
    """The overlay's CIDRs by name (a local-config ConfigMap: kustomize uses it and leaves it out)."""
    document = yaml.safe_load((K8S_DIR / "overlays" / overlay / "network-cidrs.yaml").read_text(encoding="utf-8"))
    assert document["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true"
    return dict(document["data"])


def _policies(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == "NetworkPolicy"]


def _ip_blocks(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every ipBlock peer of an egress rule: (policy name, rule, ipBlock)."""
    return [
        (policy["metadata"]["name"], rule, peer["ipBlock"])
        for policy in _policies(manifests)
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]


def _egress(
    manifests: list[Manifest], cidrs: dict[str, str]
) -> dict[tuple[tuple[str, str], ...], set[tuple[Any, ...]]]:
    """Each selected pod group's egress allows as in ``EGRESS`` (CIDRs named by their network-cidrs key)."""
    names = {cidr: key for key, cidr in cidrs.items()}
    found: dict[tuple[tuple[str, str], ...], set[tuple[Any, ...]]] = {}
    for policy in _policies(manifests):
        spec = policy["spec"]
        if "Egress" not in spec["policyTypes"] or policy["metadata"]["name"] == "allow-dns":
            continue
        selected = tuple(sorted(spec["podSelector"].get("matchLabels", {}).items()))
        for rule in spec.get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: an egress rule without `to` allows every address"
            ports = frozenset(port["port"] for port in rule["ports"]) if "ports" in rule else None
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    cidr = peer["ipBlock"]["cidr"]
                    found.setdefault(selected, set()).add(("cidr", names.get(cidr, cidr), ports))
                else:
                    assert set(peer) == {"podSelector"}, f"{policy['metadata']['name']}: egress to {peer}"
                    labels = tuple(sorted(peer["podSelector"]["matchLabels"].items()))
                    found.setdefault(selected, set()).add(("pods", labels, ports))
    return found


def test_no_egress_rule_opens_the_internet(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    cidrs = _network_cidrs(name)
    blocks = _ip_blocks(manifests)
    assert blocks
    for policy, rule, block in blocks:
        try:
            network = ipaddress.ip_network(block["cidr"])
        except ValueError:
            pytest.fail(f"{name}: {policy}: {block['cidr']!r} is no CIDR (a placeholder the overlay did not set?)")
        assert network.prefixlen > 0, f"{name}: {policy} allows {network}"
        assert block["cidr"] in cidrs.values(), f"{name}: {policy}: {block['cidr']} is not in network-cidrs.yaml"
        assert rule.get("ports"), f"{name}: {policy}: egress to {network} on every port"
    assert all(ipaddress.ip_network(cidr).prefixlen > 0 for cidr in cidrs.values())


def test_each_component_reaches_only_the_named_services_and_its_overlay_cidrs(
    overlay: tuple[str, list[Manifest]],
) -> None:
    name, manifests = overlay
    assert _egress(manifests, _network_cidrs(name)) == EGRESS[name]


def test_dns_is_the_only_egress_every_pod_has(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    everyone = [p for p in _policies(manifests) if p["spec"]["podSelector"] == {} and p["spec"].get("egress")]
    assert [p["metadata"]["name"] for p in everyone] == ["allow-dns"]
    [rule] = one(manifests, "NetworkPolicy", "allow-dns")["spec"]["egress"]
    assert {port["port"] for port in rule["ports"]} == {53}


def test_kafka_admits_clients_only_on_the_tls_listener(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    ingress = one(manifests, "NetworkPolicy", "kafka")["spec"]["ingress"]
    clients = [{"podSelector": {"matchLabels": dict(component)}} for component in (FLINK, BATCH)]
    from_clients = [rule for rule in ingress if any(peer in clients for peer in rule["from"])]
    assert from_clients == [{"from": clients, "ports": [{"protocol": "TCP", "port": 9093}]}]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_the_egress_check_flags_the_whole_internet(overlays: dict[str, list[Manifest]], cidr: str) -> None:
    policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "open"},
        "spec": {
            "podSelector": {"matchLabels": dict(BATCH)},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 443}]}],
        },
    }
    found = _egress([*overlays["prod"], policy], _network_cidrs("prod"))
    assert found != EGRESS["prod"]
    assert ("cidr", cidr, frozenset({443})) in found[BATCH]
