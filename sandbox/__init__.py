"""The sandbox: the real bot against the built-in Telegram emulator, with demo data and a web chat."""
