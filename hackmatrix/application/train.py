"""``python -m hackmatrix.application.train``: parse flags, build the container, train.

A thin shim: all wiring lives in the composition root ``hackmatrix.containers``
(imported inside ``main`` -- the one place the application layer reaches it, as
cosmicpython's entry points call ``bootstrap``). ``--help`` lists every option.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run one training job configured from flags, ``HACKMATRIX_*`` env vars and a file."""
    from hackmatrix.containers import create_container

    container = create_container(argv)
    container.train_policy().run()  # run() closes the tracker(s), also on errors
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
