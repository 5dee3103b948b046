"""The example shop's own test suite (example_project/shop/tests, which the testing
how-to includes), run as a shop runs it, and the demo's make target."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


def test_the_example_shops_tests_pass_with_its_own_pytest_ini(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        # Its own settings, its own SQLite: nothing of this suite's configuration.
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SHOP_BASE_URL")
        and not key.startswith("KUNAPAY_")
    }
    env["SANDBOX_DATABASE_PATH"] = str(tmp_path / "sandbox.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "shop/tests"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_takes_a_port_and_the_urls_follow():
    planned = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    [setup] = [line for line in planned.splitlines() if "manage.py demo_setup" in line]
    assert "SHOP_BASE_URL=http://127.0.0.1:8123 " in setup
    assert "manage.py runserver 127.0.0.1:8123" in planned
    assert "8000" not in planned


HOWTO = ROOT / "docs" / "howto" / "testing.rst"


def _included(source: Path, options: dict) -> str:
    """What ``literalinclude`` shows of ``source``: between the markers, if any."""
    text = source.read_text(encoding="utf-8")
    if "start-after" in options:
        assert options["start-after"] in text, (source, options["start-after"])
        text = text.split(options["start-after"], 1)[1]
    if "end-before" in options:
        assert options["end-before"] in text, (source, options["end-before"])
        text = text.split(options["end-before"], 1)[0]
    return text


def test_the_testing_howto_renders_and_includes_only_code_the_suite_runs():
    import docutils.core
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives

    shown = []

    class LiteralInclude(Directive):
        """Sphinx's directive, as far as this page uses it."""

        required_arguments = 1
        option_spec = {
            "language": directives.unchanged,
            "start-after": directives.unchanged,
            "end-before": directives.unchanged,
        }

        def run(self):
            source = (HOWTO.parent / self.arguments[0]).resolve()
            assert source.is_file(), source
            text = _included(source, self.options)
            assert text.strip(), (source, self.options)
            shown.append(source.relative_to(ROOT).as_posix())
            return [nodes.literal_block(text, text)]

    directives.register_directive("literalinclude", LiteralInclude)
    try:
        docutils.core.publish_string(
            HOWTO.read_text(encoding="utf-8"),
            writer="null",
            settings_overrides={"report_level": 2, "halt_level": 2},
        )
    finally:
        directives._directives.pop("literalinclude", None)
    # Every snippet comes from the guide's own shop, which tests/test_guide_testing.py
    # builds and whose tests it runs.
    assert shown and all(path.startswith("docs/howto/testing/") for path in shown)
    assert "docs/howto/testing/test_payments.py" in shown
    assert "docs/howto/testing/pytest.ini" in shown


CHECKOUT_HOWTO = ROOT / "docs" / "howto" / "checkout.rst"


def test_the_checkout_howto_shows_the_example_shops_buyer_check_as_the_code_has_it():
    """Its literalincludes (Sphinx roles make docutils alone unfit to render the page)."""
    blocks = re.findall(
        r"^\.\. literalinclude:: (\S+)\n((?:   :[\w-]+:.*\n)*)",
        CHECKOUT_HOWTO.read_text(encoding="utf-8"),
        re.M,
    )
    shown = {}
    for target, option_lines in blocks:
        options = dict(re.findall(r"   :([\w-]+): ?(.*)", option_lines))
        source = (CHECKOUT_HOWTO.parent / target).resolve()
        assert source.is_file(), source
        shown[options.get("start-after")] = _included(source, options)
        assert source.relative_to(ROOT).as_posix() == "example_project/shop/views.py"
    assert set(shown) == {"# [start-buyer]", "# [start-pay]"}
    assert (
        "def buyers_order(request: HttpRequest, reference: str) -> Order:"
        in shown["# [start-buyer]"]
    )
    assert "raise Http404" in shown["# [start-buyer]"]
    pay = shown["# [start-pay]"]
    assert "def pay(" in pay and pay.index("buyers_order(") < pay.index("start_payment(")
