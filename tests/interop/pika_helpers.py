"""Connection parameters for pika's BlockingConnection against the broker under test."""

import pika


def params(broker, port=None, vhost="/"):
    return pika.ConnectionParameters(
        host=broker.host, port=port or broker.port, virtual_host=vhost,
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5)


def poll_get(ch, queue, deadline=5.0, auto_ack=True):
    """basic.get until a message comes or `deadline` seconds pass; (method, properties, body)."""
    import time
    end = time.monotonic() + deadline
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=auto_ack)
        if method is not None or time.monotonic() > end:
            return method, props, body
        time.sleep(0.02)
