"""The graph-file JSON Schema (docs/graph-format.schema.json) agrees with the
importer and exporter: every example validates, everything ube-opt writes
validates, and the schema rejects what the importer rejects structurally."""
import json
import subprocess

import jsonschema
import pytest


@pytest.fixture(scope="module")
def validator(source_root):
    schema = json.loads((source_root / "docs/graph-format.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def examples(source_root):
    return sorted((source_root / "examples").glob("*.json"))


def test_examples_validate(validator, source_root):
    files = examples(source_root)
    assert files, "no example graphs found"
    for path in files:
        validator.validate(json.loads(path.read_text()))


def test_exports_validate(validator, source_root, tools_dir, tmp_path):
    for path in examples(source_root):
        out = tmp_path / path.name
        subprocess.run([tools_dir / "ube-opt", path, "-o", out], check=True)
        validator.validate(json.loads(out.read_text()))


BASE = {"format": "ube.graph", "version": 1, "outputs": ["x"],
        "inputs": [{"name": "x", "dtype": "f32", "shape": [2]}]}


@pytest.mark.parametrize("change", [
    {"version": 3},
    {"dims": {"batch": {}}},  # symbols need version 2
    {"version": 2, "dims": {"batch": {"maximum": 8}}},
    {"version": 2, "dims": {"2batch": {}}},
    {"format": "onnx"},
    {"inputs": [{"name": "x", "dtype": "u4", "shape": [2]}]},
    {"inputs": [{"name": "x", "dtype": "f32", "shape": [-1]}]},
    {"nodez": []},
    {"functions": [{"name": "f", "outputs": ["x"]}]},  # both outputs and functions
    {"nodes": [{"name": "y", "op": "relu", "input": ["x"]}], "outputs": ["y"]},
    {"nodes": [{"name": "y", "op": "softmax", "inputs": ["x"], "attrs": {"axis": {"a": 1}}}],
     "outputs": ["y"]},
])
def test_schema_and_importer_both_reject(validator, tools_dir, tmp_path, change):
    graph = dict(BASE, **change)
    assert not validator.is_valid(graph)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    result = subprocess.run([tools_dir / "ube-opt", path], capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{path}:" in result.stderr and "error:" in result.stderr


def test_valid_minimal_graph_imports(validator, tools_dir, tmp_path):
    validator.validate(BASE)
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(BASE))
    result = subprocess.run([tools_dir / "ube-opt", path], capture_output=True, text=True,
                            check=True)
    assert "func.func @main" in result.stdout


UPDATE = {"format": "ube.graph", "version": 1,
          "inputs": [{"name": "w", "dtype": "f32", "shape": [2]},
                     {"name": "g", "dtype": "f32", "shape": [2]},
                     {"name": "lr", "dtype": "f32", "shape": []}],
          "functions": [{"name": "update", "outputs": [],
                         "train": {"gradients": ["g"], "params": ["w"],
                                   "optimizer": {"kind": "adamw", "lr": "lr"}}}]}


def test_update_steps_validate_and_need_loss_or_gradients(validator, tools_dir, tmp_path):
    """An update step (gradients given, the learning rate an input) is valid
    to both; a step with both a loss and gradients to neither."""
    validator.validate(UPDATE)
    subprocess.run([tools_dir / "ube-opt", write(tmp_path / "ok.json", UPDATE)], check=True,
                   capture_output=True)
    both = json.loads(json.dumps(UPDATE))
    both["functions"][0]["train"]["loss"] = "w"
    assert not validator.is_valid(both)
    result = subprocess.run([tools_dir / "ube-opt", write(tmp_path / "both.json", both)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "'train' must be" in result.stderr


def write(path, graph):
    path.write_text(json.dumps(graph))
    return path


def test_symbolic_graph_validates_and_round_trips(validator, tools_dir, tmp_path):
    graph = {"format": "ube.graph", "version": 2,
             "dims": {"batch": {"max": 64}, "seq": {"multiple_of": 8}},
             "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 4]}],
             "nodes": [{"name": "y", "op": "softmax", "inputs": ["x"]}],
             "outputs": ["y"]}
    validator.validate(graph)
    path, out = tmp_path / "dynamic.json", tmp_path / "exported.json"
    path.write_text(json.dumps(graph))
    subprocess.run([tools_dir / "ube-opt", path, "-o", out], check=True)
    exported = json.loads(out.read_text())
    validator.validate(exported)
    assert exported["dims"] == graph["dims"]
    assert exported["inputs"] == graph["inputs"]
