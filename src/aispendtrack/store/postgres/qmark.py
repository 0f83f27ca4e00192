"""The store's SQL is written once, with `?` placeholders (SQLite's style); psycopg takes `%s`.

`to_pyformat` rewrites a statement for psycopg: every `?` outside a string literal, quoted
identifier or comment becomes `%s`, and every literal `%` becomes `%%`. Statements are our
own constants, so the result is cached per text.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":  # a literal or quoted identifier: copied as is ('' and "" escape themselves)
            j = i + 1
            while j < n and sql[j] != c:
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)
