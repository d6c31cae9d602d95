#!/usr/bin/python3
"""Guards the layer map of docs/ARCHITECTURE.md (run by CTest as `layers`).

Each folder under src/ is one layer and one library, hearth_<layer>. The order of the layers is
HEARTH_LAYERS in the top CMakeLists.txt (bottom to top), and what each layer links is the
hearth_* libraries in its src/<layer>/CMakeLists.txt. This script fails when

  - a folder under src/ is not in HEARTH_LAYERS, or a listed layer has no folder;
  - a layer links a library that is not below it;
  - a file includes "<folder>/..." where <folder> is not its own layer or one it links
    (directly or through the layers it links), i.e. a layer above it or beside it;
  - an include without a folder does not name a file of the same folder;
  - the files of one layer include each other in a cycle (a file and its header, x.h and
    x.cpp, count as one unit x), unless the cycle is one of KNOWN_CYCLES below;
  - the map in docs/ARCHITECTURE.md does not list exactly these layers top to bottom, or names
    after its "->" a layer the CMake files do not let that layer use.

Usage: check-layers.py [ROOT]      (ROOT defaults to the repository holding this script)
       check-layers.py --self-test (shows that each kind of violation is caught)
"""
import os
import re
import shutil
import sys
import tempfile

SOURCE_SUFFIXES = (".h", ".cpp", ".inc", ".in")
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)')

# Cycles of units that are an interface, its implementations and a factory kept in the
# interface's own .cpp. Each would go away by moving the factory into a file of its own; until
# then they are listed here, and the check fails when one disappears (so the list stays true)
# or a new one appears.
KNOWN_CYCLES = {
    ("tokenizer/bpe", "tokenizer/spm", "tokenizer/tokenizer", "tokenizer/wpm"):
        "spm, bpe and wpm implement tokenizer.h's interface; tokenizer.cpp's factory creates them",
    ("kernels/repack", "kernels/type_traits"):
        "each type's table row points at its repack function and packed kernels (repack.h); "
        "repack.cpp's whole-matrix repack reads the row. To go: move the matrix-level functions "
        "(can_repack, repacked_bytes, repack) into their own unit",
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def layer_order(root):
    text = re.sub(r"#[^\n]*", "", read(os.path.join(root, "CMakeLists.txt")))
    m = re.search(r"set\(\s*HEARTH_LAYERS\s+([^)]*)\)", text)
    if not m:
        raise SystemExit("check-layers: no set(HEARTH_LAYERS ...) in CMakeLists.txt")
    return m.group(1).split()


def linked_layers(root, layer):
    path = os.path.join(root, "src", layer, "CMakeLists.txt")
    text = re.sub(r"#[^\n]*", "", read(path))
    linked = set()
    for m in re.finditer(r"target_link_libraries\(([^)]*)\)", text):
        linked.update(re.findall(r"\bhearth_(\w+)", m.group(1)))
    linked.discard(layer)
    return linked


def source_files(root, layer):
    folder = os.path.join(root, "src", layer)
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(dirpath, name), os.path.join(root, "src"))


def includes(root, rel):
    for number, line in enumerate(read(os.path.join(root, "src", rel)).splitlines(), 1):
        m = INCLUDE.match(line)
        if m:
            yield number, m.group(1), m.group(2)


def unit(rel):
    """x.h, x.cpp and x.cpp.in of one folder are one unit."""
    base = os.path.basename(rel)
    return os.path.join(os.path.dirname(rel), base.split(".", 1)[0])


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def architecture_map(root):
    """(layer, [named layers after ->]) for each line of the map, top to bottom."""
    text = read(os.path.join(root, "docs", "ARCHITECTURE.md"))
    m = re.search(r"```\n(.*?)```", text, re.S)
    if not m:
        return None
    rows = []
    for line in m.group(1).splitlines():
        row = re.match(r"^(\w+)/\s", line)
        if row:
            rows.append([row.group(1), []])
        arrow = re.search(r"->\s*(.*)$", line)
        if arrow and rows:
            rows[-1][1] = re.findall(r"\w+", arrow.group(1))
    return rows


