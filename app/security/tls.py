"""TLS for every connection Clout makes (Kafka, Redis, its own HTTP API), built in one place.

Each service's TLS settings are gathered into a `TlsSettings` that remembers which `CLOUT_*`
variables they came from, so every refusal can name the variable to fix. `client_ssl_context` is
the only code that turns them into an `ssl.SSLContext` (aiokafka, Faust and the HTTP clients take
it); redis-py builds its own context from file names (`redis_ssl_kwargs`), after the same files
were loaded here, so a bad path or password fails before the first connection with the variable's
name instead of deep inside a connection pool.

`check_tls` connects to each service as the clients would and exchanges one small request, and
turns a certificate the client refuses (unknown CA, expired, another host's), or a server refusing
the client (no client certificate, or one it does not trust), into a `TlsRefused` that says why
and which setting to change; the clients' own errors say only "certificate verify failed" or
"Unable to bootstrap".
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from app.core.errors import ConfigurationError
from app.core.settings import Settings, reveal

KAFKA_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
KAFKA_API_VERSIONS_V0 = struct.pack(">ihhih", 10, 18, 0, 1, -1)
"""A Kafka ApiVersions request (key 18, version 0, correlation id 1, no client id): every broker
answers it, before any SASL login."""


class TlsRefused(ConfigurationError):
    """A TLS setting is unusable, or a TLS connection was refused by either side; the message
    names the `CLOUT_*` variable to change (and never contains a secret)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How one service is reached over TLS, and the variable prefix its settings come from."""

    service: str  # "Kafka", "Redis", "the API"
    prefix: str  # e.g. "CLOUT_KAFKA_SSL": the variables are PREFIX_CAFILE, PREFIX_CERTFILE ...
    endpoint_setting: str  # the variable naming the host(s), e.g. CLOUT_KAFKA_BOOTSTRAP
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    key_password: SecretStr | None = None
    check_hostname: bool = True
    hello: bytes = b""  # the service's smallest request, whose answer `check_endpoint` awaits

    def var(self, name: str) -> str:
        """The full variable name of one of this service's TLS settings."""
        return f"{self.prefix}_{name}"


def kafka_tls(settings: Settings) -> TlsSettings | None:
    """Kafka's TLS settings when `kafka_security_protocol` is SSL or SASL_SSL, else None."""
    if settings.kafka_security_protocol not in KAFKA_TLS_PROTOCOLS:
        return None
    return TlsSettings(
        service="Kafka",
        prefix="CLOUT_KAFKA_SSL",
        endpoint_setting="CLOUT_KAFKA_BOOTSTRAP",
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
        key_password=settings.kafka_ssl_key_password,
        check_hostname=settings.kafka_ssl_check_hostname,
        hello=KAFKA_API_VERSIONS_V0,
    )


def redis_tls(settings: Settings) -> TlsSettings | None:
    """Redis's TLS settings when `redis_url` is rediss://, else None."""
    if urlsplit(settings.redis_url).scheme != "rediss":
        return None
    return TlsSettings(
        service="Redis",
        prefix="CLOUT_REDIS_SSL",
        endpoint_setting="CLOUT_REDIS_URL",
        cafile=settings.redis_ssl_cafile,
        certfile=settings.redis_ssl_certfile,
        keyfile=settings.redis_ssl_keyfile,
        key_password=settings.redis_ssl_key_password,
        check_hostname=settings.redis_ssl_check_hostname,
        hello=b"PING\r\n",  # answered before any login (+PONG or -NOAUTH)
    )


def api_client_tls(settings: Settings) -> TlsSettings:
    """What Clout's own HTTP clients trust when they call an https:// API."""
    return TlsSettings(
        service="the API",
        prefix="CLOUT_API_SSL",
        endpoint_setting="--url",
        cafile=settings.api_ssl_cafile,
    )


