"""Every entry point: `main(argv)` runs in-process and returns its exit code, and every numeric flag is range-checked
(NaN, infinities and absurd magnitudes are one-line errors naming the flag, exit code 2)."""

import argparse
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(str(p.relative_to(ROOT)) for pattern in ("main_*.py", "run_*.py", "export.py", "render_dataset.py",
                                                           "paper_exps/*.py", "paper_plots/*.py", "bench/*.py")
                 for p in ROOT.glob(pattern))
BAD_NUMBERS = ("nan", "inf", "-1e30", "1e30")


class _Captured(BaseException):
    def __init__(self, parser):
        self.parser = parser


def _main(script: str):
    return runpy.run_path(str(ROOT / script), run_name="entry_point_test")["main"]


def _parser(script: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser `main` builds, caught at its parse_args (so nothing runs)."""
    def capture(self, *args, **kwargs):
        raise _Captured(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(_Captured) as e:
            _main(script)([])
    return e.value.parser


def numeric_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Options that take a value parsed by a type other than text or a path (choices are checked by argparse)."""
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.choices is None
            and a.type not in (None, str, Path)]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_numeric_flag_is_range_checked(script, monkeypatch, capsys):
    main = _main(script)
    assert main(["--help"]) == 0
    capsys.readouterr()
    assert main(["--no-such-flag"]) == 2 and _error_line(capsys)
    for action in numeric_flags(_parser(script, monkeypatch)):
        flag = action.option_strings[-1]
        assert action.type not in (int, float), f"{script} {flag}: a bare {action.type.__name__}, not range-checked"
        counts = getattr(action.type, "count", None) or 1
        count = counts if isinstance(counts, int) else counts[0]
        for bad in BAD_NUMBERS:
            # The trailing unknown flag stops a script whose flag let the value through before it does any work.
            code = main([flag, ",".join([bad] * count), "--no-such-flag"])
            line = _error_line(capsys)
            assert code == 2 and flag in line and "--no-such-flag" not in line, f"{script} {flag} {bad}: {line}"


def test_the_enumeration_finds_the_flags(monkeypatch):
    """The converted scripts' numeric flags are found (so the test above checks something)."""
    flags = {s: [a.option_strings[-1] for a in numeric_flags(_parser(s, monkeypatch))]
             for s in ("run_exported.py", "paper_plots/pose_gallery.py", "paper_plots/consistency.py")}
    assert flags == {"run_exported.py": ["--focal", "--box", "--intrinsics", "--fov"],
                     "paper_plots/pose_gallery.py": ["--frames", "--num"],
                     "paper_plots/consistency.py": ["--tolerance-mm"]}


def test_run_exported_refuses_zero_field_of_view_and_intrinsics(capsys):
    main = _main("run_exported.py")
    for argv, fragment in [(["--fov", "0"], "--fov '0'"), (["--fov", "180"], "--fov '180'"),
                           (["--intrinsics", "0,0,0,0"], "--intrinsics '0,0,0,0': value 1 (0)"),
                           (["--intrinsics", "500,0,320,240"], "value 2 (0)"),
                           (["--box", "10,10,0,5"], "--box '10,10,0,5': value 3 (0)"),
                           (["--focal", "-5"], "--focal '-5'")]:
        assert main([*argv, "m.onnx", "x.npy"]) == 2
        assert fragment in _error_line(capsys)
