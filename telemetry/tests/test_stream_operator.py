"""The consumer as an operator meets it: what its log says when the broker cannot be reached,
and that the broker password in TELEMETRY_MQTT_URL never reaches the log."""

from __future__ import annotations

import logging

import pytest

from fleetportal.tests.queue_helpers import wait_for
from telemetry.stream.client import Consumer, Options
from telemetry.tests.stream_helpers import free_port, start_consumer_thread, unique

PASSWORD = "s3cret-broker-pw"


def test_an_unreachable_broker_is_logged_with_its_address_and_never_the_password(
    transactional_db, caplog
):
    port = free_port()  # nothing listens there
    consumer = Consumer(
        Options(
            url=f"mqtt://portal:{PASSWORD}@127.0.0.1:{port}",
            client_id=unique("fp-review"),
            heartbeat_seconds=0.2,
            reconnect_min_seconds=1,
            reconnect_max_seconds=1,
        )
    )
    caplog.set_level(logging.DEBUG)
    thread = start_consumer_thread(consumer)
    try:
        wait_for(
            lambda: any(f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records),
            "a log line naming the unreachable broker",
            timeout=30,
        )
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not consumer.connected
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text
    assert PASSWORD not in repr(consumer.broker) and PASSWORD not in repr(consumer.options)


@pytest.mark.parametrize("url", [f"mqtt://u:{PASSWORD}@host:port", f"http://u:{PASSWORD}@h"])
def test_a_bad_url_error_does_not_carry_the_password(url):
    from telemetry.stream.client import BrokerURL

    with pytest.raises(ValueError) as error:
        BrokerURL.parse(url)
    assert PASSWORD not in str(error.value)
