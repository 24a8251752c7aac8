"""The hostile-input corpus of issue 17: which tests are its cases, by the issue's groups.

One command runs it and prints how many cases were tried and passed, group by group::

    python tests/reliability/corpus.py            # the default tier (about a minute)
    python tests/reliability/corpus.py --slow     # also the slow cases (the SIGKILL soak)

Extra arguments go to pytest (``-x``, ``-k ...``). The same table is printed at the end of any
pytest session that runs corpus cases (tests/reliability/conftest.py registers the report), so
the full suite shows it too. A case is one collected test item (each parametrisation counts).
``FLOOR`` is the number of default-tier cases: the corpus may only grow
(tests/reliability/test_corpus.py fails when fewer are collected, or when an entry below no
longer names any test).
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
R, S, C, T = "tests/reliability/", "tests/studio/", "tests/test_config.py", "tests/train/"
HI = R + "test_hostile_inputs.py::"
CK = R + "test_checkpoints.py::"
SV = S + "test_server.py::"
FLOOR = 176  # default-tier cases collected when this was last raised: may only go up

# group -> node-id prefixes (a file, or file::test, which also covers its parametrisations)
GROUPS: dict[str, list[str]] = {
    "1 branched resumes": [R + "test_branches.py"],
    "2 studio seed limits": [SV + "test_sample_errors"],
    "3 files outside the runs folder": [
        SV + "test_a_report_linked_outside_the_run_is_not_served",
        SV + "test_nothing_outside_the_runs_folder",
        SV + "test_symlinked_run_not_listed_and_post_refused",
        SV + "test_edit_with_direction_file"],
    "4 full disk, unwritable folder": [
        CK + "test_disk_full_during_checkpoint_keeps_the_previous_one",
        CK + "test_disk_full_inside_torch_save_is_the_same_one_line_error",
        CK + "test_disk_full_while_writing_a_sample_grid",
        CK + "test_full_disk_is_refused_before_training", CK + "test_unwritable_run_folder"],
    "5 hostile config files and overrides": [
        HI + "test_bad_config_files", HI + "test_config_paths_that_are_not_yaml_text",
        HI + "test_an_override_that_is_not_yaml_stays_text", HI + "test_bad_config_overrides",
        HI + "test_bad_layer_widths", C + "::test_yaml_file_errors",
        C + "::test_bad_values_are_clear_errors", C + "::test_base_errors"],
    "6 run-folder lock": [T + "test_runlock.py"],
    "7 studio under load, hostile requests": [
        S + "test_load.py", S + "test_stack.py", SV + "test_hostile_json_and_names",
        SV + "test_listens_on_ipv6_loopback_with_a_real_backlog", SV + "test_other_errors",
        SV + "test_uploads_validated", SV + "test_error_before_body_keeps_protocol_in_sync",
        SV + "test_make_server_errors"],
    "8 absurd sizes, broken data and exports": [
        HI + "test_absurd_sizes_are_refused_before_allocating",
        HI + "test_symlink_loops_in_an_image_folder_do_not_stop_loading",
        HI + "test_a_stray_huge_label_is_named_not_allocated",
        HI + "test_resume_onto_data_of_another_shape", HI + "test_a_damaged_export_config",
        HI + "test_bad_npz_files", HI + "test_folder_of_only_bad_files_fails_clearly",
        HI + "test_bad_files_among_good_ones_are_skipped_and_named",
        HI + "test_mixed_modes_and_odd_sizes_decode_alike",
        HI + "test_failed_commands_leave_an_existing_run_untouched",
        HI + "test_sample_from_a_foreign_checkpoint"],
    "9 write-path gaps": [
        R + "test_resume_stats.py", R + "test_write_path.py", C + "::test_save_config_is_atomic",
        HI + "test_a_torn_export_pair_is_recognised",
        T + "test_health.py::test_resumed_run_keeps_the_monitors_state",
        T + "test_health.py::test_state_survives_a_checkpoint"],
    "held: malicious pickles, foreign files": [
        R + "test_pickles.py", CK + "test_foreign_files_are_refused",
        CK + "test_cli_resume_from_damaged_or_foreign_file"],
    "held: damaged checkpoints": [
        CK + "test_truncated_checkpoint_is_refused_and_skipped",
        CK + "test_flipped_bits_are_caught_by_the_crc",
        CK + "test_cli_resume_auto_falls_back_past_a_torn_latest",
        CK + "test_cli_resume_auto_with_only_unreadable_checkpoints_changes_nothing",
        CK + "test_resume_with_another_global_batch_is_refused",
        CK + "test_tidy_for_resume_keeps_what_preceded_the_checkpoint"],
    "held: SIGKILL and resume": [R + "test_crash.py"],
    "held: non-finite values": [R + "test_numerical.py"],
}


def group_of(nodeid: str) -> str | None:
    """The corpus group of a collected test, or None when it is not a corpus case."""
    for group, prefixes in GROUPS.items():
        for p in prefixes:
            if nodeid == p or nodeid.startswith(p + ("::" if "::" not in p else "[")):
                return group
    return None


def paths() -> list[str]:
    """The files that hold corpus cases."""
    return sorted({p.split("::")[0] for ps in GROUPS.values() for p in ps})


class CorpusReport:
    """A pytest plugin: the outcome of every corpus case, printed as a table at the end."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if group_of(report.nodeid) is None:
            return
        if report.when == "call" or report.outcome != "passed":
            # a failed/skipped setup or teardown decides the case; a passed call decides it
            # unless its teardown then fails
            if self.outcomes.get(report.nodeid) in ("failed",):
                return
            self.outcomes[report.nodeid] = report.outcome

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.outcomes:
            return
        tried: Counter = Counter()
        passed: Counter = Counter()
        skipped: Counter = Counter()
        for nodeid, outcome in self.outcomes.items():
            g = group_of(nodeid)
            tried[g] += 1
            passed[g] += outcome == "passed"
            skipped[g] += outcome == "skipped"
        tr = terminalreporter
        tr.section("hostile-input corpus (issue 17)")
        for g in GROUPS:
            if tried[g]:
                tr.write_line(f"  {g:<42} {passed[g]:>4} / {tried[g]:<4} passed"
                              + (f"  ({skipped[g]} skipped)" if skipped[g] else ""))
        total, ok = sum(tried.values()), sum(passed.values())
        tr.write_line(f"  {'hostile cases':<42} {ok:>4} / {total:<4} passed "
                      f"(the default tier's floor: {FLOOR})")


def main(argv: list[str]) -> int:
    import pytest

    args = [a for a in argv if a != "--slow"]
    marks = ["-m", "slow or not slow"] if "--slow" in argv else []
    return int(pytest.main(["-q", "-p", "no:cacheprovider", *marks,
                            *[str(ROOT / p) for p in paths()], *args]))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
