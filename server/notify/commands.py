"""`paydesk notifications`: deliveries to the operator's systems that are failing or were given up on."""

from __future__ import annotations

from ..clock import utc_second
from ..config import Config
from ..database_file import migrated_database
from . import outbox
from .outbox import FAILED, Delivery
from .worker import IDLE_S

GIVEN_UP = "given-up"  # --redeliver's word for every delivery given up on
HEADINGS = ("NOTIFICATION", "TYPE", "PAYMENT", "URL", "STATUS", "ATTEMPTS", "NEXT", "LAST ERROR")
ERROR_WIDTH = 60  # the full text is in the console's deliveries page


async def show_notifications(config: Config, redeliver: str | None = None) -> int:
    """List deliveries being retried after a failed attempt, and those given up on; or, with
    `redeliver` ("given-up", or a notification id), send those again."""
    if redeliver is not None:
        return await _redeliver(config, redeliver)
    async with migrated_database(config.database) as db:
        rows = await outbox.failing(db)
    if not rows:
        print("No failing notifications: every one sent so far was delivered.")
        return 0
    given_up = sum(1 for row in rows if row.status == FAILED)
    print(f"{len(rows) - given_up} being retried, {given_up} given up\n")
    table: list[tuple[str, ...]] = [HEADINGS, *(_columns(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADINGS) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())
    if given_up:
        print(
            "\nSend them again with `paydesk notifications --redeliver given-up` (or one:"
            " --redeliver ntf_...), or from the console: the payment's page → Deliveries."
        )
    return 0


async def _redeliver(config: Config, which: str) -> int:
    async with migrated_database(config.database) as db:
        rows = [
            row
            for row in await outbox.failing(db)
            if (row.status == FAILED if which == GIVEN_UP else row.notification_id == which)
        ]
        for row in rows:
            await outbox.redeliver(db, row.payment_id, row.id, _retry_for_ms(config))
    if not rows:
        what = "no delivery was given up on" if which == GIVEN_UP else f"{which} is not failing"
        print(f"Nothing to send again: {what}.")
        return 0 if which == GIVEN_UP else 1
    print(
        f"{len(rows)} delivery(ies) due again now; the running paydesk sends them within"
        f" {IDLE_S:.0f} s, and retries them for another day if need be."
    )
    return 0


def _retry_for_ms(config: Config) -> int:
    return int(config.notify.retry_for_s * 1000)


def _columns(row: Delivery) -> tuple[str, ...]:
    error = (row.last_error or "").replace("\n", " ")
    if len(error) > ERROR_WIDTH:
        error = error[: ERROR_WIDTH - 1] + "…"
    status = "given up" if row.status == FAILED else "retrying"
    following = "-" if row.status == FAILED else utc_second(row.next_attempt_at)
    return (
        row.notification_id, row.type, row.payment_id, row.url, status, str(row.attempts),
        following, error,
    )  # fmt: skip
