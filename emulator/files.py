"""Stored files: file ids and unique ids, download paths and the JSON shapes that describe them."""

from __future__ import annotations

import base64
import mimetypes
import os
import struct

from emulator.images import photo_sizes

# Telegram file ids start with a few bytes naming the file type; these prefixes look the same.
_PREFIX = {"photo": "AgAC", "document": "BQAC", "voice": "AwAC", "sticker": "CAAC", "video": "BAAC",
           "audio": "CQAC"}
_FOLDER = {"photo": "photos", "document": "documents", "voice": "voice", "sticker": "stickers",
           "video": "videos", "audio": "music"}
_EXTENSION = {"photo": ".jpg", "voice": ".oga", "sticker": ".webp", "video": ".mp4", "audio": ".mp3"}


class StoredFile:
    __slots__ = ("file_id", "file_unique_id", "kind", "data", "file_path", "mime_type", "file_name",
                 "width", "height", "duration", "sizes")

    def __init__(self, file_id: str, file_unique_id: str, kind: str, data: bytes, file_path: str,
                 mime_type: str | None = None, file_name: str | None = None, width: int | None = None,
                 height: int | None = None, duration: int | None = None):
        self.file_id = file_id
        self.file_unique_id = file_unique_id
        self.kind = kind
        self.data = data
        self.file_path = file_path
        self.mime_type = mime_type
        self.file_name = file_name
        self.width = width
        self.height = height
        self.duration = duration
        self.sizes: list[StoredFile] | None = None  # for a photo: all its sizes, smallest first

    @property
    def size(self) -> int:
        return len(self.data)

    def photo_size(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "width": self.width, "height": self.height, "file_size": self.size}

    def document(self) -> dict:
        result = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}
        if self.file_name:
            result["file_name"] = self.file_name
        if self.mime_type:
            result["mime_type"] = self.mime_type
        return result

    def file(self) -> dict:
        """The File object of getFile."""
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": self.size, "file_path": self.file_path}


class FileStore:
    def __init__(self, salt: bytes | None = None):
        self._salt = salt if salt is not None else os.urandom(4)
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = 0

    def add(self, kind: str, data: bytes, *, mime_type: str | None = None, file_name: str | None = None,
            width: int | None = None, height: int | None = None, duration: int | None = None) -> StoredFile:
        self._counter += 1
        number = self._counter
        body = base64.urlsafe_b64encode(struct.pack(">I", number) + self._salt + os.urandom(40)).decode()
        file_id = _PREFIX.get(kind, "BQAC") + "AgIAAxkBAA" + body.rstrip("=")
        unique = base64.urlsafe_b64encode(b"\x01\x00\x03" + struct.pack(">I", number) + self._salt)
        file_unique_id = "AQAD" + unique.decode().rstrip("=")
        extension = _EXTENSION.get(kind)
        if extension is None:
            extension = os.path.splitext(file_name or "")[1] or mimetypes.guess_extension(mime_type or "") or ""
        file_path = f"{_FOLDER.get(kind, 'documents')}/file_{number}{extension}"
        stored = StoredFile(file_id, file_unique_id, kind, data, file_path, mime_type, file_name, width, height,
                            duration)
        self._by_id[file_id] = stored
        self._by_path[file_path] = stored
        return stored

    def add_photo(self, image) -> list[StoredFile]:
        """Store a PIL image as Telegram stores a photo: several downscaled JPEG sizes."""
        return self.add_photo_sizes(photo_sizes(image))

    def add_photo_sizes(self, sizes: list[tuple[bytes, int, int]]) -> list[StoredFile]:
        """Store the JPEG sizes of one photo (smallest first) as one photo."""
        stored = [self.add("photo", data, mime_type="image/jpeg", width=width, height=height)
                  for data, width, height in sizes]
        for size in stored:
            size.sizes = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def __len__(self) -> int:
        return len(self._by_id)
