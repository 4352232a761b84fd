"""The media store: cleaned copies of report photos, named by the SHA-256 of their content.

Every image is decoded and re-encoded with Pillow before it is kept, which drops its metadata
(EXIF, GPS, camera, comments) and anything that is not an image. Files live in
`<root>/<2 hex>/<sha256>.jpg`; the same content is kept once.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import String, cast, select

from storage.models import ReportDraft, ReportMessage, ReportPhoto

ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "HEIF", "GIF", "BMP", "TIFF"}
# The most pixels an image may declare in its header, checked before anything is decoded. A JPEG
# is decoded already shrunk by a power of two (Pillow's draft mode, from the DCT), so a 48-megapixel
# camera's file costs what a 3-megapixel one does; any other format is decoded whole, at 4 bytes a
# pixel and a copy or two: 16 million pixels (a 12-16 MP camera's PNG) stay under about 200 MB.
MAX_PIXELS = 16_000_000
MAX_JPEG_PIXELS = 64_000_000
MAX_SIDE = 2560  # as Telegram keeps photos
GPS_IFD = 0x8825


class NotAnImage(ValueError):
    pass


class TooLarge(ValueError):
    pass


class TooManyPixels(TooLarge):
    """The file is small but declares more pixels than Loa decodes."""


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    width: int
    height: int
    path: Path
    size: int
    # Where the original said it was taken, if it did. Never used without asking the resident.
    gps: tuple[float, float] | None


def _gps(image: Image.Image) -> tuple[float, float] | None:
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
        def degrees(value, ref) -> float:
            d, m, s = (float(v) for v in value)
            sign = -1 if ref in ("S", "W") else 1
            return sign * (d + m / 60 + s / 3600)
        if 2 in gps and 4 in gps:
            return degrees(gps[2], gps.get(1, "N")), degrees(gps[4], gps.get(3, "E"))
    except Exception:  # a broken EXIF block is only a missing location
        return None
    return None


def clean(data: bytes, max_bytes: int) -> tuple[bytes, int, int, tuple[float, float] | None]:
    """The image re-encoded as a JPEG without metadata: (bytes, width, height, gps of the original)."""
    if len(data) > max_bytes:
        raise TooLarge(f"{len(data)} bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise NotAnImage(f"format {image.format}")
            jpeg = image.format in ("JPEG", "MPO")
            if image.width * image.height > (MAX_JPEG_PIXELS if jpeg else MAX_PIXELS):
                raise TooManyPixels(f"{image.width}x{image.height} pixels")
            gps = _gps(image)
            if jpeg:
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 of the size
            image.load()
            if image.mode in ("P", "1", "L", "LA", "PA"):
                image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
            # Shrunk first, in place: the copies below are of the smaller image.
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            upright = ImageOps.exif_transpose(image)
            upright = upright.convert("RGB")
            out = io.BytesIO()
            # A fresh image: no exif=, no icc_profile=, no comment= — nothing of the original goes along.
            Image.frombytes("RGB", upright.size, upright.tobytes()).save(out, "JPEG", quality=88, optimize=True)
            return out.getvalue(), upright.width, upright.height, gps
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, (NotAnImage, TooLarge)):
            raise
        raise NotAnImage(str(error)) from error


class MediaStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.jpg"

    def put(self, data: bytes, max_bytes: int) -> StoredImage:
        """Clean and keep an image (blocking: run it in a thread)."""
        cleaned, width, height, gps = clean(data, max_bytes)
        digest = hashlib.sha256(cleaned).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(cleaned)
            os.replace(temporary, path)
        return StoredImage(digest, width, height, path, len(cleaned), gps)

    def remove(self, sha256: str) -> bool:
        try:
            self.path_of(sha256).unlink()
            return True
        except FileNotFoundError:
            return False


async def remove_unused(session, store: MediaStore, hashes: list[str]) -> int:
    """Delete the stored photos among `hashes` that no report, no thread message and no draft holds (the same photo
    may serve several); returns how many files went. Call it after the commit that dropped them."""
    removed = 0
    for sha in sorted(set(hashes)):
        if not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            continue
        if (await session.execute(select(ReportPhoto.sha256).where(ReportPhoto.sha256 == sha).limit(1))).first():
            continue
        if (await session.execute(select(ReportMessage.id)
                                  .where(cast(ReportMessage.photos, String).like(f"%{sha}%")).limit(1))).first():
            continue
        if (await session.execute(select(ReportDraft.resident_id)
                                  .where(cast(ReportDraft.photos, String).like(f"%{sha}%")).limit(1))).first():
            continue
        removed += store.remove(sha)
    return removed
