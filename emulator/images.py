"""Real images made with Pillow: sample photos, Telegram's downscaled photo sizes, stickers."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, UnidentifiedImageError

# Telegram keeps a photo in several sizes: a 90 px thumbnail, 320, 800, 1280, and the original
# (at most 2560 px on the longest side); only sizes smaller than the original are made.
SIZE_STEPS = (90, 320, 800, 1280)
LARGEST = 2560


def sample_jpeg(width: int = 640, height: int = 480, seed: int = 0, quality: int = 85) -> bytes:
    """A small real JPEG: a gradient with a few shapes, different for each seed."""
    image = Image.new("RGB", (width, height))
    red, green = (seed * 67) % 256, (seed * 131) % 256
    pixels = [
        (red, (green + y * 255 // max(height, 1)) % 256, x * 255 // max(width, 1))
        for y in range(0, height, 8) for x in range(0, width, 8)
    ]
    small = Image.new("RGB", ((width + 7) // 8, (height + 7) // 8))
    small.putdata(pixels)
    image.paste(small.resize((width, height)))
    draw = ImageDraw.Draw(image)
    for k in range(3):
        x, y = (seed * 37 + k * 101) % max(width - 40, 1), (seed * 53 + k * 71) % max(height - 40, 1)
        draw.ellipse((x, y, x + 40, y + 40), fill=((k * 90) % 256, 200, 120))
    return encode_jpeg(image, quality)


def encode_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    """The decoded image; ValueError when the bytes are not an image Pillow can read."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(str(error)) from error
    return image


def photo_sizes(image: Image.Image) -> list[tuple[bytes, int, int]]:
    """(JPEG bytes, width, height) of each size Telegram keeps, smallest first."""
    width, height = image.size
    longest = max(width, height)
    targets = [step for step in SIZE_STEPS if step < longest] + [min(longest, LARGEST)]
    sizes = []
    rgb = image.convert("RGB")
    for target in targets:
        scale = target / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = rgb if size == rgb.size else rgb.resize(size, Image.Resampling.LANCZOS)
        sizes.append((encode_jpeg(resized), size[0], size[1]))
    return sizes


def sticker_webp(seed: int = 0) -> bytes:
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((32, 32, 480, 480), fill=((seed * 59) % 256, 190, 60, 255))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP")
    return buffer.getvalue()
