"""Streams: the event relay, Avro encoding and the Kafka transport between the store and consumers."""
