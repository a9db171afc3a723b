"""Test helpers: real OpenSSH keys and the real ssh-keygen (-Y sign / -Y verify)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NAMESPACE = "reconciler-approval"

requires_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None,
    reason="ssh-keygen (openssh-client) is not installed",
)


def keygen(directory: Path, name: str, kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new key pair ``directory/name`` (+ ``.pub``) made by ssh-keygen."""
    path = directory / name
    args = [
        "ssh-keygen",
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        f"{name}@test",
        "-f",
        str(path),
    ]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, capture_output=True)
    return path


def pub(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def ssh_sign(key: Path, message: bytes, directory: Path, namespace: str = NAMESPACE) -> str:
    """The armored signature ``ssh-keygen -Y sign -n NAMESPACE -f KEY FILE`` writes."""
    msg = directory / "to-sign"
    sig = directory / "to-sign.sig"
    msg.write_bytes(message)
    sig.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(key), str(msg)],
        check=True,
        capture_output=True,
    )
    return sig.read_text()


def ssh_verify(
    public_line: str,
    message: bytes,
    signature: str,
    directory: Path,
    namespace: str = NAMESPACE,
) -> subprocess.CompletedProcess[bytes]:
    """``ssh-keygen -Y verify -f allowed_signers -I signer -n NAMESPACE -s SIG < message``."""
    allowed = directory / "allowed_signers"
    allowed.write_text(f"signer {public_line}\n")
    sig = directory / "check.sig"
    sig.write_text(signature)
    return subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            "signer",
            "-n",
            namespace,
            "-s",
            str(sig),
        ],
        check=False,
        input=message,
        capture_output=True,
    )