def client_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """A verifying client context: the CA file (else the system's CAs), the host name checked
    unless turned off, and the client certificate for mutual TLS when one is set."""
    if tls.keyfile is not None and tls.certfile is None:
        raise TlsRefused(f"{tls.var('KEYFILE')} is set without {tls.var('CERTFILE')}")
    try:
        context = ssl.create_default_context(cafile=tls.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TlsRefused(
            f"{tls.var('CAFILE')}={tls.cafile}: not a readable CA file ({exc})"
        ) from None
    context.check_hostname = tls.check_hostname
    if tls.certfile is not None:
        try:
            # Without a password, a callable giving none: OpenSSL would otherwise prompt on the
            # terminal for an encrypted key's pass phrase (a worker would hang or fail obscurely).
            password = reveal(tls.key_password) or _no_password
            context.load_cert_chain(tls.certfile, tls.keyfile, password=password)
        except (OSError, ssl.SSLError) as exc:
            raise TlsRefused(
                f"{tls.var('CERTFILE')}={tls.certfile} / {tls.var('KEYFILE')}={tls.keyfile}: not "
                f"a usable certificate and key ({_reason(exc)}; an encrypted key needs "
                f"{tls.var('KEY_PASSWORD')})"
            ) from None
    return context


def redis_ssl_kwargs(tls: TlsSettings, *, cluster: bool) -> dict[str, Any]:
    """redis-py's TLS arguments for the same settings (checked by loading them here first).

    redis-py's asyncio cluster client has no argument for a key password (8.2), so a cluster
    needs an unencrypted key file.
    """
    client_ssl_context(tls)
    kwargs: dict[str, Any] = {
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": tls.cafile,
        "ssl_certfile": tls.certfile,
        "ssl_keyfile": tls.keyfile,
        "ssl_check_hostname": tls.check_hostname,
    }
    if tls.key_password is not None:
        if cluster:
            raise TlsRefused(
                f"{tls.var('KEY_PASSWORD')} cannot be used with CLOUT_REDIS_CLUSTER=true "
                f"(redis-py's cluster client takes no key password): give "
                f"{tls.var('KEYFILE')} an unencrypted key"
            )
        kwargs["ssl_password"] = reveal(tls.key_password)
    return kwargs


def endpoints(settings: Settings) -> list[tuple[TlsSettings, str, int]]:
    """Every TLS service of `settings` with the address a client reaches first."""
    found: list[tuple[TlsSettings, str, int]] = []
    kafka = kafka_tls(settings)
    if kafka is not None:
        found.append((kafka, *settings.kafka_host_port))
    redis = redis_tls(settings)
    if redis is not None:
        found.append((redis, *settings.redis_host_port))
    return found


async def check_tls(settings: Settings, timeout_s: float = 5.0) -> None:
    """Handshake once with each TLS service (Kafka's first bootstrap server, Redis) and raise
    `TlsRefused` if a certificate is refused. A service that does not answer is left to the
    clients' own retries and errors: only TLS problems are reported here."""
    for tls, host, port in endpoints(settings):
        await check_endpoint(tls, host, port, timeout_s)


async def check_endpoint(tls: TlsSettings, host: str, port: int, timeout_s: float = 5.0) -> None:
    """`check_tls` for one service at host:port.

    After the handshake it sends the service's smallest request (`TlsSettings.hello`) and reads
    the answer: with TLS 1.3 a server that wants a client certificate, or refuses the one given,
    says so only after the client has finished its handshake, in place of that answer.
    """
    context = client_ssl_context(tls)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return  # not reachable: not a TLS problem, left to the clients
    where = f"{tls.service} at {host}:{port}"
    handshaken = False
    try:
        try:
            await asyncio.wait_for(writer.start_tls(context, server_hostname=host), timeout_s)
            handshaken = True
        except ssl.SSLCertVerificationError as exc:
            raise TlsRefused(explain_refusal(tls, host, port, exc)) from None
        except (OSError, TimeoutError) as exc:  # SSLError included; a plain port never answers
            raise TlsRefused(
                f"{where}: the TLS handshake failed ({_reason(exc) or 'no answer'}): is "
                f"{tls.endpoint_setting} a TLS port? {_client_hint(tls)}"
            ) from None
        if tls.hello:
            writer.write(tls.hello)
            await asyncio.wait_for(reader.read(1), timeout_s)
    except ssl.SSLError as exc:
        raise TlsRefused(
            f"{where} refused the TLS connection ({_reason(exc)}): {_client_hint(tls)}"
        ) from None
    except (OSError, TimeoutError):
        pass  # after the handshake: not a TLS problem, left to the clients
    finally:
        writer.transport.abort()
        if handshaken:  # after an abandoned handshake the stream never learns it closed
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout_s)


def _client_hint(tls: TlsSettings) -> str:
    if tls.certfile is None:
        return f"does it want a client certificate ({tls.var('CERTFILE')}, {tls.var('KEYFILE')})?"
    return f"does it trust the CA that signed {tls.var('CERTFILE')}={tls.certfile}?"


_NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED
_NOT_YET_VALID = 9  # X509_V_ERR_CERT_NOT_YET_VALID


def explain_refusal(
    tls: TlsSettings, host: str, port: int, exc: ssl.SSLCertVerificationError
) -> str:
    """Why the server's certificate was refused, and the setting that fixes it."""
    where = f"{tls.service} at {host}:{port}"
    code = exc.verify_code
    if code in _NAME_MISMATCH:
        return (
            f"{where}: its certificate is not valid for the host name {host!r} "
            f"({exc.verify_message}): set {tls.endpoint_setting} to a name the certificate "
            f"lists (or, only for a known-good server, {tls.var('CHECK_HOSTNAME')}=false)"
        )
    if code in (_EXPIRED, _NOT_YET_VALID):
        return (
            f"{where}: its certificate is outside its validity period ({exc.verify_message}): "
            f"the server needs a renewed certificate, or {tls.endpoint_setting} points at the "
            "wrong server"
        )
    trusted = tls.var("CAFILE") + (f"={tls.cafile}" if tls.cafile else " (unset: the system's CAs)")
    return (
        f"{where}: its certificate is not signed by a CA in {trusted} ({exc.verify_message}): "
        f"set {tls.var('CAFILE')} to the CA that signed the server's certificate"
    )


def _no_password() -> str:
    return ""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
