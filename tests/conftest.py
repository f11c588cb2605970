"""Suite-wide settings. Hypothesis profiles: "barenet" (default, fast enough for every run)
and "thorough" (many more examples, for hunting rare failures):
HYPOTHESIS_PROFILE=thorough .venv/bin/pytest"""

import os

from hypothesis import settings

# deadline=None: the first call into torch or a fresh NumPy code path can take far longer
# than later ones, and a timing failure is not a correctness failure.
settings.register_profile("barenet", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "barenet"))
