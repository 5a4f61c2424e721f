"""`paydesk notifications`: deliveries to the operator's systems that are failing or were given up on."""

from __future__ import annotations

from ..clock import utc_second
from ..config import Config
from ..database_file import migrated_database
from . import outbox
from .outbox import FAILED, Delivery

HEADINGS = ("NOTIFICATION", "TYPE", "PAYMENT", "URL", "STATUS", "ATTEMPTS", "NEXT", "LAST ERROR")
ERROR_WIDTH = 60  # the full text is in the console's deliveries page


async def show_notifications(config: Config) -> int:
    """List deliveries being retried after a failed attempt, and those given up on."""
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
        print("\nSend one again from the console: the payment's page → Deliveries and answers.")
    return 0


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
