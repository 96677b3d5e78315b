"""Cost of redaction at its bounds: a 100 MB message and a 10,000-member exception group.

Each figure is a median over ``--rounds`` runs, printed next to a baseline measured
in the same run, so the ratio means something on a busy machine:

* ``sanitize_message`` on a 1 kB error message without a secret and on one with three
  (a new text each round: short texts' results are cached), vs detect-secrets 1.5.0
  scanning the same 1 kB with all its plugins (``scan_line`` per line), the
  maintained detector set the rules are taken from, when it is installed;
* ``sanitize_message`` on a 100 MB message vs on a 1 kB one (the text is cut to its
  cap before any rule runs, so the two should cost about the same);
* ``redact_exception`` on an ``ExceptionGroup`` of 10,000 members, each with its own
  secret, vs building that group (creating 10,000 exceptions: what the caller paid);
* the same on a group of 20,000, past the 10,000 cap (the rest is blanked, not
  scanned), and ``traceback.format_exception`` of the redacted 10,000 group for scale.

    python benchmarks/redaction.py [--rounds 5] [--only-messages]
"""

from __future__ import annotations

import argparse
import builtins
import statistics
import time
import traceback
from collections.abc import Callable
from typing import Any

from langgraph_runner._engine.records import redact_exception
from langgraph_runner._records.redact_exc import MAX_EXCEPTIONS
from langgraph_runner._records.sanitize import sanitize_message


def _median(fn: Callable[[Any], Any], rounds: int, make: Callable[[], Any]) -> float:
    """Median seconds of ``fn(make())`` (``make`` runs outside the clock)."""
    times = []
    for _ in range(rounds):
        arg = make()
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _group(size: int) -> BaseException:
    members = [ConnectionError(f"call {i}: password=hunter2-{i:06d} refused") for i in range(size)]
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009 - Python 3.11+
    return group(f"{size} calls failed", members)  # type: ignore[no-any-return]


_ERROR_LINE = (
    "HTTPStatusError: Client error '429 Too Many Requests' for url "
    "'https://api.example.com/v1/items/{n}?page=3' request_id=req_{n:08d} retry in 2.4s; "
)
_SECRETS = (
    " Authorization: bearer zq9xk2mv8n3b4c5v6x7zq9xk; could not connect to"
    " postgresql://app:Pg5ecretPw1@db:5432/prod; value aZ3kP9xQ2mL7vN4bR8tY1wE6uI0oS5dF9gH2jK4l"
)


def _kb(n: int, secrets: bool) -> str:
    """About 1 kB of error text (a new one per ``n``), with three secrets or none."""
    text = "".join(_ERROR_LINE.format(n=n * 10 + i) for i in range(7))
    return (text[: 1024 - len(_SECRETS)] + _SECRETS) if secrets else text[:1024]


def _detect_secrets_scan() -> Callable[[str], Any] | None:
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None

    def scan(text: str) -> Any:
        with default_settings():
            return [s for line in text.splitlines() for s in scan_line(line)]

    return scan


def messages(rounds: int) -> None:
    """The per-message figures: 1 kB with and without secrets, detect-secrets beside them."""
    counter = iter(range(10**9))
    sanitize_message(_kb(0, True), max_length=2000)  # compile the rule combinations once
    for secrets in (False, True):
        t = _median(
            lambda s: sanitize_message(s, max_length=2000),
            rounds * 20,
            lambda s=secrets: _kb(next(counter), s),  # type: ignore[misc]
        )
        label = "three secrets" if secrets else "no secret"
        line = f"sanitize_message, 1 kB, {label}: {t * 1e6:.1f} us"
        scan = _detect_secrets_scan()
        if scan is not None:
            scan(_kb(0, secrets))
            t_ds = _median(scan, rounds * 4, lambda s=secrets: _kb(next(counter), s))  # type: ignore[misc]
            line += f"; detect-secrets scan_line: {t_ds * 1e6:.0f} us (ratio {t_ds / t:.0f}x)"
        print(line)
    t_huge = _median(sanitize_message, rounds, lambda: "password=" + "aB3/" * 25_000_000)
    t_small = _median(
        sanitize_message, rounds, lambda: "password=" + "aB3/" * 250 + str(next(counter))
    )
    print(
        f"sanitize_message, 100 MB token-character message: {t_huge * 1e3:.3f} ms; "
        f"1 kB: {t_small * 1e3:.3f} ms (ratio {t_huge / t_small:.1f}x)"
    )


def main() -> None:
    """Print each figure and its ratio to its baseline."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only-messages", action="store_true", help="skip the group figures")
    args = parser.parse_args()
    rounds = args.rounds
    messages(rounds)
    if args.only_messages:
        return
    counter = iter(range(10**9))

    huge = "password=" + "x" * 100_000_000
    sanitize_message("password=x")  # compile the rule combination once
    t_huge = _median(sanitize_message, rounds, lambda: huge)
    # A new 1 kB text each round: short texts' results are cached.
    t_small = _median(sanitize_message, rounds, lambda: f"password={next(counter)}" + "x" * 1000)
    print(f"sanitize_message, 100 MB message: {t_huge * 1e3:.3f} ms")
    print(
        f"sanitize_message, 1 kB message:   {t_small * 1e3:.3f} ms  (ratio {t_huge / t_small:.1f}x)"
    )

    for size in (MAX_EXCEPTIONS, 2 * MAX_EXCEPTIONS):
        t_build = _median(_group, rounds, lambda n=size: n)  # type: ignore[misc]
        t_redact = _median(redact_exception, rounds, lambda n=size: _group(n))  # type: ignore[misc]
        print(
            f"redact_exception, {size:,}-member group: {t_redact * 1e3:.1f} ms; "
            f"building it: {t_build * 1e3:.1f} ms (ratio {t_redact / t_build:.1f}x)"
        )
    redacted = _group(MAX_EXCEPTIONS)
    redact_exception(redacted)
    t_format = _median(traceback.format_exception, rounds, lambda: redacted)
    print(f"traceback.format_exception of that group, redacted: {t_format * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
