"""Tag headers: parsed into a bounded object, or refused with the reason."""

import pytest

from aispendtrack.auth.tags import MAX_TAGS, parse_tags


def test_both_forms_together_lower_cased_names():
    tags, why = parse_tags([("X-AiSpendTrack-Tags", "Feature=search, env=prod"), ("x-aispendtrack-tag-customer", " acme ")])
    assert why is None and tags == {"feature": "search", "env": "prod", "customer": "acme"}


def test_no_tag_headers_is_none():
    assert parse_tags([("content-type", "application/json")]) == (None, None)


@pytest.mark.parametrize("headers, fragment", [
    ([("x-aispendtrack-tags", "")], "empty"),
    ([("x-aispendtrack-tags", "feature")], "not name=value"),
    ([("x-aispendtrack-tags", "fe ature=x")], "not allowed"),
    ([("x-aispendtrack-tags", "Über=x")], "not allowed"),
    ([("x-aispendtrack-tags", "a=1, a=2")], "given twice"),
    ([("x-aispendtrack-tags", "a=1"), ("x-aispendtrack-tag-a", "2")], "given twice"),
    ([("x-aispendtrack-tags", "a=")], "must be 1-128"),
    ([("x-aispendtrack-tags", "a=" + "x" * 129)], "must be 1-128"),
    ([("x-aispendtrack-tag-a", "x=y")], "without ',' or '='"),
    ([("x-aispendtrack-tag-a", "bell\x07")], "printable"),
    ([("x-aispendtrack-tags", ", ".join(f"t{i}=v" for i in range(MAX_TAGS + 1)))], f"at most {MAX_TAGS}"),
    ([("x-aispendtrack-tag-", "x")], "not allowed"),
])
def test_bad_headers_say_why(headers, fragment):
    tags, why = parse_tags(headers)
    assert tags is None and fragment in why


def test_default_tag_lists_follow_the_header_rules():
    from aispendtrack.auth.tags import check_tags, merged, parse_tag_list

    assert parse_tag_list("env=ci, Team=search") == {"env": "ci", "team": "search"}
    for bad, fragment in [("env", "not name=value"), ("", "is empty"), ("env=a,env=b", "given twice"),
                          ("bad name=x", "is not allowed"), ("env=" + "x" * 129, "1-128 printable"),
                          (",".join(f"t{i}=v" for i in range(11)), "at most 10 tags")]:
        with pytest.raises(ValueError, match=fragment) as e:
            parse_tag_list(bad, "--tags")
        assert str(e.value).startswith("--tags")
    assert check_tags({"env": "ci"}) == {"env": "ci"}
    with pytest.raises(ValueError, match="^tags: the value of tag 'env'"):
        check_tags({"env": "a=b"})
    assert merged({"env": "ci", "team": "s"}, {"env": "prod"}) == {"env": "prod", "team": "s"}
    assert merged(None, None) is None
