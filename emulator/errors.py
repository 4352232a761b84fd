"""Bot API errors with Telegram's own status codes and description texts."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP status `code`, `description` as Telegram words it, optional `parameters`."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.description!r})"


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


def conflict(text: str) -> ApiError:
    return ApiError(409, f"Conflict: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def internal_error() -> ApiError:
    return ApiError(500, "Internal Server Error")


def parameter_required(name: str) -> ApiError:
    return bad_request(f'parameter "{name}" is required')


CHAT_NOT_FOUND = "chat not found"
BOT_BLOCKED = "bot was blocked by the user"
USER_DEACTIVATED = "user is deactivated"
CANT_INITIATE = "bot can't initiate conversation with a user"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
WRONG_FILE_ID = "wrong file_id or the file is temporarily unavailable"
WRONG_FILE_IDENTIFIER = "wrong file identifier/HTTP URL specified"
WEBHOOK_ACTIVE = "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
