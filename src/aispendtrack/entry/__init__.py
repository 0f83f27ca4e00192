"""The addon's entry file for `mitmdump -s`, alone in its folder: mitmproxy puts a script's
folder on `sys.path` and leaves it there, so no other module here may be importable by a
bare name."""
