"""xae's ACME client against a real ACME CA (pebble) proving names over real HTTP-01 checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.integration.acme.conftest import CHALLENGE_PREFIX, PebbleWithResponder

from xae.errors import InvalidInput
from xae.router.acme import AcmeClient, AcmeFailure, renewal_due

pytestmark = pytest.mark.integration


def client_for(pebble: PebbleWithResponder, state: Path) -> AcmeClient:
    return AcmeClient(
        pebble.directory_url,
        state / "acme" / "account.pem",
        email="ops@xae-acme.test",
        ca_bundle=str(pebble.ca_file),
    )


def test_a_certificate_is_issued_for_names_proven_over_http(
    pebble: PebbleWithResponder, tmp_path: Path
) -> None:
    names = ["shop.xae-acme.test", "www.shop.xae-acme.test"]
    issued = client_for(pebble, tmp_path).issue(names, pebble.responder)

    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    # The key xae keeps is the leaf's, and the chain leads to pebble's root.
    key = serialization.load_pem_private_key(issued.key_pem.encode(), password=None)
    assert key.public_key() == leaf.public_key()
    assert len(chain) >= 2
    leaf.verify_directly_issued_by(chain[1])
    root_names = {root.subject for root in pebble.ca.issuing_roots()}
    assert chain[-1].issuer in root_names
    assert issued.not_before <= datetime.now(UTC) < issued.not_after
    # The CA really asked for each token over HTTP, and none is left published.
    asked = [path for path in pebble.responder.asked if path.startswith(CHALLENGE_PREFIX)]
    assert len(set(asked)) == len(names)
    assert pebble.responder.tokens == {}
    # The account key is private and is used again, not replaced.
    account = tmp_path / "acme" / "account.pem"
    assert account.stat().st_mode & 0o777 == 0o600
    before = account.read_bytes()
    renewed = client_for(pebble, tmp_path).issue(names[:1], pebble.responder)
    assert account.read_bytes() == before
    renewed_leaf = x509.load_pem_x509_certificates(renewed.chain_pem.encode())[0]
    assert renewed_leaf.serial_number != leaf.serial_number
    assert renewed.key_pem != issued.key_pem  # a fresh key per certificate


def test_an_unproven_name_fails_clearly_and_withdraws_its_token(
    pebble: PebbleWithResponder, tmp_path: Path
) -> None:
    class Silent:
        """Publishes nothing where the CA looks: the check must fail."""

        def __init__(self) -> None:
            self.live: set[str] = set()

        def publish(self, token: str, key_authorization: str) -> None:
            self.live.add(token)

        def withdraw(self, token: str) -> None:
            self.live.discard(token)

    silent = Silent()
    with pytest.raises(AcmeFailure) as failure:
        client_for(pebble, tmp_path).issue(["gone.xae-acme.test"], silent, wait=60)
    message = str(failure.value)
    assert "gone.xae-acme.test" in message
    assert "could not verify" in message
    assert silent.live == set()


def test_wildcards_are_refused_before_any_order(
    pebble: PebbleWithResponder, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="certs:add"):
        client_for(pebble, tmp_path).issue(["*.xae-acme.test"], pebble.responder)
    assert pebble.responder.asked == []


def test_renewal_is_due_with_a_third_of_the_lifetime_left() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 4, 1, tzinfo=UTC)  # 90 days
    assert not renewal_due(start, end, datetime(2026, 3, 1, tzinfo=UTC))  # 31 days left
    assert renewal_due(start, end, datetime(2026, 3, 2, tzinfo=UTC))  # 30 days left
    assert renewal_due(start, end, datetime(2026, 5, 1, tzinfo=UTC))  # expired
