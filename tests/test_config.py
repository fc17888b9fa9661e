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
])
def test_bad_files(tmp_path, text, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(TOY, write(tmp_path, text))


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
    from lifting.options import lsp, metro, rootnet

    if path.name.startswith("metro"):
        return metro.SCHEMA
    if path.name.startswith("rootnet"):
        return rootnet.SCHEMA
    return lsp.SCHEMA if "lsp" in path.name else SCHEMA


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "opts").rglob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_validates(path):
    cfg = load_config(_schema_for(path), path, [])
    assert set(cfg) == set(_schema_for(path))
