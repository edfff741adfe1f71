"""BERT-of-Theseus module replacement (Xu et al., 2020) for ube.distill.

The hybrid model is the teacher with each mapped group of its modules
(e.g. layers 0 and 1) wrapped together with one student module (e.g. the
student's layer 0): both run on the group's input, and
`replace_module_output` keeps the student's output with probability
p(step) = min(1, slope·step + offset), drawn per module per step (Philox,
keyed by seed, step and the group's index). Gradients reach a student module
through the steps that chose it; the teacher's modules stay frozen. As p
reaches 1 the hybrid is the student's modules inside the teacher's
embeddings and classifier, which is why the student's other parts usually
start as copies of the teacher's.

A module in a group is called as `module(x, *rest, **kwargs)` and must map
the hidden state `x` to the next one (residual connections inside, as in
BERT's layers, transformers' BertLayer among them); the other arguments (a
mask, ...) pass through.
"""
import copy

import torch.nn as nn

from ube import torch_export


class _Replaceable(nn.Module):
    """A group of teacher modules and the student module that replaces it."""

    def __init__(self, student, teacher, module_id, slope, offset, seed):
        super().__init__()
        self.student = student
        self.teacher = nn.ModuleList(teacher)
        self.module_id, self.slope, self.offset, self.seed = module_id, slope, offset, seed

    def forward(self, x, *rest, **kwargs):
        t = x
        for module in self.teacher:
            t = module(t, *rest, **kwargs)
        # A custom op that torch.export keeps whole: ube.bernoulli_select.
        return torch_export.replace_module_output(self.student(x, *rest, **kwargs), t,
                                                  self.module_id, self.slope, self.offset,
                                                  self.seed)


class _Skip(nn.Module):
    """Where the second and later modules of a group were: the group's
    output passes through."""

    def forward(self, x, *rest, **kwargs):
        return x


def _submodule(root, path, what):
    module = root
    for part in path.split(".") if path else []:
        if not hasattr(module, part) or not isinstance(getattr(module, part), nn.Module):
            raise ValueError(f"module replacement: the {what} has no module '{path}'")
        module = getattr(module, part)
    return module


def _set_submodule(root, path, module):
    parent, _, name = path.rpartition(".")
    setattr(_submodule(root, parent, "teacher"), name, module)


def hybrid(teacher, student, replace, slope, offset, seed=0):
    """The hybrid of `teacher` and `student` (torch modules, left unchanged)
    for `replace`: a list of (teacher module paths, student module path),
    e.g. [(["layers.0", "layers.1"], "layers.0")]. Returns the hybrid module
    and {hybrid parameter prefix: student parameter prefix}."""
    if not isinstance(teacher, nn.Module) or not isinstance(student, nn.Module):
        raise TypeError("module replacement needs the teacher and the student as "
                        "torch.nn.Modules (graph files have no module boundaries)")
    if slope < 0 or not 0 <= offset <= 1:
        raise ValueError(f"transfer schedule min(1, k·step + b) needs k >= 0 and 0 <= b <= 1, "
                         f"got k = {slope}, b = {offset}")
    model = copy.deepcopy(teacher)
    prefixes, seen = {}, set()
    for module_id, (teacher_paths, student_path) in enumerate(replace):
        paths = [teacher_paths] if isinstance(teacher_paths, str) else list(teacher_paths)
        if not paths:
            raise ValueError(f"module replacement {module_id}: no teacher modules")
        for path in paths:
            if path in seen:
                raise ValueError(f"module replacement: teacher module '{path}' is mapped twice")
            seen.add(path)
        group = [_submodule(model, path, "teacher") for path in paths]
        successor = copy.deepcopy(_submodule(student, student_path, "student"))
        _set_submodule(model, paths[0],
                       _Replaceable(successor, group, module_id, float(slope), float(offset),
                                    int(seed)))
        for path in paths[1:]:
            _set_submodule(model, path, _Skip())
        prefixes[f"{paths[0]}.student."] = f"{student_path}." if student_path else ""
    return model, prefixes
