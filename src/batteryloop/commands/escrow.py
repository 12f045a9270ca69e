"""``batteryloop escrow``: mirror passports to a second registry acting as backup service provider (Art. 78).

On the origin: ``escrow push`` sends the signed bundles the mirror lacks (run it periodically). On the mirror:
``escrow agree`` records the agreement with an origin operator (its public keys and the account that deposits) and
prints that account's token; ``escrow list`` shows the agreements. :func:`register` adds the group to the command.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

escrow_app = typer.Typer(
    help="Escrow: passports mirrored to a second registry, the backup service provider (Art. 78).",
    no_args_is_help=True,
)


def _since(value: str | None) -> datetime | None:
    from batteryloop.errors import ValidationError

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{value!r} is not a time", field="--since", expected="2026-11-28T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{value!r} has no offset", field="--since", expected="2026-11-28T10:00:00Z")
    return parsed


@escrow_app.command("push")
def push_command(
    to: Annotated[str, typer.Option("--to", help="Base address of the mirror, e.g. https://backup.example.eu")],
    token: Annotated[
        str, typer.Option("--token", envvar="BATTERYLOOP_ESCROW_TOKEN", help="Bearer token the mirror issued.")
    ],
    ids: Annotated[list[str] | None, typer.Argument(help="Passport identifiers to push.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Consider every passport of this registry.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Consider passports changed since this time (ISO 8601, offset).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer of the mirror.")] = 30.0,
) -> None:
    """Send the mirror the signed bundle of each selected passport whose newest version it does not hold yet."""
    import httpx

    from batteryloop.cli import registry
    from batteryloop.escrow.push import push

    with (
        httpx.Client(base_url=to, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as client,
        registry() as (_, session),
    ):
        summary = push(session, client, ids=ids or (), everything=everything, since=_since(since))
    for item in summary.sent:
        out.print(f"{item['passport_id']}: {item['outcome']} (version {item['version']})")
    for refusal in summary.refused:
        err.print(str(refusal))
    out.print(
        f"{len(summary.sent)} sent, {len(summary.unchanged)} unchanged, {len(summary.refused)} refused "
        f"(mirror {summary.mirror})"
    )
    if summary.refused:
        raise typer.Exit(1)


@escrow_app.command("agree")
def agree_command(
    origin: Annotated[str, typer.Option(help="Name of the origin's economic operator (as its registry names it).")],
    account: Annotated[str, typer.Option(help="Account on this registry that deposits for the origin.")],
    public_key: Annotated[
        list[str] | None,
        typer.Option(help="Ed25519 public key (base64) of the origin to trust; repeat for several."),
    ] = None,
    key_from: Annotated[
        str | None,
        typer.Option(help="Fetch the origin's key from its registry: GET URL/api/v1/organisations/ORIGIN/key."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Name of this backup service provider, shown on mirrored passports.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Reference of the written agreement.")] = None,
) -> None:
    """Record the escrow agreement with an origin operator and print a token for its depositing account (last)."""
    from batteryloop.cli import registry
    from batteryloop.errors import NotFoundError
    from batteryloop.escrow.service import EscrowService
    from batteryloop.passport.access import Role
    from batteryloop.passport.signing import fingerprint

    keys = list(public_key or [])
    if key_from:
        keys.append(_fetch_key(key_from, origin))
    with registry() as (service, session):
        try:
            acc = service.account(account)
        except NotFoundError:
            # no organisation: the account reads only public data and can issue nothing here; its right to deposit
            # comes from the agreement alone
            acc = service.create_account(account, Role.ECONOMIC_OPERATOR)
        agreement = EscrowService(session, service.settings).agree(
            origin, keys, acc.name, origin_url=key_from, provider=provider, note=note
        )
        token = service.issue_token(acc)
        fps = ", ".join(fingerprint(k) for k in agreement.public_keys)
    out.print(f"escrow agreement with {origin}: deposits by {account}, trusted keys {fps}; new token")
    print(token)


def _fetch_key(url: str, origin: str) -> str:
    from urllib.parse import quote

    import httpx

    from batteryloop.errors import BatteryloopError

    address = f"{url.rstrip('/')}/api/v1/organisations/{quote(origin, safe='')}/key"
    try:
        response = httpx.get(address, timeout=30.0)
    except httpx.TransportError as exc:
        raise BatteryloopError(
            f"{address} is unreachable: {exc}", field="--key-from", code="origin_unreachable"
        ) from None
    if response.status_code != 200:
        raise BatteryloopError(f"{address} answered {response.status_code}", field="--key-from", code="origin_error")
    key = response.json().get("public_key")
    if not isinstance(key, str):
        raise BatteryloopError(f"{address} gave no public_key", field="--key-from", code="origin_error")
    return key


@escrow_app.command("end")
def end_command(origin: Annotated[str, typer.Option(help="Origin operator of the agreement.")]) -> None:
    """End an agreement: further deposits are refused; the passports held stay served."""
    from batteryloop.cli import registry
    from batteryloop.escrow.service import EscrowService

    with registry() as (service, session):
        EscrowService(session, service.settings).end(origin)
    out.print(f"escrow agreement with {origin} ended; its mirrored passports stay served")


@escrow_app.command("list")
def list_command() -> None:
    """The escrow agreements of this registry and how many passports each holds."""
    from batteryloop.cli import registry
    from batteryloop.escrow.service import EscrowService

    with registry() as (service, session):
        rows = EscrowService(session, service.settings).agreements()
    for row in rows:
        state = "active" if row["active"] else "ended"
        out.print(
            f"{row['origin']}\t{row['account']}\t{state}\t{row['passports']} passport(s)\t{','.join(row['keys'])}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``escrow`` group to the ``batteryloop`` command."""
    app.add_typer(escrow_app, name="escrow")
