"""The shared kernel under everything else: settings, logging, translations, the Bot API transport,
and the effects a write leaves for the composition root to carry out. It imports nothing of Loa's
outside itself."""
