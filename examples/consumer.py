"""A downstream consumer of Lotline's Kafka topic: prints every fill as it happens.

    lotline publish --bootstrap localhost:9092 --follow &      # the relay
    python examples/consumer.py --bootstrap localhost:9092      # fills, as they are recorded

Delivery is at least once: a relay killed mid-batch sends that batch again, with the
same `event_id`s, so a consumer that must not act twice remembers the ids it has seen
(here in memory; a real system keeps them with what it does, in one transaction).
Each account's events arrive in order (the key is the account). Message schemas:
`lotline schemas Account.TradeExecuted`."""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict

from kafka import KafkaConsumer

FILL = "Account.TradeExecuted"  # an approved order filled, with the lots it relieved


def describe(message: dict) -> str:
    data = message["data"]
    lots = ", ".join(f"{lot['lot_id']} x {lot['quantity']}" for lot in data.get("lots") or [])
    return (f"{data['date']} {message['account']}: {data['side']} {data['quantity']} {data['symbol']} "
            f"@ {data['price']} (order {data['order_id']}{'; lots ' + lots if lots else ''})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="localhost:9092", help="HOST:PORT of the Kafka cluster")
    parser.add_argument("--topic", default="lotline.events")
    parser.add_argument("--group", default=None, help="consumer group (commits offsets; default: none, from --from)")
    parser.add_argument("--from-beginning", action="store_true", help="read the topic's history first")
    parser.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                        help="stop when nothing arrived for this long (default: run until Ctrl-C)")
    args = parser.parse_args()

    consumer = KafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        consumer_timeout_ms=int(args.exit_when_idle * 1000) if args.exit_when_idle else float("inf"),
    )
    seen: OrderedDict[str, None] = OrderedDict()  # the newest ids, to drop a re-sent event
    try:
        for record in consumer:
            message = json.loads(record.value)
            if message["event_id"] in seen:
                continue
            seen[message["event_id"]] = None
            if len(seen) > 100_000:
                seen.popitem(last=False)
            if message["type"] == FILL:
                print(describe(message), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
