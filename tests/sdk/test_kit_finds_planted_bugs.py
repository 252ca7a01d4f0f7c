"""The kit checks effects, not only answers: each bug that a platform team once slipped past it
is planted in a copy of the Skuld example, and the kit must fail on it, naming what it saw and
where to look. The same copy, unplanted, passes the same tests (so a failure is the bug's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sdk.conftest import ROOT

SKULD = ROOT / "examples" / "adapter-example" / "src" / "skuld"
CONFTEST = """
import pytest
import skuld


@pytest.fixture
def conformance_spec():
    return skuld.SPEC
"""

#: bug → (file in the package, text replaced, planted text, the kit test that must fail, what its
#: message must name)
PLANTED: dict[str, tuple[str, str, str, str, str]] = {
    # The balance is read as what was owed plus what was paid: a payment raises what is owed.
    "a payment that raises the balance": (
        "mapping.py",
        'balance_amount=_unsigned(case.balance, case.currency, "balance").amount,',
        "balance_amount=2 * sum(_unsigned(i.principal, case.currency, 'p').amount"
        " + _unsigned(i.fees, case.currency, 'f').amount for i in invoices)"
        ' - _unsigned(case.balance, case.currency, "balance").amount,',
        "test_a_reported_payment_lowers_the_balance_by_exactly_its_amount",
        "look at report_payment",
    ),
    # 123.45 goes out as "12345.00" and "12345.00" reads back as 12345: every round trip holds.
    "a money scale wrong the same way out and back": (
        "mapping.py",
        'return f"{to_major(money.amount, money.currency):f}"',
        'return f"{to_major(money.amount * 100, money.currency):f}"',
        "test_amounts_translate_exactly_as_the_agency_documents_them",
        "goes out as '12345.00'",
    ),
    # A resubmit registers the case again under a new token, and answers the first case's id.
    "duplicate claims on a resubmit": (
        "adapter.py",
        "        return Submitted(tracking=case_id)\n",
        "        if op.maybe_sent:\n"
        "            await self._client.register_case(credential, to_wire_case(claim, op.id))\n"
        "        return Submitted(tracking=case_id)\n",
        "test_resubmitting_with_the_same_token_creates_the_claim_once",
        "wrote again at the agency",
    ),
    # A state the table does not know is read as progress.
    "an unknown agency state read as success": (
        "mapping.py",
        '        case _:  # a state Skuld added later: still pending, never success\n            return "pending"',
        '        case _:  # a state Skuld added later\n            return "active"',
        "test_states_the_agency_never_documented_read_as_pending",
        "reads as 'active'",
    ),
}


def _kit(package: Path, tests: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "conftest.py").write_text(CONFTEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join((str(package.parent), str(ROOT)))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "collection_gateway.conformance", str(tmp),
         "-p", "no:cacheprovider", "-q", "-k", " or ".join(tests)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _copy(tmp: Path) -> Path:
    package = tmp / "src" / "skuld"
    shutil.copytree(SKULD, package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def test_the_unplanted_copy_passes_the_checks_that_catch_the_bugs(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    ran = _kit(package, [test for *_, test, _ in PLANTED.values()], tmp_path)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert f"{len(PLANTED)} passed" in ran.stdout


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_the_kit_names_a_planted_bug(bug: str, tmp_path: Path) -> None:
    filename, original, planted, test, named = PLANTED[bug]
    package = _copy(tmp_path)
    source = package / filename
    text = source.read_text()
    assert text.count(original) == 1, f"the plant for {bug!r} no longer fits {filename}"
    source.write_text(text.replace(original, planted))
    ran = _kit(package, [test], tmp_path)
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert test in ran.stdout and named in ran.stdout, ran.stdout[-4000:]
