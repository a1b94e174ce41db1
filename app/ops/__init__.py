"""Ops: an outside observer of the scoring worker's consumer group.

`lag` and `status` are pure (lag arithmetic, Burrow's evaluation rules), `tracker` turns a series of
observations into snapshots without any I/O, `collector` reads Kafka, `monitor` runs the polling,
`metrics` and `web` serve the cached snapshot, `terminal` draws it for `clout lag`.
"""
