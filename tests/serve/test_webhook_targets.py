"""serve.webhook_targets: the address rule for webhooks, table-driven, with an injected resolver."""

from __future__ import annotations

import pytest

from aispendtrack.config import parse_config
from aispendtrack.serve import webhook_targets as targets
from aispendtrack.store.webhook_endpoints import WebhookError

DNS = {  # what the fake resolver answers
    "10.0.0.1.nip.io": ["10.0.0.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "rebind.example": ["93.184.215.14", "192.168.1.5"],  # one public, one private answer
    "hooks.example.com": ["93.184.215.14", "2606:2800:220:1:248:1893:25c8:1946"],
    "imds.example": ["169.254.169.254"],
    "lan.example": ["172.16.3.4"],
}
PUBLIC_V6 = "2606:4700:4700::1111"


def resolver(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise targets.Unresolvable(f"cannot resolve {host}")
    return DNS[host]


STRICT = targets.Policy()
OPTED_IN = targets.Policy(allow_private_networks=True)


@pytest.mark.parametrize("host, reason", [
    # the forms an attacker tried (issue 20, row 2)
    ("127.0.0.1", "address 127.0.0.1 is loopback"),
    ("localhost", "localhost is loopback"),
    ("LOCALHOST.", "localhost is loopback"),
    ("app.localhost", "app.localhost is loopback"),
    ("[::1]", "address ::1 is loopback"),
    ("0.0.0.0", "address 0.0.0.0 is unspecified"),
    ("0", "address 0.0.0.0 is unspecified"),
    ("::", "address :: is unspecified"),
    ("127.1", "address 127.0.0.1 is loopback"),
    ("2130706433", "address 127.0.0.1 is loopback"),
    ("0x7f.0.0.1", "address 127.0.0.1 is loopback"),
    ("0x7f000001", "address 127.0.0.1 is loopback"),
    ("0177.0.0.1", "address 127.0.0.1 is loopback"),
    ("169.254.169.254", "address 169.254.169.254 is a cloud metadata address"),
    ("[fd00::1]", "address fd00::1 is private"),
    ("10.0.0.1", "address 10.0.0.1 is private"),
    ("metadata.google.internal", "metadata.google.internal is a cloud metadata host"),
    ("Metadata.Google.Internal.", "metadata.google.internal is a cloud metadata host"),
    ("10.0.0.1.nip.io", "10.0.0.1.nip.io: address 10.0.0.1 is private"),
    ("127.0.0.1.nip.io", "127.0.0.1.nip.io: address 127.0.0.1 is loopback"),
    ("[::ffff:127.0.0.1]", "address ::ffff:127.0.0.1 is loopback"),
    # every class of the rule
    ("172.16.0.1", "address 172.16.0.1 is private"),
    ("192.168.1.1", "address 192.168.1.1 is private"),
    ("100.64.0.1", "address 100.64.0.1 is shared address space (CGNAT)"),
    ("169.254.1.1", "address 169.254.1.1 is link-local"),
    ("fe80::1", "address fe80::1 is link-local"),
    ("fe80::1%eth0", "is link-local"),
    ("224.0.0.1", "address 224.0.0.1 is multicast"),
    ("ff02::1", "address ff02::1 is multicast"),
    ("240.0.0.1", "is reserved"),
    ("255.255.255.255", "is reserved"),
    ("192.0.2.1", "is reserved"),  # documentation
    ("2001:db8::1", "is reserved"),
    ("fec0::1", "is site-local"),
    # IPv4 inside IPv6
    ("::ffff:10.0.0.1", "address ::ffff:10.0.0.1 is private"),
    ("2002:a00:1::", "is private"),  # 6to4 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "is a cloud metadata address"),  # NAT64 of 169.254.169.254
    ("::7f00:1", "is loopback"),  # IPv4-compatible 127.0.0.1
    # cloud metadata
    ("fd00:ec2::254", "is a cloud metadata address"),
    ("169.254.170.2", "is a cloud metadata address"),
    ("100.100.100.200", "is a cloud metadata address"),
    ("168.63.129.16", "is a cloud metadata address"),
    ("metadata.goog", "is a cloud metadata host"),
    ("imds.example", "imds.example: address 169.254.169.254 is a cloud metadata address"),
    # names: every answer counts
    ("rebind.example", "rebind.example: address 192.168.1.5 is private"),
    ("lan.example", "address 172.16.3.4 is private"),
    ("nothere.example", "cannot resolve nothere.example"),
    # numeric forms no resolver reads the same way
    ("999.0.0.1", "not a valid IP address"),
    ("08.0.0.1", "not a valid IP address"),
    ("127.0.0.1.", "not a valid IP address"),
])
def test_refused_by_default(host, reason):
    with pytest.raises(targets.Refused) as e:
        targets.addresses(host, 443, STRICT, resolver)
    assert reason in str(e.value)


@pytest.mark.parametrize("host, expected", [
    ("93.184.215.14", ["93.184.215.14"]),
    ("1.2.3", ["1.2.0.3"]),
    (f"[{PUBLIC_V6}]", [PUBLIC_V6]),
    ("::ffff:8.8.8.8", ["::ffff:808:808"]),
    ("hooks.example.com", DNS["hooks.example.com"]),
])
def test_public_addresses_pass_and_are_what_is_connected_to(host, expected):
    assert targets.addresses(host, 443, STRICT, resolver) == expected


@pytest.mark.parametrize("host, reason", [
    ("127.0.0.1", None),
    ("localhost", None),
    ("10.0.0.1.nip.io", None),
    ("100.64.0.1", None),
    ("fe80::1", None),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("metadata.google.internal", "cloud metadata"),
    ("imds.example", "cloud metadata"),
])
def test_opt_in_opens_private_networks_but_never_metadata(host, reason):
    if reason is None:
        targets.addresses(host, 80, OPTED_IN, lambda h, p: ["127.0.0.1"] if h == "localhost" else resolver(h, p))
    else:
        with pytest.raises(targets.Refused, match=reason):
            targets.addresses(host, 80, OPTED_IN, resolver)


def test_exact_allow_hosts_entries_skip_the_rule_globs_do_not():
    policy = targets.Policy.of(parse_config({"webhooks": {"allow_hosts": [
        "10.1.2.3", "[::1]", "LAN.example.", "169.254.169.254", "*.nip.io", "lan?.example"]}}).webhooks)
    assert policy.exempt_hosts == {"10.1.2.3", "::1", "lan.example", "169.254.169.254"}
    assert targets.addresses("10.1.2.3", 80, policy, resolver) == ["10.1.2.3"]
    assert targets.addresses("0:0::1", 80, policy, resolver) == ["::1"]  # the same address, written otherwise
    assert targets.addresses("lan.example", 80, policy, resolver) == ["172.16.3.4"]
    assert targets.addresses("169.254.169.254", 80, policy, resolver) == ["169.254.169.254"]
    with pytest.raises(targets.Refused, match="is private"):
        targets.addresses("10.0.0.1.nip.io", 80, policy, resolver)  # a glob never vouches for an address
    with pytest.raises(targets.Refused, match="is private"):
        targets.addresses("10.1.2.4", 80, policy, resolver)


@pytest.mark.parametrize("url, message", [
    ("http://10.0.0.1/h", "address 10.0.0.1 is private. Webhooks reach only the public internet"),
    ("http://nothere.example/h", "cannot resolve nothere.example; give a host name that resolves"),
])
def test_registration_messages_say_why_and_how(url, message):
    with pytest.raises(WebhookError) as e:
        targets.check_registration(url, STRICT, resolver)
    assert message in str(e.value)
    assert "allow_private_networks" in str(e.value) or "resolves" in str(e.value)
    assert targets.check_registration("https://hooks.example.com:8443/h", STRICT, resolver)


@pytest.mark.parametrize("value", [["https://x.example"], [""], ["a\nb"]])
def test_allow_hosts_config_names_hosts_only(value):
    from aispendtrack.config import ConfigError

    with pytest.raises(ConfigError, match="webhooks.allow_hosts"):
        parse_config({"webhooks": {"allow_hosts": value}})


def test_unknown_webhooks_key_stops_start_up_with_its_name():
    from aispendtrack.config import ConfigError

    with pytest.raises(ConfigError, match="webhooks.allow_private_network"):
        parse_config({"webhooks": {"allow_private_network": True}})
    assert parse_config({"webhooks": {"allow_private_networks": True}}).webhooks.allow_private_networks
