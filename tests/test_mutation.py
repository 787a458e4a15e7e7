"""The hand mutants (tests/support/mutants.py) still apply to the code as it is,
and name tests that exist: a renamed line or test must not make one vanish.
Running them is `make mutation`'s work (minutes, with real processes)."""

import re

import pytest

from tests.support.mutants import MUTANTS
from tests.support.processes import PROJECT_DIR


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_each_hand_mutant_edits_its_file_once_and_names_existing_tests(mutant):
    text = (PROJECT_DIR / mutant.file).read_text()
    for old, _ in mutant.edits:
        assert text.count(old) == 1, f"{old!r} is not in {mutant.file} once"
    for test in mutant.tests:
        path, name = test.split("::")
        source = (PROJECT_DIR / path).read_text()
        assert re.search(rf"^def {re.escape(name)}\(", source, re.M), test
