#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails when an #include in agent/ or exporters/ points against the layer
direction  cli -> {exporters, report} -> ...; exporters -> detect;
report -> ledger -> detect -> {host, kernel} -> base.

Usage: check_layers.py [SOURCE_ROOT]   (default: the repository)
Prints one line per violation and exits 1, or exits 0 silently.
"""
import pathlib
import re
import sys

# What each layer may include, besides itself.
ALLOWED = {
    "base": set(),
    "kernel": {"base"},
    "host": {"base"},
    "detect": {"base", "kernel", "host"},
    "exporters": {"base", "kernel", "host", "detect"},
    "ledger": {"base", "kernel", "host", "detect"},
    "report": {"base", "ledger"},
    "cli": {"base", "kernel", "host", "detect", "exporters", "ledger", "report"},
}
# Headers a layer below cli must not see even where the direction allows:
# exporters render the detect layer's value types, never the watchdog.
FORBIDDEN = {"exporters": {"detect/watchdog.h"}}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path: pathlib.Path, root: pathlib.Path):
    rel = path.relative_to(root).parts
    if rel[0] == "exporters":
        return "exporters"
    if rel[0] == "agent" and len(rel) > 2 and rel[1] in ALLOWED:
        return rel[1]
    return None


def violations(root: pathlib.Path):
    for path in sorted(root.glob("agent/**/*")) + sorted(root.glob("exporters/**/*")):
        if path.suffix not in (".h", ".cpp", ".in"):
            continue
        layer = layer_of(path, root)
        if layer is None:
            yield f"{path.relative_to(root)}: not inside a layer folder"
            continue
        for inc in INCLUDE.findall(path.read_text()):
            target = inc.split("/")[0] if "/" in inc else None
            if target not in ALLOWED:
                continue  # system, generated skeleton or BPF ABI header
            if target != layer and target not in ALLOWED[layer]:
                yield f"{path.relative_to(root)}: {layer} must not include {inc} ({target})"
            elif inc in FORBIDDEN.get(layer, ()):
                yield f"{path.relative_to(root)}: {layer} must not include {inc}"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else __file__).resolve()
    if root.is_file():
        root = root.parents[2]
    bad = list(violations(root))
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
