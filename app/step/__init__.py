"""The scoring step, pure: a batch of messages in, dead letters, state and score cards out.

The worker (streams/executor.py) runs it between its reads and writes of Kafka and Redis; the
simulation (app/simulation/replay.py) runs it with those held in memory, so calibration measures
what the worker does. No Faust, Kafka client or Redis here (import contract `pure-step`).
"""
