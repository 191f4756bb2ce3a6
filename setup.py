"""setuptools glue: the only thing pyproject.toml cannot say is cffi's build script."""
from setuptools import setup

setup(cffi_modules=["pipkernel/_build.py:ffibuilder"])
