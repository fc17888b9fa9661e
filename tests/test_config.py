import re
from pathlib import Path

import pytest

from lifting.config import describe, load_config, opt, parse_override, validate
from lifting.errors import UserError
from lifting.options.h36m import SCHEMA

TOY = {"epochs": opt(int, 3, "e"), "lr": opt(float, 1e-3, "lr"), "name": opt(str, "x", "n", choices=("x", "y")),
       "subjects": opt(list, [1], "s", item=int), "pairs": opt((int, str), 1, "p", nullable=True), "flag": opt(bool, False, "f")}


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_file_and_overrides(tmp_path):
    cfg = load_config(TOY, write(tmp_path, "epochs: 5\nlr: 1\n"), ["subjects=1,5,6", "pairs=all", "flag=true"])
    assert cfg == {"epochs": 5, "lr": 1.0, "name": "x", "subjects": [1, 5, 6], "pairs": "all", "flag": True}
    assert load_config(TOY, None, ["subjects=[9, 11]", "pairs=null"])["subjects"] == [9, 11]
    assert load_config(TOY, None, ["subjects=8"])["subjects"] == [8]


@pytest.mark.parametrize("text, message", [
    ("epochs: 5\nepoch: 3\n", "unknown key 'epoch'; valid keys: epochs, flag, lr, name, pairs, subjects"),
    ("epochs: five\n", "key 'epochs' must be int, got str"),
    ("epochs: 2.5\n", "key 'epochs' must be int"),
    ("flag: 1\n", "key 'flag' must be bool"),
    ("name: z\n", "must be one of ['x', 'y']"),
    ("subjects: [1, a]\n", "must be list[int], got item 'a'"),
    ("epochs: null\n", "must not be null"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("epochs: [\n", "not valid YAML"),
    ("epochs: \x00\n", "not valid YAML"),
])
def test_bad_files(tmp_path, text, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(TOY, write(tmp_path, text))


def test_unreadable_config_files(tmp_path):
    for text, message in [("epochs: " + "[" * 5000 + "]" * 5000 + "\n", "c.yaml: not valid YAML (nested too deeply)"),
                          ("cameras: [1, 2, 1]\n", "c.yaml: key 'cameras' items must be unique, got 1 twice in [1, 2, 1]")]:
        with pytest.raises(UserError, match=re.escape(message)):
            load_config(SCHEMA, write(tmp_path, text))
    (tmp_path / "latin1.yaml").write_bytes("name: \xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.yaml: not valid YAML \(not UTF-8 text\)$"):
        load_config(TOY, tmp_path / "latin1.yaml")
    with pytest.raises(UserError, match=r"--set: key 'epochs' must be int, got str '\[\[\[\["):
        load_config(TOY, None, ["epochs=" + "[" * 5000])


def test_bad_overrides_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="unknown key 'nope'"):
        parse_override("nope=1", TOY)
    with pytest.raises(UserError, match="expected key=value"):
        parse_override("epochs", TOY)
    with pytest.raises(UserError, match="config file not found"):
        load_config(TOY, tmp_path / "missing.yaml")


def test_int_accepted_as_float_and_bool_not_as_int():
    assert validate(TOY, {"lr": 2})["lr"] == 2.0
    with pytest.raises(UserError):
        validate(TOY, {"epochs": True})


def test_h36m_schema_documents_every_key():
    table = describe(SCHEMA)
    for key in ("epochs", "data_dir", "out_dir", "seed", "train_subjects", "test_subjects"):
        assert f"`{key}`" in table
    assert all(o.help for o in SCHEMA.values())


def test_config_reference_is_up_to_date():
    """docs/config.md is generated from the schemas; regenerate with `python -m lifting.options > docs/config.md`."""
    from pathlib import Path

    from lifting.options.__main__ import reference

    doc = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert doc.read_text() == reference()


def _schema_for(path):
    from lifting.options import detector, lsp, metro, rootnet

    if path.name.startswith("detector"):
        return detector.SCHEMA
    if path.name.startswith("metro"):
        return metro.SCHEMA
    if path.name.startswith("rootnet"):
        return rootnet.SCHEMA
    return lsp.SCHEMA if "lsp" in path.name else SCHEMA


# Entry-point configs that need command-line keys to be complete (as their header comment says).
NEEDS = {"synthetic_prior.yaml": (["test_data_dir=../shared/data/h36m", "test_subjects=[8]"], "share S9")}


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "opts").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    overrides, without = NEEDS.get(path.name, ([], None))
    if without:
        with pytest.raises(UserError, match=without):
            load_config(_schema_for(path), path, [])
    cfg = load_config(_schema_for(path), path, overrides)
    assert set(cfg) == set(_schema_for(path))


