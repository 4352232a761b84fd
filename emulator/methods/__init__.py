"""Bot API method implementations; importing this package fills the METHODS table."""

from emulator.methods import account, callbacks, editing, files, sending, updates  # noqa: F401
from emulator.methods.registry import METHODS, ApiResult, Context, method

__all__ = ["METHODS", "ApiResult", "Context", "method"]
