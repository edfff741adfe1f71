"""The compiler in a process of its own (ube.executable.compile_isolated):

    python _isolated_compile.py GRAPH TARGET OUTPUT

writes the executable compiled from graph file GRAPH for TARGET to OUTPUT. Run as a
script, it loads the compiler extension without the ube package (whose
import brings torch): only this folder's errors module comes with it. Exit
status 3, the diagnostics on stderr: the compiler rejected the input.
"""
import os
import sys
import types


def main(argv):
    package = types.ModuleType("ube")
    package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules["ube"] = package
    from ube import _ube_compiler
    from ube.errors import CompileError
    graph, target, output = argv
    try:
        image = _ube_compiler.compile_file(graph, target, "", "exe", True)
    except CompileError as error:
        sys.stderr.write(str(error))
        return 3
    with open(output, "wb") as f:
        f.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
