"""The hostile-input corpus (corpus.py) only grows: every entry still names tests, and the
default tier collects at least FLOOR cases."""
from __future__ import annotations

import subprocess
import sys

from corpus import FLOOR, GROUPS, ROOT, group_of, paths


def test_every_entry_names_tests_and_the_corpus_never_shrinks():
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *paths()],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ids = [line.strip() for line in res.stdout.splitlines() if "::" in line]
    cases = [i for i in ids if group_of(i) is not None]
    for group, prefixes in GROUPS.items():
        for p in prefixes:
            assert any(i == p or i.startswith(p + ("::" if "::" not in p else "["))
                       for i in ids), f"corpus entry {p!r} ({group}) names no test any more"
    assert len(cases) >= FLOOR, (f"the hostile-input corpus shrank: {len(cases)} cases, "
                                 f"floor {FLOOR}")
    print(f"\n{len(cases)} hostile cases collected (floor {FLOOR})")


def test_group_of():
    assert group_of("tests/studio/test_server.py::test_sample_errors[body0-400-x]") \
        == "2 studio seed limits"
    assert group_of("tests/studio/test_server.py::test_sample_errors_more") is None
    assert group_of("tests/reliability/test_branches.py::test_anything") == "1 branched resumes"
    assert group_of("tests/studio/test_server.py::test_page_and_runs") is None
