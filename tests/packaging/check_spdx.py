#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails naming every source file without an SPDX-License-Identifier line
near its top (README.md, License), or with the wrong licence for its place:
the BPF side (bpf/**.c|h, *.bpf.c|h) is "GPL-2.0-only OR BSD-2-Clause", the
rest "Apache-2.0".

Usage: check_spdx.py [--fix] [SOURCE_ROOT]   (default: the repository)

The files are `git ls-files` of SOURCE_ROOT when it is the top of a git work
tree, else every file under it (the checker's own fixture). Files whose
format allows no comment (JSON, images, Markdown, the Debian changelog,
copyright and conffiles, licence texts, test data) are exempt: EXEMPT below.
Prints one line per file with the command that fixes it and exits 1, or
exits 0 silently. --fix inserts the missing lines itself (a wrong licence is
left for a human) and says what it did.
"""
import fnmatch
import pathlib
import re
import subprocess
import sys

APACHE = "Apache-2.0"
BPF = "GPL-2.0-only OR BSD-2-Clause"
# The BPF programs and what they include: loaded into the kernel, so they
# must stay GPL-compatible (Apache-2.0 is not GPL-2.0 compatible).
BPF_FILES = ["bpf/*.c", "bpf/*.h", "*.bpf.c", "*.bpf.h"]

# No SPDX line expected: formats without comments, texts that are licences
# themselves, generated or captured test data.
EXEMPT = [
    "LICENSE", "LICENSES/*",
    "*.md", "*.json", "*.png", "*.svg", "*.jpg",
    "packaging/debian/copyright",  # DEP-5: it states every file's licence
    "packaging/debian/changelog",  # dch format, no comments
    "packaging/debian/conffiles",  # dpkg reads every line as a path
    "tests/fixtures/hosts/*",      # sysfs trees captured as files
    "tests/fuzz/corpus/*",         # fuzzer seeds and reproducers: inputs, byte for byte
    "*/.keep",
    "tests/packaging/spdx_fixture/*",  # this checker's own test data
]

# Comment syntax by file name (fnmatch on the base name), first match wins.
COMMENT = [
    (["*.c", "*.h", "*.cc", "*.cpp", "*.hpp", "*.h.in", "*.bt"], "// "),
    (["*.8"], '.\\" '),
    (["*.py", "*.sh", "*.bash", "*.cmake", "CMakeLists.txt", "*.toml", "*.yml", "*.yaml",
      "*.service", "*.rules", "*.supp", ".clang-format", ".gitignore", "lintian-overrides",
      "*.cfg", "*.ini", "*.conf"], "# "),
]
# How far down the line may be (after a shebang, an encoding line, ...).
HEAD_LINES = 5
KERNEL_LICENSE = re.compile(r'SEC\("license"\)\s*=\s*"([^"]*)"')
SPDX = re.compile(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/)?\s*$")


def matches(rel: str, patterns) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def expected_license(rel: str) -> str:
    return BPF if matches(rel, BPF_FILES) else APACHE


def comment_prefix(rel: str, first_line: str):
    name = rel.rsplit("/", 1)[-1]
    for patterns, prefix in COMMENT:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return prefix
    if first_line.startswith("#!"):  # postinst, .ci/run, ...
        return "# "
    return None


def list_files(root: pathlib.Path):
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        top = None
    if top and pathlib.Path(top).resolve() == root.resolve():
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"],
                             capture_output=True, text=True, check=True).stdout
        return sorted(f for f in out.split("\0") if f and (root / f).is_file())
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def insert_at(lines):
    """Index where the SPDX line goes: after a shebang, else first."""
    return 1 if lines and lines[0].startswith("#!") else 0


def main(argv):
    fix = "--fix" in argv
    args = [a for a in argv if a != "--fix"]
    root = pathlib.Path(args[0]) if args else pathlib.Path(__file__).resolve().parents[2]
    problems = []
    fixed = []
    for rel in list_files(root):
        if matches(rel, EXEMPT):
            continue
        path = root / rel
        try:
            text = path.read_bytes().decode("utf-8")  # newlines as they are
        except UnicodeDecodeError:
            problems.append(f"{rel}: not UTF-8 text and not exempt: add its pattern to EXEMPT in "
                            f"tests/packaging/check_spdx.py if its format allows no comment")
            continue
        lines = text.splitlines(keepends=True)
        want = expected_license(rel)
        found = None
        for line in lines[:HEAD_LINES]:
            m = SPDX.search(line)
            if m:
                found = m.group(1)
                break
        if rel.endswith(".bpf.c"):
            m = KERNEL_LICENSE.search(text)
            if m and m.group(1) != "Dual BSD/GPL":
                problems.append(f"{rel}: the license section says \"{m.group(1)}\": make it "
                                f"\"Dual BSD/GPL\", the kernel's name for {BPF}")
        if found == want:
            continue
        if found is not None:
            problems.append(f"{rel}: SPDX-License-Identifier is \"{found}\", files here are "
                            f"\"{want}\" (README.md, License): change that line")
            continue
        prefix = comment_prefix(rel, lines[0] if lines else "")
        if prefix is None:
            problems.append(f"{rel}: no SPDX-License-Identifier line: add "
                            f"\"SPDX-License-Identifier: {want}\" in a comment within its first "
                            f"{HEAD_LINES} lines, or, if its format allows no comment, add it to "
                            f"EXEMPT in tests/packaging/check_spdx.py")
            continue
        header = f"{prefix}SPDX-License-Identifier: {want}"
        at = insert_at(lines)
        if fix:
            lines.insert(at, header + "\n")
            path.write_bytes("".join(lines).encode("utf-8"))
            fixed.append(rel)
            continue
        where = "after the shebang" if at else "as the first line"
        sed_text = header.replace("\\", "\\\\")  # sed's a/i text unescapes backslashes
        sed = f"sed -i '1{'a' if at else 'i'} {sed_text}' {rel}"
        problems.append(f"{rel}: no SPDX-License-Identifier line: add \"{header}\" {where}: "
                        f"{sed}")
    for rel in fixed:
        print(f"{rel}: SPDX-License-Identifier line added")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} file(s) without a correct SPDX-License-Identifier line; "
              f"`python3 tests/packaging/check_spdx.py --fix` adds the missing ones")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
