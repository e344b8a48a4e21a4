"""Shared fixtures for kiln's Python tests: where the repository and the kiln binary are, the
venv's python, and a runner for `kiln` that fails a test on any sanitizer report or signal.

KILN_BIN overrides the binary (default <repo>/build/kiln); KILN_TEST_DEVICE the device the
model tests use (default cpu).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Text that AddressSanitizer / UBSan / LeakSanitizer print when they find something.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def kiln_bin():
    path = Path(os.environ.get("KILN_BIN", REPO_ROOT / "build" / "kiln"))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"kiln binary not found at {path} (build it, or set KILN_BIN)")
    return path


@pytest.fixture(scope="session")
def venv_python():
    """The python running these tests: the venv's (build/venv/bin/python under `make test`)."""
    return Path(sys.executable)


@pytest.fixture(scope="session")
def device():
    return os.environ.get("KILN_TEST_DEVICE", "cpu")


class KilnResult:
    def __init__(self, args, proc):
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def describe(self):
        return (f"kiln {' '.join(map(str, self.args))}\n  exit {self.returncode}\n"
                f"  stdout: {self.stdout[-2000:]!r}\n  stderr: {self.stderr[-4000:]!r}")


@pytest.fixture(scope="session")
def kiln(kiln_bin):
    """kiln(*args, timeout=...) -> KilnResult. Fails the test on a timeout, a signal, or a
    sanitizer report, whatever the exit code."""

    def run(*args, timeout=120):
        cmd = [str(kiln_bin), *map(str, args)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"kiln {' '.join(cmd[1:])} did not finish within {timeout} s")
        res = KilnResult(args, proc)
        if proc.returncode < 0:
            pytest.fail(f"kiln died from signal {-proc.returncode}\n{res.describe()}")
        for marker in SANITIZER_MARKERS:
            if marker in proc.stderr:
                pytest.fail(f"sanitizer report ({marker})\n{res.describe()}")
        return res

    return run


@pytest.fixture(scope="session")
def run_model(kiln, device):
    """run_model(model_path, feeds, workdir, *extra_args) -> {output name: array}: writes the
    feeds as WORKDIR/inputs/<name>.npy, runs `kiln run --inputs ... --output-dir ...` and reads
    back every WORKDIR/out/<name>.npy. Fails the test when kiln fails."""

    def run(model, feeds, workdir, *extra, output_names=None, timeout=120):
        workdir = Path(workdir)
        inputs, out = workdir / "inputs", workdir / "out"
        inputs.mkdir(parents=True, exist_ok=True)
        for name, value in feeds.items():
            np.save(inputs / f"{name}.npy", value)
        extra = list(extra)
        if not any(str(a).startswith("--device") for a in extra):
            extra = ["--device", device, *extra]
        res = kiln("run", model, "--inputs", inputs, "--output-dir", out, *extra,
                   timeout=timeout)
        assert res.returncode == 0, res.describe()
        names = output_names or sorted(p.stem for p in out.glob("*.npy"))
        results = {}
        for name in names:
            path = out / f"{name}.npy"
            assert path.is_file(), f"kiln wrote no {path}\n{res.describe()}"
            results[name] = np.load(path)
        return results

    return run
