"""Rules about kiln's own sources that the compiler cannot check.

- `x.ok()` on an instance calls the static factory `Status::ok()` (a fresh ok Status), not a
  test of x: `if (!st.ok())` is never taken and `EXPECT_TRUE(st.ok())` always passes. A Status is
  tested with `is_ok()`, an Expected with `has_value()` (Support's `ok` is a field, no parens).
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("runtime", "graph", "tests", "bench")
           for p in (REPO / d).rglob("*") if p.suffix in (".cpp", ".h")]
INSTANCE_OK = re.compile(r"[A-Za-z0-9_)\]]\s*(\.|->)\s*ok\s*\(\s*\)")


def test_no_status_ok_called_on_an_instance():
    bad = []
    for p in SOURCES:
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            code = line.split("//")[0]
            if INSTANCE_OK.search(code) and "Status::ok()" not in code:
                bad.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    assert not bad, "x.ok() calls the static Status::ok(); use is_ok() / has_value():\n" + \
        "\n".join(bad)
