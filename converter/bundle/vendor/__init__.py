"""Generated code, never edited by hand: ``fb/`` is flatc's Python for ``converter/bundle/webloom.fbs``
(regenerate with ``.venv/bin/python -m converter.bundle.regenerate``; a unit test fails when it is
stale). It lives under ``vendor/`` so that tree-wide checks for duplicated code (the ``duplicates``
tool skips vendor folders) do not report the generator's repetitive output."""
