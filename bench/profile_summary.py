"""Summarise a py-spy raw (collapsed-stack) profile: where the sampled time went.

    python bench/profile_summary.py PROFILE.txt [--top 30] [--match automagik]

Inclusive share per function (a function counted once per sample however deep it recurs),
and self share (the innermost frame). With --gil profiles (bench/common.PySpy), a sample is
"this thread held the GIL", so the shares say what the process spent its one core on.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match.group('function')} ({match.group('file')})"


def summarise(path: Path) -> tuple[int, Counter, Counter]:
    total, inclusive, own = 0, Counter(), Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_name(f) for f in stack.split(";") if f.strip()]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = frames[1:]
        total += n
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    return total, inclusive, own


def report(path: Path, top: int = 30, match: str | None = None) -> str:
    total, inclusive, own = summarise(path)
    if not total:
        return f"{path}: no samples"
    lines = [f"{path.name}: {total} samples (GIL held)", "", "inclusive  function"]
    for name, n in inclusive.most_common():
        if match and match not in name:
            continue
        lines.append(f"{100 * n / total:8.1f}%  {name}")
        if len(lines) >= top + 3:
            break
    lines += ["", "self       function"]
    for name, n in own.most_common(top):
        lines.append(f"{100 * n / total:8.1f}%  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--match", help="only functions whose name or file contains this (inclusive list)")
    args = p.parse_args(argv)
    print(report(args.profile, args.top, args.match))
    return 0


if __name__ == "__main__":
    sys.exit(main())
