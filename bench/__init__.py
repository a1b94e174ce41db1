"""`make bench` / `clout bench`: throughput, latency, lookup speed and memory of the real pipeline.

Every figure is measured in one run against the local stack and set beside the limit it is judged
against (a bare Kafka consumer, a raw redis-py HGETALL), because absolute timings on a shared
machine drift. Results go to `bench/results/latest.json` and a PNG chart; the README's performance
table is generated from the JSON (`clout bench --readme`).
"""
