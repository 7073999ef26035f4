"""scripts/scaling.py measures and predicts on a small case end to end (it once broke silently when
scores became numpy arrays: no test ran it)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_scaling_script_measures_and_predicts_on_mnist():
    done = subprocess.run(
        [sys.executable, "scripts/scaling.py", "--model", "lenet-mnist", "--encoding", "direct",
         "--target", "all", "--population", "10", "--warm", "1", "--generations", "2", "--repeats", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    measured = re.search(r"measured evals/s: --workers 1 \(this process\) ([\d.]+); "
                         r"1 worker process ([\d.]+); 2 worker processes ([\d.]+)", out)
    assert measured and all(float(rate) > 0 for rate in measured.groups()), out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+(1|2|8|32|128)\s+10\s", line)]
    assert [row[0] for row in rows] == ["1", "2", "8", "32", "128"], out
    assert all(float(row[2]) > 0 for row in rows)
