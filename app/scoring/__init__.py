"""The influence model: pure functions and plain data, standard library only.

Nothing here imports Kafka, Redis or Faust, so every rule is unit-tested and explained in one place
(docs/scoring.md). The worker (streams/) and the read side (app/store, app/api) call into it.
"""
