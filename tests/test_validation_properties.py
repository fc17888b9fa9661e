"""Property-based checks of input validation: generated wrong types and out-of-range values for every key of
every schema, malformed arrays for the predictions / pose-set .npz readers and the LSP joints.mat reader.
Each must be one `UserError` line naming the key or file (in process), and through an entry point one stderr
line, exit code 2, no traceback and nothing written (a subprocess sample)."""

import contextlib
import inspect
import io
import math
import os
import runpy
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lifting.config import Option, load_config
from lifting.datasets.lsp import read_joints_mat
from lifting.datasets.samples import DISTORTION_FIELDS, KEY_FIELDS, MAX_COORDINATE, PoseSet, replace_2d_from_predictions
from lifting.errors import UserError
from lifting.options.__main__ import ENTRY_POINTS

ROOT = Path(__file__).resolve().parents[1]
FIXED = {"derandomize": True, "deadline": None, "database": None,
         "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
CASES_PER_ENTRY_POINT = 400
WORDS = st.text(string.ascii_letters + string.digits + "_-./ ", min_size=1, max_size=12)  # no commas: --set lists
FINITE = st.floats(allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------- what is invalid for one option

def _numeric_type(o: Option):
    return float if float in o.types else int if int in o.types else None


def _outside_bounds(o: Option, kind) -> list[st.SearchStrategy]:
    """Numbers of `kind` just and far outside each bound of `o`."""
    if kind is None:
        return []
    out = []
    for bound, below, strict in ((o.minimum, True, True), (o.exclusive_minimum, True, False),
                                 (o.maximum, False, True), (o.exclusive_maximum, False, False)):
        if bound is None:
            continue
        if kind is int:
            edge = (math.ceil(bound) - 1 if strict else math.floor(bound)) if below else \
                (math.floor(bound) + 1 if strict else math.ceil(bound))
            out.append(st.integers(max_value=edge) if below else st.integers(min_value=edge))
        else:  # floats, and the ints a float key also takes
            out.append(st.floats(max_value=bound, exclude_max=strict, allow_nan=False, allow_infinity=False)
                       if below else
                       st.floats(min_value=bound, exclude_min=strict, allow_nan=False, allow_infinity=False))
            out.append(st.integers(max_value=math.ceil(bound) - 1) if below else
                       st.integers(min_value=math.floor(bound) + 1))
    return out


def _valid_items(o: Option) -> st.SearchStrategy:
    if o.choices:
        return st.sampled_from([c for c in o.choices if type(c) is o.item])
    lo = o.minimum if o.minimum is not None else 0
    hi = o.maximum if o.maximum is not None else lo + 100
    return st.integers(int(lo), int(hi)) if o.item is int else st.floats(lo, hi)


def _wrong_types(o: Option) -> list[st.SearchStrategy]:
    """Values no accepted type takes (an int counts as a float; the item type counts for a list, since --set
    turns a scalar into a one-item list)."""
    takes = set(o.types) | ({o.item} if list in o.types else set())
    out = [st.dictionaries(WORDS, st.integers(), min_size=1)]
    if bool not in takes:
        out.append(st.booleans())
    if not takes & {int, float}:
        out.append(st.integers())
    if float not in takes:
        out.append(FINITE.filter(lambda x: not x.is_integer()) if int in takes else FINITE)
    if str not in takes:
        out.append(WORDS)
    if list not in o.types:
        out.append(st.lists(st.integers(), max_size=3))
    elif o.item is not None:
        wrong_item = st.booleans() if o.item is int else st.integers()
        out.append(st.lists(wrong_item, min_size=1, max_size=3))
    return out


def invalid_values(o: Option) -> st.SearchStrategy:
    """Every way a value for `o` can be wrong: type, null, empty, non-finite, out of bounds or choices, list
    constraints (empty, repeated or bad items)."""
    out = _wrong_types(o)
    if not o.nullable:
        out.append(st.none())
    if str in o.types:
        out.append(st.just(""))
        if o.choices and any(isinstance(c, str) for c in o.choices):
            out.append(WORDS.filter(lambda w: w not in o.choices))
    if float in o.types:  # non-finite floats, and ints too large for a float
        out.append(st.sampled_from([math.nan, math.inf, -math.inf, 10 ** 400, -(10 ** 400)]))
    if o.choices and any(type(c) is int for c in o.choices) and list not in o.types:
        out.append(st.integers().filter(lambda v: v not in o.choices))
    if list not in o.types:
        out += _outside_bounds(o, _numeric_type(o))
        return st.one_of(out)
    if o.nonempty:
        out.append(st.just([]))
    if o.unique:
        out.append(_valid_items(o).map(lambda v: [v, v]))
    bad_items = _outside_bounds(o, o.item)
    if o.choices:
        choices = [c for c in o.choices if type(c) is o.item]
        bad_items.append((st.integers() if o.item is int else WORDS).filter(lambda v: v not in choices))
    for bad in bad_items:
        out.append(st.tuples(st.lists(_valid_items(o), max_size=2, unique=True), bad).map(lambda t: t[0] + [t[1]]))
    return st.one_of(out)


def as_yaml(value) -> str:
    """How a user would type the value: YAML flow style on one line."""
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6).strip().removesuffix("...").strip()


def given_as(source: str, key: str, value, config_file: Path) -> tuple:
    """(path, overrides, extra) that feed `value` for `key` to load_config through a file, --set or a dict."""
    if source == "file":
        config_file.write_text(yaml.safe_dump({key: value}))
        return config_file, [], None
    if source == "set":
        return None, [f"{key}={as_yaml(value)}"], None
    return None, [], {key: value}


def assert_one_line_naming(error: UserError, *fragments: str) -> None:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text, text
    for f in fragments:
        assert f in text, text


# ---------------------------------------------------------------- every key of every schema, in process

def key_property(schema, key: str, examples: int, config_file: Path, seen: dict):
    """The property for one key: every invalid value, given through any source, is one line naming the key."""

    @settings(max_examples=examples, **FIXED)
    @given(value=invalid_values(schema[key]), source=st.sampled_from(["file", "set", "extra"]))
    def check(value, source):
        seen[key] = seen.get(key, 0) + 1
        path, overrides, extra = given_as(source, key, value, config_file)
        with pytest.raises(UserError) as e:
            load_config(schema, path, overrides, extra)
        assert_one_line_naming(e.value, f"key {key!r}")

    return check


@pytest.mark.parametrize("script, schema", ENTRY_POINTS, ids=[s for s, _ in ENTRY_POINTS])
def test_every_key_refuses_wrong_types_and_out_of_range_values(script, schema, tmp_path_factory):
    config_file = tmp_path_factory.mktemp("cfg") / "c.yaml"
    per_key = math.ceil(CASES_PER_ENTRY_POINT / len(schema))
    seen: dict[str, int] = {}
    for key in schema:
        key_property(schema, key, per_key, config_file, seen)()
    assert set(seen) == set(schema)
    assert sum(seen.values()) >= 200, seen


# ---------------------------------------------------------------- malformed arrays

def poseset(n=4) -> PoseSet:
    rng = np.random.default_rng(0)
    return PoseSet(skeleton="h36m_17", joints2d_px=rng.uniform(0, 1000, (n, 17, 2)),
                   joints3d_cam=rng.uniform(-900, 900, (n, 17, 3)) + [0, 0, 5000], subject=np.full(n, 9),
                   action=np.array(["Walking", "Eating", "Eating", "Posing"][:n]), subaction=np.arange(n) % 2,
                   camera=np.arange(n) % 4 + 1, frame=np.arange(n) * 5, cam_f=np.full((n, 2), 1145.0),
                   cam_c=np.full((n, 2), 512.0))


POSES = poseset()
COORDINATES = ("joints2d_px", "cam_f", "cam_c")
WRONG_DTYPES = {"number": [np.dtype("U3"), np.dtype(bool), np.dtype(complex)],
                "integer": [np.dtype(float), np.dtype("U3"), np.dtype(complex)],
                "string": [np.dtype(np.int64), np.dtype(float), np.dtype(bool)]}


def good_predictions() -> dict[str, np.ndarray]:
    return {"joints2d_px": (POSES.joints2d_px + 12.0) / 4, "skeleton": np.array("h36m_17"),
            "cam_f": POSES.cam_f / 4, "cam_c": POSES.cam_c / 4, **{k: POSES.arrays()[k] for k in KEY_FIELDS}}


def _kind(name: str) -> str:
    return "number" if name in COORDINATES + DISTORTION_FIELDS else "string" if name == "action" else "integer"


@st.composite
def broken_predictions(draw) -> dict[str, np.ndarray]:
    """A predictions file with exactly one thing wrong."""
    data = good_predictions()
    name = draw(st.sampled_from(sorted(set(data) - {"skeleton"})))
    arr = data[name]
    how = draw(st.sampled_from(["shape", "dtype", "missing", "skeleton"] +
                               (["nonfinite", "huge"] if name in COORDINATES else [])))
    if how == "shape":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5).filter(lambda s: s != arr.shape))
        data[name] = draw(hnp.arrays(arr.dtype, shape, elements=hnp.from_dtype(arr.dtype).filter(bool)
                                     if arr.dtype.kind == "U" else None))
    elif how == "dtype":
        dtype = draw(st.sampled_from(WRONG_DTYPES[_kind(name)]))
        data[name] = np.ones(arr.shape, dtype) if dtype.kind != "U" else np.full(arr.shape, "abc")
    elif how == "missing":
        del data[draw(st.sampled_from(["joints2d_px", *KEY_FIELDS, "cam_f", "cam_c"]))]
    elif how == "skeleton":
        data["skeleton"] = draw(st.sampled_from([np.array("h36m_99"), np.array(["h36m_17"]), np.array(17),
                                                 np.array("lsp_14")]))
    else:
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]) if how == "nonfinite" else
                   st.floats(MAX_COORDINATE, 1e300, exclude_min=True).flatmap(lambda v: st.sampled_from([v, -v])))
        arr = arr.astype(np.float64)
        arr.flat[draw(st.integers(0, arr.size - 1))] = bad
        data[name] = arr
    return data


