"""Where the server's workers spend their time under load: py-spy samples, summarised.

`make load` with LOAD_PYSPY=1 samples gunicorn and its workers (on-CPU stacks, holding the GIL)
through the measured run; the raw stacks go beside the results (load/results.pyspy.txt) and
the summary into them: the functions the samples were in, by their own share and by the share
of samples they were on the stack of (the platform's own functions only).
"""
import subprocess
from collections import Counter
from pathlib import Path

from load.stage import BIN

OWN_CODE = ("booking/", "backend/", "mobile_api/", "payments/", "robotaxi_dispatch/")


def record(pid: int, seconds: int, raw: Path) -> subprocess.Popen:
    """Start sampling a process and its children for `seconds` into a raw (collapsed stacks) file."""
    return subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--gil",
                             "--nonblocking", "--rate", "50", "--duration", str(seconds), "--format", "raw",
                             "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stacks(raw: Path):
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            # the first frame names the process; the rest run outermost to innermost
            yield stack.split(";")[1:], int(count)


def summary(raw: Path, top: int = 15) -> str:
    """Render the hottest functions: own time (innermost frame) and inclusive time of the platform's code."""
    own, inclusive, total = Counter(), Counter(), 0
    for frames, count in _stacks(raw):
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            if any(part in frame for part in OWN_CODE):
                inclusive[frame] += count
    if not total:
        return "py-spy took no samples.\n"
    lines = [f"{total} samples of the workers holding the GIL.\n", "| own share | function |", "|---|---|"]
    lines += [f"| {count / total:.1%} | `{frame}` |" for frame, count in own.most_common(top)]
    lines += ["", "| on the stack | platform function |", "|---|---|"]
    lines += [f"| {count / total:.1%} | `{frame}` |" for frame, count in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
