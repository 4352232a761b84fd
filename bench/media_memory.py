"""Peak memory of cleaning one report photo (complaints.media.clean), per kind of image.

The images are made first, each by a process of its own, and written to a temporary folder. Each case then runs in a
fresh child process (so one case's allocations do not hide another's) that reads the file, records its
peak resident set size (ru_maxrss), cleans the image and records the peak again: the difference
is what cleaning cost at most. `--module FILE` cleans
with another copy of complaints/media.py, e.g. the one before the pixel cap was lowered:

    git show main:complaints/media.py > /tmp/media_main.py
    .venv/bin/python bench/media_memory.py --module /tmp/media_main.py
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "bilevel PNG 6000x6600 (39.6 MP)": ("PNG", "1", (6000, 6600)),
    "RGB PNG 4000x4000 (16 MP)": ("PNG", "RGB", (4000, 4000)),
    "JPEG 8000x6000 (48 MP)": ("JPEG", "RGB", (8000, 6000)),
    "JPEG 4000x3000 (12 MP)": ("JPEG", "RGB", (4000, 3000)),
}


def _image(kind: str, mode: str, size: tuple[int, int]) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new(mode, size)
    if mode != "1":  # the bilevel one stays blank: a few KB that declare 40 million pixels
        draw = ImageDraw.Draw(image)
        for x in range(0, size[0], 97):  # some content, so that JPEG has something to encode
            draw.line([(x, 0), (size[0] - x, size[1])], fill=(x % 256, 80, 160), width=9)
    out = io.BytesIO()
    image.save(out, kind, **({"optimize": True} if kind == "PNG" else {"quality": 90}))
    return out.getvalue()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(case: str, path: str, module_path: str | None) -> dict:
    sys.path.insert(0, str(ROOT))
    if module_path:
        spec = importlib.util.spec_from_file_location("media_under_test", module_path)
        media = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = media
        spec.loader.exec_module(media)
    else:
        from complaints import media
    data = Path(path).read_bytes()
    import gc

    gc.collect()
    before = _peak_mb()
    try:
        media.clean(data, 10 * 1024 * 1024)
        outcome = "cleaned"
    except Exception as error:  # the refusals are the point
        outcome = f"refused ({type(error).__name__})"
    return {"case": case, "file_kb": round(len(data) / 1024, 1), "outcome": outcome,
            "peak_rise_mb": round(max(_peak_mb() - before, 0), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", help="a copy of complaints/media.py to measure instead")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        Path(args.make[1]).write_bytes(_image(*CASES[args.make[0]]))
        return
    if args.child:
        print(json.dumps(child(*args.child, args.module)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, case in enumerate(CASES):
            path = Path(folder) / f"{index}.img"
            # Made in a process of its own: a child's peak RSS starts from its parent's on Linux.
            subprocess.run([sys.executable, __file__, "--make", case, str(path)], check=True)
            command = [sys.executable, __file__, "--child", case, str(path)]
            command += ["--module", args.module] if args.module else []
            rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'image':34} {'file KB':>8}  {'outcome':28} {'peak rise MB':>12}")
    for row in rows:
        print(f"{row['case']:34} {row['file_kb']:>8}  {row['outcome']:28} {row['peak_rise_mb']:>12}")


if __name__ == "__main__":
    main()
