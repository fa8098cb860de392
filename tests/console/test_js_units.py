"""The console's browser modules, unit-tested with node's own test runner (no npm, no bundler).

Run from pytest so the one test command (`make test`, CI) covers them; node is a system package
(`make setup` and CI install it), and CI fails rather than skips without it.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_console_modules_pass_their_node_tests():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs node for the console's unit tests (make setup installs nodejs)")
        pytest.skip("node is not installed (apt-get install nodejs)")
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    assert len(files) >= 11, "one test file per console module"
    run = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
