"""`physml list | head -1`: a reader that leaves early is not an error (exit 0, no traceback)."""

from __future__ import annotations

import subprocess
import sys


def test_list_into_a_closed_pipe_exits_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "physml", "list", "regression"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before physml writes a line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
