"""The base of every error a user can cause (a manifest, an image, a token, a refused call)."""


class PipsimError(Exception):
    """Something the user gave or did is wrong; the message says what."""
