"""Dock widgets of the plugin (the class-balance dock arrives with issue 5); no engine logic here."""