def check(root, known_cycles=None):
    known_cycles = KNOWN_CYCLES if known_cycles is None else known_cycles
    seen_cycles = set()
    problems = []
    order = layer_order(root)
    src = os.path.join(root, "src")
    folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for folder in folders:
        if folder not in order:
            problems.append(f"src/{folder}/ is not a layer: add it to HEARTH_LAYERS in CMakeLists.txt")
    for layer in order:
        if layer not in folders:
            problems.append(f"HEARTH_LAYERS lists {layer}, but there is no src/{layer}/")
    layers = [layer for layer in order if layer in folders]

    # What each layer may use: itself and everything it links, directly or not.
    allowed = {}
    for position, layer in enumerate(layers):
        direct = linked_layers(root, layer)
        below = set(layers[:position])
        for lib in sorted(direct):
            if lib not in below:
                where = "above it" if lib in layers else "not a layer"
                problems.append(f"src/{layer}/CMakeLists.txt links hearth_{lib}, which is {where}")
        reach = {layer}
        for lib in direct & below:
            reach |= allowed[lib]
        allowed[layer] = reach

    for layer in layers:
        graph = {}
        for rel in source_files(root, layer):
            graph.setdefault(unit(rel), set())
            for number, quoted, angled in includes(root, rel):
                name = quoted if quoted is not None else angled
                first = name.split("/", 1)[0]
                if quoted is None and (first not in layers or "/" not in name):
                    continue  # a system or third-party header
                if "/" not in name:
                    if not os.path.exists(os.path.join(src, os.path.dirname(rel), name)):
                        problems.append(f"src/{rel}:{number}: #include \"{name}\" names no file "
                                        f"of src/{os.path.dirname(rel)}/ (write the layer folder)")
                    else:
                        graph[unit(rel)].add(unit(os.path.join(os.path.dirname(rel), name)))
                    continue
                if first not in layers:
                    problems.append(f"src/{rel}:{number}: #include \"{name}\": {first}/ is not a layer")
                elif first not in allowed[layer]:
                    if layers.index(first) > layers.index(layer):
                        why = f"{first} is above {layer}"
                    else:
                        why = f"{layer} does not link hearth_{first}"
                    problems.append(f"src/{rel}:{number}: #include \"{name}\": {why}")
                elif first == layer and unit(name) != unit(rel):
                    graph[unit(rel)].add(unit(name))
        for cycle in find_cycles(graph):
            seen_cycles.add(tuple(cycle))
            if tuple(cycle) not in known_cycles:
                problems.append("include cycle in src/" + layer + "/: " + ", ".join(cycle) +
                                " include each other")
    for cycle in known_cycles:
        if cycle not in seen_cycles:
            problems.append("KNOWN_CYCLES lists " + ", ".join(cycle) +
                            ", which are no longer a cycle: remove the entry")

    rows = architecture_map(root)
    if rows is None:
        problems.append("docs/ARCHITECTURE.md has no layer map (a ``` block)")
    else:
        listed = [name for name, _ in rows]
        if listed != list(reversed(layers)):
            problems.append("docs/ARCHITECTURE.md's map lists " + " ".join(listed) +
                            "; HEARTH_LAYERS from the top is " + " ".join(reversed(layers)))
        for name, uses in rows:
            for used in uses:
                if used in layers and name in allowed and used not in allowed[name]:
                    problems.append(f"docs/ARCHITECTURE.md's map says {name} -> {used}, "
                                    f"but src/{name}/CMakeLists.txt does not link it")
    return problems


def self_test():
    """Builds small trees with one violation each and checks that each is reported."""
    base_files = {
        "CMakeLists.txt": "set(HEARTH_LAYERS low high)  # bottom to top\n",
        "src/low/CMakeLists.txt": "add_library(hearth_low a.cpp)\n",
        "src/high/CMakeLists.txt": "target_link_libraries(hearth_high PUBLIC hearth_low)\n",
        "src/low/a.h": "#pragma once\n#include <vector>\n",
        "src/low/a.cpp": '#include "low/a.h"\n',
        "src/low/b.h": '#pragma once\n#include "low/a.h"\n',
        "src/high/c.cpp": '#include "high/c.h"\n#include "low/b.h"\n',
        "src/high/c.h": "#pragma once\n",
        "docs/ARCHITECTURE.md": "# map\n\n```\nhigh/   the top   -> low\nlow/    the bottom\n```\n",
    }
    cases = {
        "clean tree": ({}, None),
        "upward include": ({"src/low/b.h": '#include "high/c.h"\n'}, "high is above low"),
        "upward angle include": ({"src/low/b.h": "#include <high/c.h>\n"}, "high is above low"),
        "unknown folder": ({"src/high/c.cpp": '#include "nowhere/x.h"\n'}, "nowhere/ is not a layer"),
        "missing folder": ({"src/high/c.cpp": '#include "x.h"\n'}, "names no file"),
        "unlisted folder": ({"src/extra/d.h": "#pragma once\n"}, "src/extra/ is not a layer"),
        "upward link": ({"src/low/CMakeLists.txt": "target_link_libraries(hearth_low hearth_high)\n"},
                        "links hearth_high, which is above it"),
        "include cycle": ({"src/low/a.cpp": '#include "low/a.h"\n#include "low/b.h"\n'},
                          "include cycle in src/low/: low/a, low/b"),
        "map order": ({"docs/ARCHITECTURE.md": "```\nlow/  x\nhigh/ y -> low\n```\n"},
                      "map lists low high"),
        "map dependency": ({"docs/ARCHITECTURE.md": "```\nhigh/ y -> low\nlow/  x -> high\n```\n"},
                           "says low -> high"),
    }
    failed = 0
    for name, (changes, expected) in cases.items():
        tmp = tempfile.mkdtemp(prefix="check-layers-")
        try:
            for rel, content in {**base_files, **changes}.items():
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
                with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                    f.write(content)
            problems = check(tmp, known_cycles={})
        finally:
            shutil.rmtree(tmp)
        ok = not problems if expected is None else any(expected in p for p in problems)
        print(("ok    " if ok else "FAIL  ") + name + ": " + ("; ".join(problems) or "no problems"))
        failed += not ok
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} problem(s); the layer map is in docs/ARCHITECTURE.md")
        return 1
    print("check-layers: every include follows the layer map")
    return 0


if __name__ == "__main__":
    sys.exit(main())
