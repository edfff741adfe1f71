#!/usr/bin/env python3
"""Fails when ube's libraries depend on each other in a cycle.

    check_library_cycles.py LIBDIR [NM]

Reads every lib*.a in LIBDIR with NM (default `nm`; the build passes LLVM's
llvm-nm): library A depends on library B when
an object of A leaves a symbol undefined that an object of B defines. The
dependency graph must be acyclic (a library that calls into one that links
it is a hidden cycle: it links only because the final link happens to pull
in both). Prints each library's dependencies, and each cycle it finds."""
import pathlib
import subprocess
import sys


NM = sys.argv[2] if len(sys.argv) > 2 else "nm"


def symbols(archive, flag, types=None):
    """Symbol names `nm` lists with `flag`, of the given type letters."""
    out = subprocess.run([NM, flag, "--no-sort", "-P", str(archive)], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # "archive[object]:" headers end with ':'; symbols: name type [value size]
        if len(parts) >= 2 and not line.endswith(":") and (types is None or parts[1] in types):
            names.add(parts[0])
    return names


def main():
    libdir = pathlib.Path(sys.argv[1])
    archives = sorted(libdir.glob("lib*.a"))
    if not archives:
        sys.exit(f"no lib*.a in {libdir}")
    # Strong definitions (text, data, bss, read-only) own a symbol; weak ones
    # (inline functions, template instances every user compiles) do not.
    strong = {a.name: symbols(a, "--defined-only", set("TDBR")) for a in archives}
    every = {a.name: symbols(a, "--defined-only") for a in archives}
    undefined = {a.name: symbols(a, "--undefined-only") for a in archives}
    owner = {}
    for lib, names in strong.items():
        for name in names:
            owner.setdefault(name, lib)
    deps = {lib: sorted({owner[s] for s in undefined[lib] - every[lib] if s in owner} - {lib})
            for lib in strong}
    for lib, uses in deps.items():
        print(f"{lib}: {', '.join(uses) or '-'}")
    # Depth-first search for back edges.
    state, cycles = {}, []

    def visit(lib, path):
        state[lib] = "open"
        for dep in deps[lib]:
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[lib] = "done"

    for lib in deps:
        if lib not in state:
            visit(lib, [lib])
    for cycle in cycles:
        print("cycle: " + " -> ".join(cycle))
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
