"""Avro schemas of every event type (`<full name>.avsc`) and their released history."""
