"""Three small markdown documents the index runner tests build indexes from."""

from __future__ import annotations

from pathlib import Path

DOCS = {
    "kb/password.md": "# Account\n\nReset your password from the login page. "
    "The reset email arrives in a minute.\n\n"
    "## Email\n\nChange the email address of your account in the settings.\n",
    "kb/refunds.md": "---\ntitle: Refunds\nproduct: shop\n---\n"
    "# Refunds\n\nA refund is paid to the card within "
    "five days. Gift voucher refunds are not possible.\n",
    "kb/shipping.md": "# Shipping\n\nStandard shipping takes five days. Express delivery ships the next day. "
    "International parcels need a tracking number.\n",
}


def write_docs(root: Path, docs: dict[str, str] = DOCS) -> None:
    for rel, text in docs.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
