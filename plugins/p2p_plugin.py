"""Shared helpers for p2p's Python plugins (standard library only; not a plugin itself,
it has no run bit). A plugin calls back the running p2p as `$P2P_BIN --json ...`.

Under `P2P_JSON=1` (the user ran p2p with --json) a plugin prints exactly one JSON object
on one line on stdout, its help and its failures included (`fail` and `answer_help`
do that); anything else it says goes to stderr."""

import json
import os
import subprocess
import sys
import tomllib


def call(*args):
    """Runs one p2p command with --json; returns (exit status, its JSON object)."""
    binary = os.environ.get("P2P_BIN", "p2p")
    command = [binary]
    if os.environ.get("P2P_CONFIG"):
        command += ["--config", os.environ["P2P_CONFIG"]]
    command += ["--json", *args]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    lines = [l for l in done.stdout.splitlines() if l.strip()]
    try:
        obj = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        obj = {"error": {"code": "failed", "message": done.stdout.strip()}}
    if done.returncode != 0 and "error" not in obj:
        obj = {"error": {"code": "failed", "message": done.stderr.strip()}}
    return done.returncode, obj


def json_mode():
    """Whether the user asked for --json (p2p tells plugins through P2P_JSON)."""
    return os.environ.get("P2P_JSON") == "1"


def answer_help(doc):
    """Answers -h/--help with the plugin's docstring ({"help": ...} under --json)."""
    if sys.argv[1:] and sys.argv[1] in ("-h", "--help"):
        text = doc.strip()
        print(json.dumps({"help": text}) if json_mode() else text)
        sys.exit(0)


def config_path(section, key, default):
    """A folder setting of the config in use, resolved as p2p resolves it: the
    environment (P2P_SECTION__KEY) first, then the file, relative to the file's folder."""
    env = os.environ.get("P2P_%s__%s" % (section.upper(), key.upper()))
    if env:
        return os.path.abspath(env)
    config = os.environ.get("P2P_CONFIG")
    base = os.getcwd()
    folder = default
    if config:
        base = os.path.dirname(os.path.abspath(config))
        try:
            with open(config, "rb") as f:
                folder = tomllib.load(f).get(section, {}).get(key, folder)
        except (OSError, tomllib.TOMLDecodeError) as e:
            fail("cannot read %s: %s" % (config, e))
    return os.path.normpath(os.path.join(base, folder))


def state_dir():
    """Where this peer keeps its state: the hash cache and the download manifest."""
    return config_path("node", "state_dir", "./.p2p")


def fail(message, status=1):
    sys.stderr.write("error: %s\n" % message)
    if json_mode():
        print(json.dumps({"error": {"code": "failed", "message": message}}))
    sys.exit(status)


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"]:
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
