"""A vendor's subscriber to its DigiOne service topic, written with nothing of DigiOne's code.

It joins a Kafka consumer group on `{prefix}.{tenant}.service.{serviceId}.v1`, decodes each
message (Avro single-object encoding: magic C3 01, the 8-byte schema fingerprint, the body)
with the schema fetched once per fingerprint from GET /api/v1/schemas/{fingerprint}, keeps
what it receives per subject, and on a ForgetSubject notice deletes what it holds of that
subject, its key included. Offsets are committed after each message is handled, so a restart
resumes where it stopped; --from-beginning replays the topic (a new consumer group starts at
the earliest).

Personal fields come sealed (unless the agreement delivers them in clear): AES-256-GCM under
a key per subject, fetched with the client's OAuth token from
GET /api/v1/services/me/keys?subject=ID. Once the subject is erased or the agreement ended
that key is destroyed and the endpoint answers 410: what is kept of them is unreadable.

    pip install kafka-python fastavro cryptography
    python examples/subscriber.py --bootstrap kafka:9092 --api https://digione.example \
        --tenant vantaa --service learnapp --group learnapp-sync \
        --client-id learnapp@vantaa --client-secret "$LEARNAPP_SECRET"
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import fastavro
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kafka import KafkaConsumer

MAGIC = b"\xc3\x01"
FORGET = "fi.digione.service.forget_subject.v1"
#: Answers worth asking again: the backbone busy or restarting (it says when in Retry-After).
TRANSIENT = {429, 502, 503, 504}


def fetch(request: urllib.request.Request | str, attempts: int = 6) -> Any:
    """The JSON answer to `request`; a refused connection or a transient status is asked
    again after Retry-After (or 0.5, 1, 2 … s), up to `attempts` times in all."""
    for backoff in (0.5 * 2**n for n in range(attempts - 1)):
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as refused:
            if refused.code not in TRANSIENT:
                raise
            after = refused.headers.get("Retry-After", "")
            wait = float(after) if after.isdigit() else backoff
        except urllib.error.URLError:
            wait = backoff
        url = request if isinstance(request, str) else request.full_url
        print(f"retrying in {wait:g} s: {url}", file=sys.stderr)
        time.sleep(wait)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


class Schemas:
    """Writer schemas by fingerprint, fetched from the backbone once each."""

    def __init__(self, api: str) -> None:
        self.api = api.rstrip("/")
        self.parsed: dict[bytes, Any] = {}

    def get(self, fingerprint: bytes) -> Any:
        if fingerprint not in self.parsed:
            url = f"{self.api}/api/v1/schemas/{fingerprint.hex()}"
            self.parsed[fingerprint] = fastavro.parse_schema(fetch(url)["schema"])
        return self.parsed[fingerprint]


class Keys:
    """The subjects' keys, fetched with the client's token; None for a destroyed one."""

    def __init__(self, api: str, client_id: str | None, client_secret: str | None) -> None:
        self.api = api.rstrip("/")
        self.credentials = (client_id, client_secret)
        self.token: str | None = None
        self.by_subject: dict[str, bytes | None] = {}

    def _get_token(self) -> str:
        client_id, secret = self.credentials
        if not client_id or not secret:
            raise SystemExit("sealed personal data: give --client-id and --client-secret")
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        request = urllib.request.Request(
            f"{self.api}/oauth/token",
            data=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        token: str = fetch(request)["access_token"]
        return token

    def get(self, subject: str) -> bytes | None:
        if subject not in self.by_subject:
            self.token = self.token or self._get_token()
            query = urllib.parse.urlencode({"subject": subject})
            request = urllib.request.Request(
                f"{self.api}/api/v1/services/me/keys?{query}",
                headers={"Authorization": f"Bearer {self.token}"},
            )
            try:
                self.by_subject[subject] = base64.b64decode(fetch(request)["key"])
            except urllib.error.HTTPError as refused:
                if refused.code != 410:  # 410: erased, or the agreement ended
                    raise
                self.by_subject[subject] = None
        return self.by_subject[subject]

    def forget(self, subject: str) -> None:
        self.by_subject.pop(subject, None)


def unseal(sealed: dict[str, Any], key: bytes) -> dict[str, str]:
    """The personal fields of a `sealed_personal_data` record: AES-256-GCM, the key id as
    associated data, the plaintext a JSON object."""
    plaintext = AESGCM(key).decrypt(
        sealed["nonce"], sealed["ciphertext"], sealed["key_id"].encode()
    )
    personal: dict[str, str] = json.loads(plaintext)
    return personal


def decode(value: bytes, schemas: Schemas) -> dict[str, Any]:
    if value[:2] != MAGIC:
        raise ValueError("not an Avro single-object encoded message")
    record: dict[str, Any] = fastavro.schemaless_reader(
        io.BytesIO(value[10:]), schemas.get(value[2:10]), None
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--api", required=True, help="DigiOne's base URL (for the schemas)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--service", required=True, help="Your service id")
    parser.add_argument("--prefix", default="digione", help="The topic prefix")
    parser.add_argument("--group", help="Consumer group (default: SERVICE-subscriber)")
    parser.add_argument("--from-beginning", action="store_true", help="Replay from the start")
    parser.add_argument("--client-id", help="Your OAuth client id (to fetch keys)")
    parser.add_argument("--client-secret", help="Your OAuth client secret")
    parser.add_argument(
        "--kafka-api-version",
        help="Pin the Kafka protocol version, e.g. 2.1 (some Kafka-compatible brokers, "
        "Tansu among them, join consumer groups reliably only so)",
    )
    parser.add_argument("--max-messages", type=int, default=0, help="Stop after N (0: never)")
    parser.add_argument("--idle-seconds", type=float, default=0, help="Stop after N s quiet")
    args = parser.parse_args(argv)

    topic = f"{args.prefix}.{args.tenant}.service.{args.service}.v1"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group or f"{args.service}-subscriber",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        **(
            {"api_version": tuple(int(p) for p in args.kafka_api_version.split("."))}
            if args.kafka_api_version
            else {}
        ),
    )
    if args.from_beginning:
        consumer.poll(timeout_ms=0)  # join the group, get partitions
        consumer.seek_to_beginning()
    schemas = Schemas(args.api)
    keys = Keys(args.api, args.client_id, args.client_secret)
    held: dict[str, list[dict[str, Any]]] = {}
    seen = 0
    quiet = 0.0
    try:
        while not args.max_messages or seen < args.max_messages:
            polled = consumer.poll(timeout_ms=500)
            if not polled:
                quiet += 0.5
                if args.idle_seconds and seen and quiet >= args.idle_seconds:
                    break
                continue
            quiet = 0.0
            for records in polled.values():
                for message in records:
                    headers = {k: v.decode() for k, v in message.headers}
                    record = decode(message.value, schemas)
                    kind = headers["event-type"]
                    if kind == FORGET:
                        dropped = held.pop(record["subject"], [])
                        keys.forget(record["subject"])
                        print(json.dumps({"forget": record["subject"], "reason": record["reason"],
                                          "categories": record["categories"],
                                          "deleted": len(dropped)}), flush=True)  # fmt: skip
                    else:
                        subject = record.get("data_subject")
                        personal = record.get("personal_data", {})
                        sealed = record.get("sealed_personal_data")
                        if sealed and subject:
                            key = keys.get(subject)
                            personal = None if key is None else unseal(sealed, key)
                        if subject:
                            held.setdefault(subject, []).append(record)
                        print(json.dumps({"event": kind, "position": int(headers["position"]),
                                          "subject": subject,
                                          "personal": personal},
                                         ensure_ascii=False), flush=True)  # fmt: skip
                    seen += 1
            consumer.commit()
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