def _experiments():
    import importlib.util

    for script in sorted((Path(__file__).resolve().parents[1] / "paper_exps").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"paper_exps_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "EXPERIMENT"):  # the runner's row experiments (absolute.py has its own driver)
            yield module.EXPERIMENT


@pytest.mark.parametrize("experiment", list(_experiments()), ids=lambda e: e.name)
def test_every_paper_row_config_passes_its_schema_and_rules(experiment, tmp_path):
    from lifting.experiments.arguments import parse_args
    from lifting.experiments.experiment import row_config

    for quick in ([], ["--quick"]):
        args = parse_args(experiment, ["--results-dir", str(tmp_path), *quick])
        for row in experiment.rows:
            cfg = row_config(experiment, row, args, seed=1)
            assert cfg["out_dir"] == str(tmp_path / experiment.name / row.name / "seed_1")
            assert (cfg["load"] is not None) == (row.load_from is not None)


def test_every_schema_default_is_valid():
    """Defaults pass their own ranges and rules (an entry point that changes a shared default cannot break it)."""
    from lifting.config import defaults
    from lifting.options.__main__ import ENTRY_POINTS

    for _, schema in ENTRY_POINTS:
        assert validate(schema, defaults(schema)) == load_config(schema) == defaults(schema)


@pytest.mark.parametrize("key, value, message", [
    ("lr", 0, "--set: key 'lr' must be in (0, 1], got 0.0"),
    ("dropout", 1, "key 'dropout' must be in [0, 1), got 1.0"),
    ("amt_train_data", 1.5, "key 'amt_train_data' must be in (0, 1], got 1.5"),
    ("log_every", 0, "key 'log_every' must be in [1, 1000000000], got 0"),
    ("max_norm", 0, "key 'max_norm' must be > 0, got 0.0"),
    ("train_subjects", [1, 2], "key 'train_subjects' items must be one of [1, 5, 6, 7, 8, 9, 11], got 2 in [1, 2]"),
    ("cameras", [1, 1], "key 'cameras' items must be unique, got 1 twice in [1, 1]"),
    ("cameras", [0], "key 'cameras' items must be in [1, 4], got 0"),
    ("test_subjects", [], "key 'test_subjects' must be a non-empty list"),
    ("num_pairs", "most", "key 'num_pairs' must be in [1, 136] or one of ['all'], got 'most'"),
    ("num_pairs", 0, "key 'num_pairs' must be in [1, 136] or one of ['all'], got 0"),
    ("num_pairs", 137, "key 'num_pairs' must be in [1, 136] or one of ['all'], got 137"),
    ("rel_labels_noise_prob", "amt", "must be in [0, 1] or one of ['mturk'], got 'amt'"),
    ("actions", ["Walking", "Jogging"], "key 'actions' items must be one of ['all', 'Directions'"),
    ("out_dir", "", "key 'out_dir' must be a non-empty string, got ''"),
    ("seed", -1, "key 'seed' must be in [0, 4294967295], got -1"),
])
def test_out_of_range_values_name_key_value_and_range(key, value, message):
    import yaml

    text = f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
    with pytest.raises(UserError) as e:
        load_config(SCHEMA, None, [text])
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_floats_must_be_finite(value):
    with pytest.raises(UserError, match=r"key 'lr' must be a finite number, got (nan|inf|-inf)$"):
        load_config(SCHEMA, None, [f"lr={value}"])


@pytest.mark.parametrize("key, value, bound", [
    ("linear_size", 10 ** 9, "[1, 16384]"), ("batch_size", 10 ** 12, "[1, 1048576]"), ("epochs", 10 ** 7, "[0, 100000]"),
    ("stride", 10 ** 8, "[1, 100000]"), ("train_noise_amount", 1e300, "[0, 1000000]"), ("iterations", 2 ** 70, "[1, 1000000000]"),
])
def test_absurd_values_are_refused_at_load(key, value, bound):
    """A typo'd extra few zeros is an error at load, not an out-of-memory crash or a run that never ends."""
    with pytest.raises(UserError, match=re.escape(f"key '{key}' must be in {bound}, got ")):
        validate(SCHEMA, {key: value})


def test_changed_shared_default_keeps_its_range():
    from lifting.options import lsp, metro

    assert lsp.SCHEMA["lr"].default == 1e-3 and metro.SCHEMA["test_subjects"].default == [8]
    for schema in (lsp.SCHEMA, metro.SCHEMA):
        with pytest.raises(UserError, match=r"key 'lr' must be in \(0, 1\]"):
            validate(schema, {"lr": -1e-3})
    with pytest.raises(UserError, match="items must be one of"):
        validate(metro.SCHEMA, {"test_subjects": [3]})


RULE_CASES = [
    ("main_human36.py", ["eval_only=true"], "eval_only: true needs load"),
    ("main_human36.py", ["train_subjects=[1,9]", "test_subjects=[9]"], "share S9 of data_dir synthetic"),
    ("main_human36.py", ["num_pairs=all"], "num_pairs: 'all' is a relative-depth pairs option, but model is supervised"),
    ("main_human36.py", ["tolerance_mm=50"], "tolerance_mm: 50.0 is a relative-depth pairs option"),
    ("main_human36.py", ["model=relative", "num_pairs=null"], "num_pairs: the relative model needs num_pairs"),
    ("main_human36.py", ["model=relative", "skeleton=h36m_16", "num_pairs=121"], "exceeds the 120 joint pairs of h36m_16"),
    ("main_human36.py", ["model=relative", "skeleton=lsp_14", "num_pairs=92"], "exceeds the 91 joint pairs of lsp_14"),
    ("main_human36.py", ["model=relative", "tolerance_mm=10", "rel_labels_noise_prob=mturk"], "cannot be combined"),
    ("main_human36.py", ["iterations=100", "warmup_steps=100"], "warmup_steps 100 >= iterations 100"),
    ("main_human36.py", ["actions=[all,Walking]"], "actions: 'all' stands alone"),
    ("main_human36.py", ["skeleton=h36m_16", "input_skeleton=h36m_17"], "input_skeleton h36m_17 needs joints"),
    ("main_human36.py", ["test_noise_type=detections"], "test_noise_type: 'detections' needs skeleton: h36m_16"),
    ("main_human36.py", ["train_noise_type=uniform_linear", "train_noise_amount=2.5"], "whole number of px, got 2.5"),
    ("main_lsp.py", ["eval_only=true"], "eval_only: true needs load"),
    ("main_lsp.py", ["limb_type=avg_human36"], "limb_type: 'avg_human36' needs load"),
    ("main_metro.py", ["crop_size=100"], "crop_size 100 must be a multiple of output_stride 32"),
    ("main_metro.py", ["crop_size=64", "test_output_stride=4", "output_stride=64"], "must be one of [32, 16, 8, 4]"),
    ("main_metro.py", ["crop_size=32", "output_stride=32"], "giving at least a 2x2 heatmap"),
    ("main_metro.py", ["image_dir=imgs"], "image_dir imgs is only read with data_source: rendered"),
    ("main_metro.py", ["test_subjects=[7]"], "share S7 of data_dir synthetic: test on other subjects"),
]


@pytest.mark.parametrize("script, overrides, message", RULE_CASES)
def test_cross_key_rules(script, overrides, message):
    from lifting.options.__main__ import ENTRY_POINTS

    schema = dict(ENTRY_POINTS)[script]
    with pytest.raises(UserError) as e:
        load_config(schema, None, overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("overrides", [
    ["train_subjects=[1,9]", "test_subjects=[9]", "test_data_dir=/elsewhere"],   # test subjects from other data
    ["train_subjects=[1,9]", "test_subjects=[9]", "eval_only=true", "load=run"],  # evaluation only
    ["model=relative", "num_pairs=136"], ["num_pairs=null"], ["iterations=100", "warmup_steps=99"],
    ["iterations=10", "lr_schedule=staircase"],                                  # warm-up unused
    ["skeleton=h36m_16", "test_noise_type=detections"],
])
def test_cross_key_rules_accept_what_is_valid(overrides):
    load_config(SCHEMA, None, overrides)


def test_docs_show_ranges_and_rules():
    from lifting.options.__main__ import reference

    doc = reference()
    assert "| `lr` | float | `0.002` | in (0, 1] | peak learning rate |" in doc
    assert "| `cameras` | list[int] | `[1, 2, 3, 4]` | non-empty, unique, items in [1, 4] |" in doc
    from lifting.options.__main__ import ENTRY_POINTS

    assert doc.count("Checked across keys at load:") == len(ENTRY_POINTS)
    assert "- crop_size is a multiple of output_stride" in doc


def test_numbers_too_long_for_python_are_one_line_errors(tmp_path):
    digits = "9" * 5000  # beyond Python's int/str conversion limit
    for path, overrides, message in [(write(tmp_path, f"epochs: {digits}\n"), [], "not valid YAML (ValueError: Exceeds the limit"),
                                     (None, [f"epochs={digits}"], "key 'epochs' must be int, got str '9999"),
                                     (None, [f"lr={digits}"], "key 'lr' must be float, got str '9999")]:
        with pytest.raises(UserError, match=re.escape(message)) as e:
            load_config(SCHEMA, path, overrides)
        assert "\n" not in str(e.value) and len(str(e.value)) < 200
    with pytest.raises(UserError, match=r"key 'lr' must be a finite number, got 1000000000000"):
        load_config(SCHEMA, None, [], {"lr": 10 ** 400})
    with pytest.raises(UserError, match=r"key 'epochs' must be in \[0, 100000\], got <a number too long to print>"):
        load_config(SCHEMA, None, [], {"epochs": 10 ** 5000})
