import io
import re
import textwrap

from rich.console import Console

from aispendtrack.cli.run import first_run


def test_first_run_snippet_runs_as_pasted(tmp_path, config, monkeypatch, capsys):
    out = io.StringIO()
    first_run(tmp_path / "first.db", config, Console(file=out, width=200))
    text = out.getvalue()
    key = re.fullmatch(r"ask_[A-Za-z0-9]{32}\n", capsys.readouterr().out).group(0).strip()
    code = textwrap.dedent(text[text.index("  import os"):])
    monkeypatch.setenv("AISPENDTRACK_API_KEY", key)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    names: dict = {}
    exec(compile(code, "snippet", "exec"), names)  # noqa: S102 - the printed snippet, as a user pastes it
    assert str(names["openai_client"].base_url) == "http://127.0.0.1:8080/v1/"
    assert names["openai_client"].default_headers["x-aispendtrack-key"] == key
    assert names["anthropic_client"].default_headers["x-aispendtrack-key"] == key
    assert "export AISPENDTRACK_API_KEY=" in text
