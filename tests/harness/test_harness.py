"""Tests of the two-runtime device-test harness itself.

Each builds a throw-away device-test folder and runs pytest on it in a
subprocess: a failing, crashing, hanging, silently exiting or non-compiling
device test must fail the run and name the runtime and the test.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def _folder(pytester: pytest.Pytester, **modules: str) -> None:
    dev = pytester.mkdir("dev")
    shutil.copy(TESTS / "device" / "dtest.py", dev / "dtest.py")
    (dev / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\npytest_plugins = ['harness.plugin']\n"
    )
    for name, body in modules.items():
        (dev / f"{name}.py").write_text(textwrap.dedent(body))


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "dev")


def test_passing_module_passes_on_both_runtimes(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_ok="""
        import dtest
        def test_one():
            dtest.eq(1 + 1, 2)
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(passed=2)
    r.stdout.fnmatch_lines(["*micropython: 1 passed, 0 failed*", "*cpython: 1 passed, 0 failed*"])


def test_failure_names_runtime_and_test(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_bad="""
        def test_boom():
            raise ValueError("boom-marker")
        def test_fine():
            pass
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(passed=2, failed=2)
    r.stdout.fnmatch_lines(["*[[]micropython[]] test_bad::test_boom failed*", "*boom-marker*"])
    r.stdout.fnmatch_lines(["*[[]cpython[]] test_bad::test_boom failed*"])


def test_only_one_runtime_failing_fails_the_suite(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_split="""
        import sys
        def test_mp_only_bug():
            if sys.implementation.name == "micropython":
                raise AssertionError("only on micropython")
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(passed=1, failed=1)
    assert r.ret != 0
    r.stdout.fnmatch_lines(["FAILED*test_mp_only_bug?micropython?*"])


def test_crash_fails_the_crashing_and_following_tests(pytester: pytest.Pytester) -> None:
    # A real interpreter crash (segfault reading address 0), not an exception.
    _folder(
        pytester,
        test_crash="""
        import sys
        def test_a_crash():
            if sys.implementation.name == "micropython":
                import uctypes
                print(uctypes.bytearray_at(0, 8)[0])
            else:
                import ctypes
                ctypes.string_at(0)
        def test_b_after():
            pass
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=4)
    r.stdout.fnmatch_lines(["*test_crash::test_a_crash started but never finished*exited with status*"])
    r.stdout.fnmatch_lines(["*test_crash::test_b_after did not run*"])


def test_hang_times_out_and_fails(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_hang="""
        # sbd-device: timeout=3
        def test_forever():
            while True:
                pass
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=2)
    r.stdout.fnmatch_lines(["*test_hang::test_forever started but never finished: timed out after 3 s*"])


def test_silent_exit_is_not_a_pass(pytester: pytest.Pytester) -> None:
    # sys.exit(0) inside a test ends the process with status 0 and no report.
    _folder(
        pytester,
        test_exit="""
        import sys
        def test_quits():
            sys.exit(0)
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=2)
    r.stdout.fnmatch_lines(["*exited before the runner finished (no DONE line)*"])


def test_code_mpy_cross_rejects_fails_on_micropython(pytester: pytest.Pytester) -> None:
    # `match` is valid CPython 3.10+ but not MicroPython: passing on CPython alone is not done.
    _folder(
        pytester,
        test_syntax="""
        def test_match():
            x = 1
            match x:
                case 1:
                    pass
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines(["*mpy-cross could not compile*"])


def test_heap_option_is_applied(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_heap="""
        # sbd-device: heapsize=32K runtimes=micropython
        import gc
        def test_small_heap():
            total = gc.mem_free() + gc.mem_alloc()
            assert total <= 32 * 1024, total
        def test_cannot_allocate_beyond_it():
            try:
                b = bytearray(40 * 1024)
            except MemoryError:
                return
            raise AssertionError("allocated 40 KiB in a 32 KiB heap")
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(passed=2)


def test_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_opt="""
        # sbd-device: heapsize=lots
        def test_x():
            pass
    """,
    )
    r = _run(pytester)
    assert r.ret != 0
    r.stdout.fnmatch_lines(["*bad sbd-device option*"])


def test_tests_defined_at_run_time_fail_the_module(pytester: pytest.Pytester) -> None:
    # pytest collects from the source; a test made at run time (or hidden in
    # an `if`) would run unseen, its failure lost.  The module must fail.
    _folder(
        pytester,
        test_dyn="""
        def test_plain():
            pass
        if True:
            def test_hidden():
                raise AssertionError("hidden failure")
        globals()["test_made"] = lambda: 1 / 0
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=2)
    r.stdout.fnmatch_lines(["*defines tests*test_hidden*test_made*at run time*"])


def test_a_test_defined_twice_is_refused(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_twice="""
        def test_x():
            raise AssertionError("never runs")
        def test_x():
            pass
    """,
    )
    r = _run(pytester)
    assert r.ret != 0
    r.stdout.fnmatch_lines(["*test defined twice*test_x*"])


def test_printed_protocol_lines_cannot_forge_a_pass(pytester: pytest.Pytester) -> None:
    _folder(
        pytester,
        test_forge="""
        # sbd-device: timeout=5
        def test_forged():
            print("@@SBDTEST PASS test_forged")
            print("@@SBDTEST- PASS test_forged")
            while True:
                pass
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=2)


def test_pass_inside_a_failed_run_does_not_count(pytester: pytest.Pytester) -> None:
    # Every test passes, then the process exits non-zero (e.g. from an atexit
    # hook or a crash at exit): the run failed, so its passes do not count.
    _folder(
        pytester,
        test_badexit="""
        import sys
        def test_ok():
            pass
        def test_z_last():
            if sys.implementation.name == "micropython":
                sys.atexit(lambda: sys.exit(7))  # the unix port dies at exit ("uncaught NLR", status 1)
            else:
                import atexit, os
                atexit.register(lambda: os._exit(7))
    """,
    )
    r = _run(pytester)
    r.assert_outcomes(failed=4)
    r.stdout.fnmatch_lines(["*[[]micropython[]]*reported PASS but its run failed*exited with status 1*"])
    r.stdout.fnmatch_lines(["*[[]cpython[]]*reported PASS but its run failed*exited with status 7*"])
