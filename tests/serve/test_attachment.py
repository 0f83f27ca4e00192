import re
from urllib.parse import unquote

import pytest

from aispendtrack.serve.attachment import content_disposition

NAMES = [
    "aispendtrack-acme-2026-11.csv",
    'aispendtrack-ac"me-2026-11.csv',
    "aispendtrack-a;b=c-2026-11.csv",
    "aispendtrack-acmé中-2026-11.csv",
    "aispendtrack-a\\b/..-2026-11.csv",
    "aispendtrack-a\r\nSet-Cookie: x=1-2026-11.csv",
    "aispendtrack-a'b%20c-2026-11.jsonl",
]
# RFC 6266: attachment; filename="<quoted ASCII>"; filename*=UTF-8''<RFC 8187 value>
SHAPE = re.compile(r"""attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)""")


@pytest.mark.parametrize("name", NAMES)
def test_any_name_gives_one_valid_header(name):
    value = content_disposition(name)
    value.encode("latin-1")  # Starlette sends headers as latin-1: a 500 before
    m = SHAPE.fullmatch(value)
    assert m, value
    fallback, encoded = m.groups()
    assert unquote(encoded, encoding="utf-8", errors="strict") == name, "filename* carries the exact name"
    assert not set(fallback) & set('"\\;/'), "the fallback cannot end the quoted string or a parameter"
    assert fallback.isascii() and fallback.isprintable()


def test_a_plain_name_is_unchanged_in_both_forms():
    assert content_disposition("aispendtrack-acme-2026-11.csv") == (
        "attachment; filename=\"aispendtrack-acme-2026-11.csv\"; filename*=UTF-8''aispendtrack-acme-2026-11.csv")


def test_fallback_replaces_what_ascii_cannot_say():
    assert content_disposition("acmé中.csv").startswith('attachment; filename="acm__.csv";')
