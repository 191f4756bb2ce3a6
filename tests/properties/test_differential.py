"""The C core and the reference model, side by side on random syscall sequences
(pipsim.testing.differential: the state machine of the test kit, on its default geometries
and both policies)."""
from pipsim.testing.differential import Differential

TestDifferential = Differential.TestCase
