"""TLS for the local servers (the tests' and `CLOUT_STACK_TLS=true make stack-up`'s): a throwaway
certificate authority made with the openssl command line, a Kafka node's TLS listeners and a
redis-server's TLS arguments.

Every certificate is for 127.0.0.1 (and ``localhost``) unless it is one of the deliberately bad
ones: `expired` (its validity ended yesterday), `wrong_host` (for another host name) and
`other_ca` (a CA that signed nothing the servers present), which the refusal tests connect with.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.security.tls import TlsRefused, TlsSettings, client_ssl_context

SERVER_NAMES = "IP:127.0.0.1,DNS:localhost"
WRONG_HOST_NAMES = "DNS:wrong-host.invalid"
# Servers are clients too: a Redis Cluster node presents its certificate on the cluster bus and
# to its master, which refuse a certificate meant for servers only.
SERVER_USAGE = "serverAuth,clientAuth"


class PkiError(RuntimeError):
    """openssl is missing or refused to make a certificate."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate and its key, PEM files; `bundle` is key + certificate + CA in one file (the
    form Kafka's PEM key store reads)."""

    cert: Path
    key: Path
    bundle: Path


@dataclass(frozen=True, slots=True)
class Pki:
    """The files of a throwaway certificate authority, its server and client certificates."""

    ca: Path
    other_ca: Path
    server: KeyPair
    expired: KeyPair
    wrong_host: KeyPair
    client: KeyPair  # unencrypted key
    client_encrypted_key: Path  # the client key again, encrypted with `client_key_password`
    client_key_password: str


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise PkiError("the openssl command is needed to make test certificates")
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed:\n{result.stderr}")


def _new_key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )


def _self_signed_ca(folder: Path, name: str, days: int) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    _new_key(key)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", str(days),
        "-subj", f"/CN=Clout test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _signed(
    folder: Path, name: str, ca: tuple[Path, Path], *, names: str | None, usage: str, days: int
) -> KeyPair:
    """A certificate signed by `ca`, valid `days` from now (negative: already expired)."""
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    _new_key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN=clout-{name}")
    extensions = folder / f"{name}.ext"
    lines = [f"extendedKeyUsage={usage}"] + ([f"subjectAltName={names}"] if names else [])
    extensions.write_text("\n".join(lines) + "\n")
    ca_cert, ca_key = ca
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", str(days), "-extfile", str(extensions),
    )  # fmt: skip
    bundle = folder / f"{name}-bundle.pem"
    bundle.write_text(key.read_text() + cert.read_text() + ca_cert.read_text())
    return KeyPair(cert, key, bundle)


def pki_files(folder: Path, client_key_password: str) -> Pki:
    """Where `make_pki` writes each file in `folder`."""

    def pair(name: str) -> KeyPair:
        return KeyPair(
            folder / f"{name}.pem", folder / f"{name}.key", folder / f"{name}-bundle.pem"
        )

    return Pki(
        folder / "ca.pem",
        folder / "other-ca.pem",
        pair("server"),
        pair("expired"),
        pair("wrong-host"),
        pair("client"),
        folder / "client-encrypted.key",
        client_key_password,
    )


def make_pki(folder: Path, client_key_password: str, days: int = 30) -> Pki:
    """A new certificate authority and certificates in `folder` (a second or two of openssl),
    valid `days` (but for the expired one)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _self_signed_ca(folder, "ca", days)
    _self_signed_ca(folder, "other-ca", days)
    _signed(folder, "server", ca, names=SERVER_NAMES, usage=SERVER_USAGE, days=days)
    _signed(folder, "expired", ca, names=SERVER_NAMES, usage=SERVER_USAGE, days=-1)
    _signed(folder, "wrong-host", ca, names=WRONG_HOST_NAMES, usage=SERVER_USAGE, days=days)
    client = _signed(folder, "client", ca, names=None, usage="clientAuth", days=days)
    pki = pki_files(folder, client_key_password)
    _openssl(
        "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(client.key),
        "-out", str(pki.client_encrypted_key), "-passout", f"pass:{client_key_password}",
    )  # fmt: skip
    return pki


def tls_redis_answers(pki: Pki, port: int) -> bool:
    """Whether a TLS redis-server on 127.0.0.1:`port` answers PING to the CA's client (False
    too when the CA's files are not there yet)."""
    client = TlsSettings(
        service="Redis",
        prefix="CLOUT_REDIS_SSL",
        endpoint_setting="CLOUT_REDIS_URL",
        cafile=str(pki.ca),
        certfile=str(pki.client.cert),
        keyfile=str(pki.client.key),
    )
    try:
        context = client_ssl_context(client)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except (OSError, TlsRefused):
        return False


@dataclass(frozen=True, slots=True)
class KafkaTlsPorts:
    """A TLS Kafka node's client listeners: SASL_SSL (PLAIN and SCRAM), SSL with client
    certificates required, and two SSL listeners presenting the bad certificates."""

    sasl_ssl: int
    mtls: int
    expired: int
    wrong_host: int

    def listeners(self) -> list[tuple[str, str, int]]:
        """(listener name, security protocol, port) for `local_kafka.kraft_properties`."""
        return [
            ("SASL_SSL", "SASL_SSL", self.sasl_ssl),
            ("MTLS", "SSL", self.mtls),
            ("EXPIRED", "SSL", self.expired),
            ("WRONG_HOST", "SSL", self.wrong_host),
        ]


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def kafka_tls_properties(pki: Pki, users: Mapping[str, str]) -> list[str]:
    """The TLS and SASL lines of a node with `KafkaTlsPorts` listeners; `users` (name ->
    password) may log in with PLAIN, and with SCRAM once `scram_format_args` created them."""
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        + " ".join(f'user_{name}="{password}"' for name, password in users.items())
        + ";"
    )
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    lines = [
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={pki.server.bundle}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={pki.ca}",
        "listener.name.mtls.ssl.client.auth=required",
        f"listener.name.expired.ssl.keystore.location={pki.expired.bundle}",
        f"listener.name.wrong_host.ssl.keystore.location={pki.wrong_host.bundle}",
        f"listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,{','.join(SCRAM_MECHANISMS)}",
        f"listener.name.sasl_ssl.plain.sasl.jaas.config={plain}",
    ]
    lines += [
        f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config={scram}" for m in SCRAM_MECHANISMS
    ]
    return lines


def scram_format_args(users: Mapping[str, str]) -> list[str]:
    """`kafka-storage format` arguments that create SCRAM credentials for `users`."""
    return [
        f"--add-scram={mechanism}=[name={name},password={password}]"
        for name, password in users.items()
        for mechanism in SCRAM_MECHANISMS
    ]


def redis_tls_args(pki: Pki, port: int, keys: KeyPair | None = None) -> list[str]:
    """redis-server arguments: TLS only on `port` (the plain port off), clients must present a
    certificate of the CA; `keys` is the server's own pair (default: the good one)."""
    pair = keys or pki.server
    return [
        "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(pair.cert), "--tls-key-file", str(pair.key),
        "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "yes",
    ]  # fmt: skip
