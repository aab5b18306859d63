"""`schoolgraph retention run`: the plan printed, carried out with a progress bar, summarised.

Exit codes (docs/retention.md): 0 done, or nothing due, or a dry run; 1 the run could not start
(no such district, no database); 3 a district was skipped because another run held it (run
again later). Typer's own usage errors exit with 2.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text

from app.database import create_engine
from app.retention.rules import RULES, Plan, due
from app.retention.run import RULE_ORDER, Summary, carry_out

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_SKIPPED = 3


def print_plan(
    plan: Plan, console: Console, *, dry_run: bool, global_id: Callable[[str, int], str]
) -> None:
    console.print(
        f"Retention as of {plan.as_of.isoformat()}"
        + (" (dry run: nothing is changed)" if dry_run else "")
    )
    for district in plan.districts:
        console.print(
            f"  district {district.id} ({district.name}): service ended"
            f" {district.ended_on.isoformat()}; {district.students:,} students and"
            f" {district.accounts:,} accounts to de-identify",
            soft_wrap=True,
        )
    counts = plan.counts()
    table = Table(title="Due", title_justify="left")
    table.add_column("rule")
    table.add_column("what", overflow="fold")
    table.add_column("due", justify="right")
    for rule in RULE_ORDER:
        table.add_row(rule, RULES[rule], f"{counts[rule]:,}")
    console.print(table)
    if dry_run and plan.students:
        # One line a student, tab-separated and never wrapped, so the list can be read, grepped
        # and cut as it is.
        console.print("Students due (id, student number, name, school, rule):")
        for s in plan.students:
            line = "\t".join(
                (global_id("Student", s.id), s.student_number, s.name, s.school, s.rule)
            )
            console.file.write(line + "\n")  # raw: the tabs stay tabs


def print_summary(summary: Summary, console: Console, seconds: float) -> None:
    done = ", ".join(f"{rule} {summary.done[rule]:,}" for rule in RULE_ORDER)
    console.print(f"Done in {seconds:.1f} s: {done} (audit request id {summary.request_id})")
    if summary.rows:
        rows = ", ".join(f"{name} {n:,}" for name, n in sorted(summary.rows.items()) if n)
        console.print(f"  rows changed: {rows}", soft_wrap=True)
    if summary.skipped_districts:
        skipped = ", ".join(map(str, summary.skipped_districts))
        console.print(
            f"[yellow]skipped district(s) {skipped}: another retention run holds them;"
            " run again when it has finished[/yellow]"
        )


async def retention_command(
    url: str,
    *,
    as_of: date,
    district_id: int | None,
    dry_run: bool,
    console: Console,
    global_id: Callable[[str, int], str],
) -> int:
    """Plan, print, and (unless `dry_run`) carry out; the exit code."""
    import time

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if district_id is not None:
                found = await connection.execute(
                    text("SELECT 1 FROM district WHERE id = :id"), {"id": district_id}
                )
                if found.scalar() is None:
                    console.print(f"[red]no district {district_id}[/red]")
                    return EXIT_FAILED
            plan = await due(connection, as_of=as_of, district_id=district_id)
            await connection.rollback()
            print_plan(plan, console, dry_run=dry_run, global_id=global_id)
            if dry_run:
                return EXIT_DONE
            if plan.empty:
                console.print("Nothing is due.")
                return EXIT_DONE
            started = time.perf_counter()
            bar = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            totals = plan.counts()
            tasks = {rule: bar.add_task(rule, total=totals[rule]) for rule in RULE_ORDER}
            with bar:
                summary = await carry_out(
                    connection,
                    plan,
                    progress=lambda rule, n, total: bar.update(tasks[rule], completed=n),
                )
            print_summary(summary, console, time.perf_counter() - started)
            return EXIT_SKIPPED if summary.skipped_districts else EXIT_DONE
    finally:
        await engine.dispose()
