"""Request parameters read the way the Bot API reads them.

Values come from the query string, a urlencoded or multipart form (strings; complex values
JSON-encoded) or a JSON body (native values). Telegram is lenient: a number that does not parse
counts as 0 and any of true/yes/1 is true.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.errors import bad_request, parameter_required


class Upload:
    """A file part of a multipart request."""

    __slots__ = ("data", "filename", "content_type")

    def __init__(self, data: bytes, filename: str | None, content_type: str | None):
        self.data = data
        self.filename = filename
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<upload {self.filename!r} {len(self.data)} bytes>"


class Params:
    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def __contains__(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != ""

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def str(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        if value is None or isinstance(value, Upload):
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return json.dumps(value, ensure_ascii=False)

    def required_str(self, name: str) -> str:
        value = self.str(name)
        if not value:
            raise parameter_required(name)
        return value

    def int(self, name: str, default: int = 0) -> int:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            return 0

    def float(self, name: str) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            return 0.0

    def bool(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        if isinstance(value, (int, float)):
            return value == 1
        return str(value).strip().lower() in ("true", "yes", "1")

    def json(self, name: str, what: str) -> Any:
        """The decoded value of a JSON-encoded parameter; None when absent.

        `what` names the object in Telegram's error text: "Can't parse <what> JSON object".
        """
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None

    def upload(self, name: str) -> Upload | None:
        value = self.values.get(name)
        return value if isinstance(value, Upload) else None

    def chat_id(self) -> int | str:
        """The chat_id parameter: an integer id, or an @username string."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        try:
            return int(text)
        except ValueError:
            return 0

    def loggable(self) -> dict[str, Any]:
        return {k: (repr(v) if isinstance(v, Upload) else v) for k, v in self.values.items()}
