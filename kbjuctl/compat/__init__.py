"""Schema compatibility between releases: the catalogue of every SQL statement a release runs
(`catalogue`), and the check that each one still prepares on a schema (`check`).

A rolling upgrade runs the previous release on the newest schema, so a migration must never take
away what the previous release's statements use (expand/contract, docs/operations.md).
"""
