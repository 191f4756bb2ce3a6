"""pipsim's test kit, for users' own isolation tests (docs/testing-kit.md).

- ``pipsim.testing.kernels``: kernels of a chosen geometry and policy, checked up front
  (``kernel``, ``geometry``, ``KitError``);
- ``pipsim.testing.images``: a booted device image from a manifest, a machine with a firmware
  image loaded (``booted_image``, ``machine``);
- ``pipsim.testing.strategies``: hypothesis strategies (geometries, policies, tree shapes,
  system calls and their sequences);
- ``pipsim.testing.differential``: the differential state machine (the C core and the
  reference model side by side, Pip's properties checked after every step);
- ``pipsim.testing.plugin``: the pytest plugin (entry point ``pytest11``) serving them as
  fixtures.

Only the strategies and the state machine need hypothesis (``pip install 'pipsim[testing]'``);
nothing here is imported by ``import pipsim``.
"""
