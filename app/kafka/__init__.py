"""Kafka access: client configuration, topics, the event publisher and the score feed."""
