"""The one mitmdump command line: the addon's entry file, our options, and the user's taking precedence."""

from pathlib import Path

import pytest

import aispendtrack
from aispendtrack.launch import ENTRY, mitmdump_argv, options_in


def sets(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


def test_entry_file_ships_inside_the_package():
    assert ENTRY.is_file()
    assert Path(aispendtrack.__file__).resolve().parent in ENTRY.parents


@pytest.mark.parametrize(
    "args, found",
    [
        (["--set", "connection_strategy=eager"], {"connection_strategy": "eager"}),
        (["--set=listen_host=0.0.0.0"], {"listen_host": "0.0.0.0"}),
        (["--set", "web_columns=a=b"], {"web_columns": "a=b"}),
        (["--mode", "regular"], {"mode": "regular"}),
        (["--mode=regular"], {"mode": "regular"}),
        (["-m", "regular"], {"mode": "regular"}),
        (["-mregular"], {"mode": "regular"}),
        (["--listen-host", "::1"], {"listen_host": "::1"}),
        (["--set", "termlog_verbosity"], {"termlog_verbosity": ""}),
        (["-v", "-w", "flows.mitm", "-s", "mine.py"], {}),
        (["-s", "x.py", "--set", "a=1", "--set", "a=2"], {"a": "2"}),
    ],
)
def test_options_in(args, found):
    assert options_in(args) == found


def test_our_options_and_modes_then_the_users_args():
    argv = mitmdump_argv(["regular@8082", "reverse:http://x@8080"], options={"listen_host": "127.0.0.1", "confdir": Path("/c"), "skip": None},
                         args=["-v"], program="/bin/mitmdump")  # fmt: skip
    assert argv[:3] == ["/bin/mitmdump", "-s", str(ENTRY)]
    assert sets(argv) == ["listen_host=127.0.0.1", "confdir=/c"]
    assert argv[-5:] == ["--mode", "regular@8082", "--mode", "reverse:http://x@8080", "-v"]


def test_an_option_set_by_the_user_replaces_ours():
    argv = mitmdump_argv(["regular"], options={"connection_strategy": "lazy", "aispendtrack_db": "a.db"},
                         args=["--set", "connection_strategy=eager", "--set=aispendtrack_db=b.db"])  # fmt: skip
    assert sets(argv) == ["connection_strategy=eager"]
    assert argv.count("connection_strategy=lazy") == 0 and "--set=aispendtrack_db=b.db" in argv


@pytest.mark.parametrize("mode_args", [["--mode", "regular@9"], ["-m", "regular@9"], ["--set", "mode=regular@9"]])
def test_a_mode_from_the_user_replaces_all_configured_modes(mode_args):
    argv = mitmdump_argv(["reverse:http://a@1", "reverse:http://b@2"], args=mode_args)
    assert not any("reverse:" in a for a in argv)
    assert argv[-2:] == mode_args


def test_bare_mitmdump_has_no_entry_file():
    argv = mitmdump_argv(["regular"], entry=None, program="mitmdump")
    assert "-s" not in argv and argv == ["mitmdump", "--mode", "regular"]
