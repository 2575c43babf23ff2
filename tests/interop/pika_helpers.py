"""Connection parameters for pika's BlockingConnection against the broker under test."""

import pika


def params(broker, port=None):
    return pika.ConnectionParameters(
        host=broker.host, port=port or broker.port, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5)
