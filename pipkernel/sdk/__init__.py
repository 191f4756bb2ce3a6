"""The firmware SDK (docs/sdk.md): how a user's C program becomes a pipsim image.

``flags`` is the one owner of the compile and link flags, image bases and sizes (the in-tree
firmware Makefile, the ``pipsim cc`` wrapper and the CMake toolchain files all take them from
it); ``cc`` is the ``pipsim cc`` command; ``cmake`` writes the toolchain files; ``layout``
says where the SDK's files are.
"""
