"""Host glob patterns of `[providers]`: validation, matching, mitmproxy allow_hosts regexes, bypass attempts."""

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack import hostpattern
from aispendtrack.config import ConfigError, parse_config

AZURE = "*.openai.azure.com"
VERTEX = "*-aiplatform.googleapis.com"


# Hosts each pattern covers, on the port given.
COVERED = [
    (AZURE, "myres.openai.azure.com", 443),
    (AZURE, "MyRes.OpenAI.Azure.COM", 443),
    (AZURE, "myres.openai.azure.com.", 443),  # DNS root dot
    (AZURE, "my-res-2.openai.azure.com", 8443),  # no port in the pattern: any port
    (VERTEX, "us-central1-aiplatform.googleapis.com", 443),
    (VERTEX, "europe-west4-aiplatform.googleapis.com", 443),
    ("*.corp.example.com:8443", "llm.corp.example.com", 8443),
    ("aiplatform.*.rep.googleapis.com", "aiplatform.us.rep.googleapis.com", 443),
]
# Hosts (on port 443) it must not cover: near misses and bypass attempts.
NOT_COVERED = [(AZURE, host, 443) for host in (
    "openai.azure.com",  # `*` is one or more characters
    ".openai.azure.com",
    "a.b.openai.azure.com",  # one label, never more
    "openai.azure.com.evil.com",
    "myres.openai.azure.com.evil.com",
    *(f"evil.com{sep}x.openai.azure.com" for sep in "/?#@"),
    "evil.com:443.openai.azure.com",
    "evil\\x.openai.azure.com",
    "x.openai.azure.com\x00.evil.com",
    "x.openai.azure.com\n",
    "x.openaixazure.com",  # dots are literal
    "x.openai.azure.co",
    "ｘ.openai.azure.com",  # fullwidth letter: not ASCII
    "x.openai.azure.\u212aom",  # Kelvin sign lower-cases to "k"
    "x y.openai.azure.com",
    "x_y.openai.azure.com",
)] + [(VERTEX, host, 443) for host in (
    "aiplatform.googleapis.com",
    "-aiplatform.googleapis.com",
    "x.us-aiplatform.googleapis.com",
    "us-aiplatform.googleapis.com.evil.com",
)] + [
    ("*.corp.example.com:8443", "llm.corp.example.com", 443),
    ("aiplatform.*.rep.googleapis.com", "aiplatform.us.eu.rep.googleapis.com", 443),
]


@pytest.mark.parametrize("pattern, host, port, expected",
                         [(*case, True) for case in COVERED] + [(*case, False) for case in NOT_COVERED])
def test_matches(pattern, host, port, expected):
    assert hostpattern.matches(hostpattern.check_pattern(pattern), host, port) is expected
    regex = hostpattern.allow_hosts_regex(hostpattern.check_pattern(pattern))
    # mitmproxy searches its allow_hosts case-insensitively in "host:port"
    assert bool(re.search(regex, f"{host}:{port}", re.IGNORECASE)) is expected


@pytest.mark.parametrize("pattern, problem", [
    ("*", "two plain labels"), ("*.com", "two plain labels"), ("foo.*", "two plain labels"),
    ("*.*.com", "two plain labels"), ("x.*.example", "two plain labels"), ("**.example.com", "one *"),
    ("*.example.com/x", "host-name labels"), ("evil.com/*.openai.azure.com", "host-name labels"),
    ("*.exa mple.com", "host-name labels"), ("*.ex_ample.com", "host-name labels"),
    ("*..example.com", "host-name labels"), ("*.-x.example.com", "host-name labels"),
    ("*.éxample.com", "host-name labels"), ("*.example.com:0", "port"), ("*.example.com:70000", "port"),
    ("*.example.com:x", "host-name labels"), ("*@x.example.com", "host-name labels"),
])
def test_bad_patterns_stop_start_up_naming_the_key_and_value(pattern, problem):
    with pytest.raises(ConfigError) as e:
        parse_config({"providers": {pattern: "openai"}})
    assert "providers" in str(e.value) and repr(pattern) in str(e.value) and problem in str(e.value)


def test_patterns_are_on_by_default_and_canonical():
    config = parse_config({})
    assert config.providers["*.openai.azure.com"] == "azure"
    assert config.providers["*-aiplatform.googleapis.com"] == "google"
    assert config.providers["aiplatform.googleapis.com"] == "google"
    assert parse_config({"providers": {"*.LLM.Example.COM.": "openai"}}).providers == {"*.llm.example.com": "openai"}


def test_lookup_prefers_a_pattern_with_a_port_then_the_longest():
    table = {"*.example.com": "a", "*.eu.example.com": "b", "*.example.com:8443": "c", "api.x.ai": "exact"}
    assert hostpattern.lookup(table, "x.example.com", 443) == "a"
    assert hostpattern.lookup(table, "x.eu.example.com", 443) == "b"
    assert hostpattern.lookup(table, "x.example.com", 8443) == "c"
    assert hostpattern.lookup(table, "api.x.ai", 443) is None  # exact keys are not patterns


LABEL = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))


@settings(max_examples=300, deadline=None)
@given(LABEL)
def test_any_one_label_resource_name_matches(label):
    assert hostpattern.matches(AZURE, f"{label}.openai.azure.com", 443)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_no_host_that_does_not_end_in_one_label_plus_the_suffix_matches(prefix, suffix):
    """Whatever surrounds the suffix, a match means: the host is exactly one LDH label,
    then `.openai.azure.com` (case and a final dot aside) — and the regex given to
    mitmproxy agrees with the matcher."""
    host = f"{prefix}.openai.azure.com{suffix}"
    got = hostpattern.matches(AZURE, host, 443)
    canonical = host[:-1] if host.endswith(".") else host
    assert got is (canonical.isascii() and re.fullmatch(r"[a-z0-9-]+\.openai\.azure\.com", canonical.lower()) is not None)
    if "\n" not in host:  # mitmproxy's "host:port" never holds one
        regex = hostpattern.allow_hosts_regex(AZURE)
        assert bool(re.search(regex, f"{host}:443", re.IGNORECASE)) is got


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"[a-z0-9*.-]{1,30}(:[0-9]{1,6})?", fullmatch=True))
def test_check_pattern_accepts_only_what_it_can_match_safely(text):
    """Only ValueError ever; an accepted pattern compiles for mitmproxy, keeps two plain labels
    after its last `*`, and matches only ASCII LDH hosts."""
    try:
        pattern = hostpattern.check_pattern(text)
    except ValueError as e:
        assert repr(text) in str(e)
        return
    name = pattern.rsplit(":", 1)[0] if re.search(r":\d+$", pattern) else pattern
    labels = name.split(".")
    if "*" in name:
        last = max(i for i, label in enumerate(labels) if "*" in label)
        assert len(labels) - last - 1 >= 2 and all("*" not in label for label in labels[last + 1:])
    regex = re.compile(hostpattern.allow_hosts_regex(pattern), re.IGNORECASE)
    example = name.replace("*", "x")
    assert hostpattern.matches(pattern, example, int(pattern.rsplit(":", 1)[1]) if name != pattern else 443)
    assert regex.search(f"{example}:{pattern.rsplit(':', 1)[1] if name != pattern else 443}")
