"""The Faust worker: consume engagement events, keep signal tables, push scores to Redis."""
