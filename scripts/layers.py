#!/usr/bin/python3
"""Check the source's layers and that no includes go round in a circle.

    python3 scripts/layers.py          from the repository's root (or anywhere)
    python3 scripts/layers.py --graph  also print every module's includes

A module is a source file's name without its extension (src/worker/http.c
and src/worker/http.h are the module worker/http); a file PREFIX_part.c
without a header of its own is part of PREFIX's module
(src/backend/changeset_parse.c belongs to backend/changeset).  Module A depends on B
when a file of A includes B's header with #include "...".  It checks:

  * no cycle: no two modules depend on each other, directly or through
    others;
  * layers: src/core includes only src/core (and the C library and
    OpenSSL, with <...>); src/backend includes core and backend; src/worker
    includes core and worker, and of backend only the shared memory it
    reads (backend/shmem.h, backend/hintring.h); src/mana_sync.c, the entry
    point, may include anything;
  * no header includes postgres.h (the .c files include it first);
  * a header declares only functions of its own module (a function of
    another module declared there would hide a dependency from the check
    above);
  * the route patterns that the unit tests and the fuzzer check
    (test/unit/path_routes.h) are the worker's (src/worker/http.c).

Prints what it found and "layers: ok" or the problems; exits 1 on a problem.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
DECL = re.compile(r'^extern\s[^;(]*?\(?\**\s*(\w+)\s*\(', re.M)   # extern ... name(
DEFN = re.compile(r'^(\w+)\(', re.M)                              # name( at column 0
WORKER_MAY_USE = {"backend/shmem", "backend/hintring"}


def files():
    for d, _, names in os.walk(SRC):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                yield os.path.join(d, n)


def module_of(path):
    """src/worker/http.c -> worker/http; a file without a header of its own,
    named PREFIX_part, belongs to PREFIX's module when PREFIX.h exists
    (backend/changeset_parse.c is part of backend/changeset)"""
    stem = os.path.splitext(os.path.relpath(path, SRC))[0]
    if not os.path.isfile(os.path.join(SRC, stem + ".h")) and "_" in os.path.basename(stem):
        prefix = stem.rsplit("_", 1)[0]
        if os.path.isfile(os.path.join(SRC, prefix + ".h")):
            return prefix
    return stem


def resolve(including, name):
    """the src/ file an #include "name" of file `including` means, or None (a PostgreSQL header)"""
    for base in (os.path.dirname(including), SRC):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p) and p.startswith(SRC + os.sep):
            return p
    return None


def main():
    graph = {}
    problems = []
    for f in files():
        mod = module_of(f)
        layer = mod.split("/")[0] if "/" in mod else "entry"
        graph.setdefault(mod, set())
        text = open(f, encoding="utf-8", errors="replace").read()
        for name in INCLUDE.findall(text):
            target = resolve(f, name)
            rel = os.path.relpath(f, ROOT)
            if target is None:
                if f.endswith(".h") and name == "postgres.h":
                    problems.append("%s: a header includes postgres.h" % rel)
                if layer == "core":
                    problems.append('%s: core includes "%s", which is not in src/core' % (rel, name))
                continue
            dep = module_of(target)
            dep_layer = dep.split("/")[0] if "/" in dep else "entry"
            if dep != mod:
                graph[mod].add(dep)
            if layer == "core" and dep_layer != "core":
                problems.append("%s: core includes %s" % (rel, dep))
            elif layer == "backend" and dep_layer not in ("core", "backend"):
                problems.append("%s: backend includes %s" % (rel, dep))
            elif layer == "worker" and dep_layer == "backend" and dep not in WORKER_MAY_USE:
                problems.append("%s: the worker includes %s (it may use only %s of the backend)"
                                % (rel, dep, ", ".join(sorted(WORKER_MAY_USE))))
            elif layer == "worker" and dep_layer == "entry":
                problems.append("%s: the worker includes the entry point" % rel)

    # functions: declared in one module's header, defined in another's .c
    defined = {}
    for f in files():
        if f.endswith(".c"):
            text = open(f, encoding="utf-8", errors="replace").read()
            for name in DEFN.findall(text):
                defined.setdefault(name, module_of(f))
    for f in files():
        if f.endswith(".h"):
            text = open(f, encoding="utf-8", errors="replace").read()
            for name in DECL.findall(text):
                where = defined.get(name)
                if where is not None and where != module_of(f):
                    problems.append("%s declares %s(), which %s.c defines"
                                    % (os.path.relpath(f, ROOT), name, where))

    # cycles: strongly connected components with more than one module
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        problems.append("include cycle: " + " <-> ".join(comp))

    # the tests' copy of the route patterns
    pat = re.compile(r'^\s*\{"(/[^"]*)",', re.M)
    http_c = open(os.path.join(SRC, "worker", "http.c")).read()
    tests_h = open(os.path.join(ROOT, "test", "unit", "path_routes.h")).read()
    worker_routes = pat.findall(http_c[http_c.index("routes[] = {"):])
    test_routes = pat.findall(tests_h[tests_h.index("test_routes[] = {"):])
    if worker_routes != test_routes:
        problems.append("the route patterns of src/worker/http.c %s differ from test/unit/path_routes.h %s"
                        % (worker_routes, test_routes))

    by_layer = {}
    for m in graph:
        by_layer.setdefault(m.split("/")[0] if "/" in m else "entry", []).append(m)
    edges = sum(len(d) for d in graph.values())
    print("modules: %s; %d dependencies between modules" % (
        ", ".join("%s %d" % (k, len(v)) for k, v in sorted(by_layer.items())), edges))
    if "--graph" in sys.argv:
        for m in sorted(graph):
            print("  %-22s -> %s" % (m, " ".join(sorted(graph[m])) or "-"))
    print("include cycles: %d" % len(sccs))
    if problems:
        for p in problems:
            print("PROBLEM " + p)
        print("layers: %d problem(s)" % len(problems))
        return 1
    print("layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
