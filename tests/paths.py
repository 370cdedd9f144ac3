"""Where things are, for tests and benchmarks: the repository root and the vendored test data."""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
TEST_DATA = TESTS / "data"
POSTERIORDB = TEST_DATA / "posteriordb"  # vendored copy of posteriordb's sblrc