def test_good_predictions_are_read():
    """The base the malformed files are made from is valid (so each generated file has one thing wrong)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "p.npz", **good_predictions())
        out = replace_2d_from_predictions(POSES, Path(tmp) / "p.npz")
    np.testing.assert_allclose(out.joints2d_px, POSES.joints2d_px + 12.0, atol=1e-3)  # 3 px at 1/4 size


@settings(max_examples=200, **FIXED)
@given(data=broken_predictions())
def test_malformed_predictions_are_one_line_errors(data, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "pred.npz"
    np.savez(path, **data)
    with pytest.raises(UserError) as e:
        replace_2d_from_predictions(POSES, path)
    assert_one_line_naming(e.value, str(path))


@settings(max_examples=60, **FIXED)
@given(name=st.sampled_from(sorted(POSES.arrays())), how=st.sampled_from(["dtype", "nonfinite", "cut", "pickled"]))
def test_malformed_pose_set_files_are_one_line_errors(name, how, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "poses.npz"
    POSES.save_npz(path)
    data = dict(np.load(path))
    if how == "dtype":
        data[name] = np.ones(data[name].shape, WRONG_DTYPES[_kind(name) if name != "joints3d_cam" else "number"][0])
    elif how == "nonfinite" and data[name].dtype.kind == "f":
        data[name] = np.where(np.arange(data[name].size).reshape(data[name].shape) == 1, np.nan, data[name])
    elif how == "pickled":
        data[name] = np.array([{"a": 1}] * len(data[name]), dtype=object)
    else:
        data[name] = data[name][:-1]
    np.savez(path, **data)
    with pytest.raises(UserError) as e:
        PoseSet.load_npz(path)
    assert_one_line_naming(e.value, str(path))


@settings(max_examples=60, **FIXED)
@given(cut=st.integers(0, 3000), junk=st.binary(max_size=64))
def test_truncated_or_foreign_npz_files_are_one_line_errors(cut, junk, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "cut.npz"
    np.savez(path, **good_predictions())
    path.write_bytes(path.read_bytes()[:cut] + junk)
    with pytest.raises(UserError) as e:
        replace_2d_from_predictions(POSES, path)
    assert_one_line_naming(e.value, str(path))


def joints_mat(extended: bool, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    xy, flag = rng.uniform(0, 500, (n, 14, 2)), rng.integers(0, 2, (n, 14))
    stacked = np.concatenate([xy, flag[..., None]], -1)          # (N, 14, 3)
    return stacked.transpose(1, 2, 0) if extended else stacked.transpose(2, 1, 0)


@st.composite
def broken_joints(draw) -> dict:
    """A joints.mat variable dict with exactly one thing wrong."""
    extended = draw(st.booleans())
    joints = joints_mat(extended)
    how = draw(st.sampled_from(["shape", "dtype", "nonfinite", "huge", "flag", "name", "empty"]))
    if how == "shape":
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)
                     .filter(lambda s: len(s) != 3 or s[:2] not in ((3, 14), (14, 3))))
        return {"joints": np.zeros(shape)}
    if how == "dtype":
        return {"joints": draw(st.sampled_from([joints.astype(complex) + 1j, np.full(joints.shape[:2], "x"),
                                                np.array([[1.0, "a"]], dtype=object)]))}
    if how == "name":
        return {"points": joints}
    if how == "empty":
        return {"joints": joints[..., :0]}
    coords = (np.s_[:, :2] if extended else np.s_[:2])
    target = joints[coords]
    if how == "flag":
        value = draw(st.sampled_from([-1.0, 0.5, 2.0, 7.0]))
        flags = joints[:, 2] if extended else joints[2]
        flags.flat[draw(st.integers(0, flags.size - 1))] = value
    else:
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf]) if how == "nonfinite" else
                     st.floats(MAX_COORDINATE, 1e300, exclude_min=True))
        target.flat[draw(st.integers(0, target.size - 1))] = value
        joints[coords] = target
    return {"joints": joints}


@settings(max_examples=120, **FIXED)
@given(variables=broken_joints())
def test_malformed_joints_mat_is_a_one_line_error(variables, tmp_path_factory):
    import scipy.io

    path = tmp_path_factory.getbasetemp() / "joints.mat"
    scipy.io.savemat(path, variables)
    with pytest.raises(UserError) as e:
        read_joints_mat(path)
    assert_one_line_naming(e.value, str(path))


@settings(max_examples=40, **FIXED)
@given(cut=st.integers(0, 1500), junk=st.binary(max_size=64))
def test_truncated_joints_mat_is_a_one_line_error(cut, junk, tmp_path_factory):
    import scipy.io

    path = tmp_path_factory.getbasetemp() / "cut.mat"
    scipy.io.savemat(path, {"joints": joints_mat(True, n=20)})
    path.write_bytes(path.read_bytes()[:cut] + junk)
    with pytest.raises(UserError) as e:
        read_joints_mat(path)
    assert_one_line_naming(e.value, str(path))


# ---------------------------------------------------------------- the entry points' contract

def run_entry_point(script: str, args: list[str], cwd: Path):
    """Run a script of this checkout from an empty folder (so anything it writes there would show): its main(argv)
    in-process, or a subprocess for a script without one yet."""
    main = runpy.run_path(str(ROOT / script), run_name="in_process")["main"]
    if not inspect.signature(main).parameters:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=120)
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(script, code, out.getvalue(), err.getvalue())


def assert_usage_error(proc: subprocess.CompletedProcess, cwd: Path, *fragments: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert not any(cwd.iterdir()), sorted(cwd.iterdir())
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("script, schema", ENTRY_POINTS, ids=[s for s, _ in ENTRY_POINTS])
def test_entry_points_exit_2_with_one_line_and_write_nothing(script, schema, tmp_path_factory):
    keys = sorted(schema)

    @settings(max_examples=6, **FIXED)
    @given(data=st.data())
    def check(data):
        key = data.draw(st.sampled_from(keys))
        value = data.draw(invalid_values(schema[key]))
        cwd = tmp_path_factory.mktemp("cwd")
        proc = run_entry_point(script, ["--set", f"{key}={as_yaml(value)}", "out_dir=run", "cache_dir=cache"], cwd)
        assert_usage_error(proc, cwd, f"key {key!r}")

    check()


RENDER_ARGS = {"--subjects": st.sampled_from(["2", "0", "1,1", "12"]), "--cameras": st.sampled_from(["5", "0", "2,2"]),
               "--stride": st.integers(max_value=0), "--size": st.integers(max_value=15),
               "--batch-size": st.integers(max_value=0), "--occluder-prob": FINITE.filter(lambda p: not 0 <= p <= 1),
               "--threads": st.integers(max_value=0), "--seed": st.integers(max_value=-1)}


@settings(max_examples=6, **FIXED)
@given(flag=st.sampled_from(sorted(RENDER_ARGS)), data=st.data())
def test_render_dataset_exits_2_with_one_line_and_writes_nothing(flag, data, tmp_path_factory):
    value = str(data.draw(RENDER_ARGS[flag]))
    cwd = tmp_path_factory.mktemp("cwd")
    proc = run_entry_point("render_dataset.py", ["--data-dir", "synthetic", "--out", "out", "--cache-dir", "cache",
                                                 f"{flag}={value}"], cwd)
    assert_usage_error(proc, cwd, flag)


@pytest.mark.parametrize("script, schema", ENTRY_POINTS, ids=[s for s, _ in ENTRY_POINTS])
def test_every_option_declares_what_is_valid(script, schema):
    """Numbers have a lower bound or choices, integers an upper bound too (no absurd counts), lists say whether
    they may be empty: a schema key without a range would also escape the generated out-of-range values above."""
    for key, o in schema.items():
        if list in o.types:   # lists of ids are unique; a list of sizes (RootNet's bbox_real) may repeat values
            assert o.nonempty and (o.unique or o.item is float), key
        elif int in o.types and not o.choices or int in o.types and str in o.types:
            assert o.minimum is not None and o.maximum is not None, key
        elif float in o.types:
            assert o.minimum is not None or o.exclusive_minimum is not None, key
        elif int in o.types:
            assert o.choices, key
