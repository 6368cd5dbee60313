"""Certificates from an ACME CA (RFC 8555) through HTTP-01, as Dokku's and CapRover's users expect.

The protocol itself is the `acme` library's (certbot's client). What lives here are xae's
choices around it:

- one account per plane, its key a file in the state dir (0600), registered on first use and
  found again afterwards (the CA answers "already exists" with the account's URL);
- HTTP-01 only: the router answers `/.well-known/acme-challenge/<token>` on its plain-HTTP port
  from what a `ChallengeResponder` publishes, so no port 80 of its own and no DNS API is needed.
  Wildcard names cannot be proven that way (RFC 8555 section 8.3 requires DNS-01 for them) and
  are refused up front, saying to upload a certificate instead;
- a fresh ECDSA P-256 key per certificate (never reused across renewals);
- renewal once a third of the lifetime is left (30 days of Let's Encrypt's 90), the schedule
  Let's Encrypt recommends, so a CA outage of weeks still ends before the certificate does.

Every token published is withdrawn again, whether the order succeeded or not. Errors name the
domain and the CA's reason (its `detail`, cut short), never a key.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from xae.errors import InvalidInput, RouterFailure

USER_AGENT = "xae-acme"
DETAIL_MAX = 300
"""A CA's explanation is cut to this many characters before it reaches an error."""


class AcmeFailure(RouterFailure):
    """The CA refused or could not complete an order; the current certificate (if any) stays."""


class ChallengeResponder(Protocol):
    """Whoever answers `GET /.well-known/acme-challenge/<token>` for the names being proven."""

    def publish(self, token: str, key_authorization: str) -> None: ...

    def withdraw(self, token: str) -> None: ...


class ChallengeBoard:  # a ChallengeResponder
    """The HTTP-01 answers the CA may ask for right now, by token (in memory: an order lives
    for seconds, and a restarted plane starts its orders again)."""

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()

    def publish(self, token: str, key_authorization: str) -> None:
        with self._lock:
            self._answers[token] = key_authorization

    def withdraw(self, token: str) -> None:
        with self._lock:
            self._answers.pop(token, None)

    def answer(self, token: str) -> str | None:
        with self._lock:
            return self._answers.get(token)


@dataclass(frozen=True)
class Issued:
    chain_pem: str
    """The leaf first, then the intermediates, as the CA sent them."""
    key_pem: str
    not_before: datetime
    not_after: datetime


def renewal_due(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """Whether a certificate valid from `not_before` to `not_after` should be renewed at `now`:
    once a third of its lifetime or less is left."""
    return not_after - now <= (not_after - not_before) / 3


def check_provable(domains: Sequence[str]) -> list[str]:
    """The names, deduplicated in order, if HTTP-01 can prove each one; refuses wildcards."""
    names = list(dict.fromkeys(domains))
    if not names:
        raise InvalidInput("an ACME order needs at least one domain name")
    wild = [name for name in names if name.startswith("*.")]
    if wild:
        raise InvalidInput(
            f"{wild[0]} is a wildcard: ACME proves wildcards only through DNS records, which xae "
            "does not manage; upload a certificate for it with `xae certs:add` instead"
        )
    return names


def _detail(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


class AcmeClient:
    """An account at one ACME directory; `issue` runs one order to its certificate."""

    def __init__(
        self,
        directory_url: str,
        account_key_path: Path,
        *,
        email: str | None = None,
        ca_bundle: str | bool = True,
        timeout: float = 30.0,
    ) -> None:
        self._directory_url = directory_url
        self._account_key_path = account_key_path
        self._email = email
        self._ca_bundle = ca_bundle
        self._timeout = timeout

    def _account_key(self) -> JWKEC:
        path = self._account_key_path
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise AcmeFailure(f"the ACME account key {path} is not an EC key; remove it")
            return JWKEC(key=key)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return JWKEC(key=key)

    def _client(self) -> client.ClientV2:
        network = client.ClientNetwork(
            self._account_key(), alg=ES256, user_agent=USER_AGENT, timeout=int(self._timeout)
        )
        # acme passes `verify_ssl` to requests as `verify`, which also takes a CA file (a
        # private CA, or pebble's in the tests); acme's annotation says only bool.
        network.verify_ssl = self._ca_bundle  # type: ignore[assignment]
        try:
            directory = client.ClientV2.get_directory(self._directory_url, network)
            acme = client.ClientV2(directory, network)
            registration = messages.NewRegistration.from_data(
                email=self._email, terms_of_service_agreed=True
            )
            try:
                network.account = acme.new_account(registration)
            except errors.ConflictError as known:
                # The key has an account already: the CA gave its URL; read it back.
                found = messages.RegistrationResource(
                    uri=known.location, body=messages.Registration()
                )
                network.account = acme.query_registration(found)
        except (errors.Error, messages.Error, OSError) as failure:
            raise AcmeFailure(
                f"the ACME directory {self._directory_url} could not be used: {_detail(failure)}"
            ) from failure
        return acme

    def issue(
        self, domains: Sequence[str], responder: ChallengeResponder, *, wait: float = 90.0
    ) -> Issued:
        """A certificate for `domains`, each proven over HTTP-01 through `responder`."""
        names = check_provable(domains)
        acme = self._client()
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        csr = crypto_util.make_csr(key_pem, names)
        try:
            order = acme.new_order(csr)
            with self._answered(acme, order, responder):
                deadline = datetime.now() + timedelta(seconds=wait)  # the library's naive clock
                done = acme.poll_and_finalize(order, deadline=deadline)
        except errors.ValidationError as failed:
            reasons = [
                f"{authz.body.identifier.value}: {_detail(challenge.error)}"
                for authz in failed.failed_authzrs
                for challenge in authz.body.challenges
                if challenge.error is not None
            ]
            raise AcmeFailure(
                f"the CA could not verify {', '.join(names)} over HTTP "
                f"({'; '.join(reasons) or 'no reason given'}); check that each name resolves to "
                "this router and that its plain-HTTP port is reachable as port 80"
            ) from failed
        except errors.TimeoutError as slow:
            raise AcmeFailure(
                f"the CA did not finish the order for {', '.join(names)} within {wait:.0f} s"
            ) from slow
        except (errors.Error, messages.Error, OSError) as failure:
            raise AcmeFailure(
                f"the ACME order for {', '.join(names)} failed: {_detail(failure)}"
            ) from failure
        chain = done.fullchain_pem
        leaf = x509.load_pem_x509_certificate(chain.encode())
        return Issued(
            chain_pem=chain,
            key_pem=key_pem.decode(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
        )

    @staticmethod
    @contextlib.contextmanager
    def _answered(
        acme: client.ClientV2, order: messages.OrderResource, responder: ChallengeResponder
    ) -> Iterator[None]:
        """Publish and answer each authorization's HTTP-01 challenge; withdraw them all after."""
        tokens: list[str] = []
        try:
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # proven recently; the CA reuses it
                offered = [
                    c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)
                ]
                if not offered:
                    raise AcmeFailure(
                        f"the CA offers no HTTP-01 challenge for {authz.body.identifier.value}"
                    )
                challenge = offered[0]
                response, validation = challenge.response_and_validation(acme.net.key)
                token = challenge.chall.encode("token")
                responder.publish(token, validation)
                tokens.append(token)
                acme.answer_challenge(challenge, response)
            yield
        finally:
            for token in tokens:
                responder.withdraw(token)
