"""The exceptions ube raises (both extensions raise these classes)."""
import builtins


class CompileError(builtins.RuntimeError):
    """The compiler rejected the input; the message holds its diagnostics
    ("file:line:col: error: ...")."""


class RuntimeError(builtins.RuntimeError):  # noqa: A001 - ube.RuntimeError by design
    """The runtime could not load or run an executable."""


CompileError.__module__ = RuntimeError.__module__ = "ube"
