from collections.abc import Sequence
from decimal import Decimal

import pytest
from mitmproxy.test import taddons
from mitmproxy.utils.emoji import emoji

from aispendtrack.proxy import webview
from aispendtrack.proxy.webview import MITMWEB_COLUMNS, WITH_COMMENT, WebColumns, comment_for

ROW = dict(outcome="forwarded", cost_usd=Decimal("0.00033"), pricing="priced", model="gpt-4o-mini",
           input_tokens=1200, cache_read_tokens=400, output_tokens=300, reasoning_tokens=50, partial=False)


@pytest.mark.parametrize("changes, expected", [
    ({}, "$0.00033 · gpt-4o-mini · 1,200 in (400 cached) · 300 out (50 reasoning)"),
    ({"cost_usd": Decimal("12.5")}, "$12.50 · gpt-4o-mini · 1,200 in (400 cached) · 300 out (50 reasoning)"),
    ({"cost_usd": None, "pricing": "unpriced", "model": "acme-7b", "cache_read_tokens": 0, "reasoning_tokens": None},
     "unpriced · acme-7b · 1,200 in · 300 out"),
    ({"cost_usd": None, "pricing": "unmetered", "model": None, "input_tokens": None, "output_tokens": None,
      "outcome": "upstream_error"}, "unmetered · upstream_error"),
    ({"partial": True, "outcome": "aborted"},
     "$0.00033 · gpt-4o-mini · 1,200 in (400 cached) · 300 out (50 reasoning) · partial · aborted"),
    ({"outcome": "rejected", "error": "AiSpendTrack: unknown key"}, "unknown key"),
])
def test_comment_puts_cost_and_model_first(changes, expected):
    assert comment_for({**ROW, **changes}) == expected


@pytest.mark.parametrize("name", ["MARK_REJECTED", "MARK_LIMITED", "MARK_UNAVAILABLE", "MARK_UNPRICED"])
def test_markers_are_emoji_names_mitmweb_knows(name):
    assert getattr(webview, name) in emoji


def add_web_columns(tctx, default):
    tctx.options.add_option("web_columns", Sequence[str], default, "mitmweb's flow list columns")


def test_comment_column_added_to_mitmwebs_default_list():
    addon = WebColumns()
    with taddons.context(addon) as tctx:
        add_web_columns(tctx, MITMWEB_COLUMNS)
        addon.running()
        assert list(tctx.options.web_columns) == WITH_COMMENT


def test_columns_the_user_chose_are_kept():
    addon = WebColumns()
    with taddons.context(addon) as tctx:
        add_web_columns(tctx, MITMWEB_COLUMNS)
        tctx.configure(addon, web_columns=["path", "status"])
        addon.running()
        assert list(tctx.options.web_columns) == ["path", "status"]


def test_mitmdump_without_web_columns_is_untouched():
    addon = WebColumns()
    with taddons.context(addon) as tctx:
        addon.running()
        assert "web_columns" not in tctx.options


def test_mitmweb_default_columns_are_still_what_we_expect():
    from mitmproxy.tools.web.webaddons import WebAddon

    with taddons.context(WebAddon()) as tctx:
        assert list(tctx.options.web_columns) == MITMWEB_COLUMNS
