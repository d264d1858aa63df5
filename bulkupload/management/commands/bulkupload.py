"""``manage.py bulkupload``: import a file, export records, purge abandoned uploads.

Exit status of ``import``: 0 when applied (or a clean dry run), 1 when invalid
rows block it (the first errors are listed with row and column), 2 when the file
cannot be read or the arguments name no such spec, user or file.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bulkupload import background, limits, mapping, progress, services, workbook
from bulkupload.exceptions import BatchNotReady, ChangedSincePreview, FileRejected, LimitReached
from bulkupload.management.answers import AnswerError, apply_answers, describe, describe_automatic, parse_answers
from bulkupload.models import UploadBatch, UploadRow
from bulkupload.spec import UploadSpec, get_spec

#: Invalid rows listed when they block an import.
ERRORS_SHOWN = 10
EXIT_INVALID, EXIT_UNREADABLE = 1, 2


class ProgressPrinter:
    """A progress bar redrawn in place on a terminal; a plain line per tenth of the work otherwise."""

    width = 30

    def __init__(self, out: Any) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last: tuple[str, int] | None = None
        self.drawn = False

    def __call__(self, snapshot: progress.Snapshot) -> None:
        percent = snapshot.percent
        step = percent if self.tty else (percent // 10 if percent is not None else snapshot.done // 10_000)
        if (snapshot.phase, step) == self.last:
            return
        self.last = (snapshot.phase, step)
        counted = f"{snapshot.done:,}/{snapshot.total:,}" if snapshot.total else f"{snapshot.done:,}"
        if self.tty:
            filled = self.width * (percent or 0) // 100
            bar = "#" * filled + "-" * (self.width - filled)
            shown = f"{percent:3d}%" if percent is not None else "   …"
            self.out.write(f"\r{snapshot.label:<32} [{bar}] {shown} {counted} ", ending="", style_func=str)
            self.drawn = True
        else:
            shown = f" {percent}%" if percent is not None else ""
            self.out.write(
                _("%(phase)s:%(percent)s %(rows)s rows") % {"phase": snapshot.label, "percent": shown, "rows": counted}, style_func=str
            )
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self.drawn:
            self.out.write("", style_func=str)
            self.drawn = False


class Command(BaseCommand):
    help = "Import a spreadsheet through an upload spec, export records in its template format, or purge abandoned uploads."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{import,export,purge}")
        importing = actions.add_parser("import", help="Validate a file and apply it, as the wizard does.")
        importing.add_argument("spec", help="The upload spec's slug.")
        importing.add_argument("file", help="An .xlsx or .csv file.")
        importing.add_argument("--user", required=True, help="Upload as this user (their scope and permissions apply).")
        importing.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing to the target model.")
        importing.add_argument("--no-overwrite", action="store_true", help="Keep existing records; only create new ones.")
        importing.add_argument("--skip-invalid", action="store_true", help="Import the valid rows and skip the invalid ones.")
        importing.add_argument(
            "--on-changed",
            choices=["stop", UploadBatch.OnChanged.OVERWRITE, UploadBatch.OnChanged.SKIP],
            default="stop",
            help="Entries someone changed between reading the file and saving it: stop and list them (default), overwrite or keep them.",
        )
        importing.add_argument(
            "--date-order",
            action="append",
            default=[],
            metavar="[COLUMN=]day-first|month-first",
            help="How text dates like 03/11/2026 are written, for one column or (without COLUMN) every column the file "
            "cannot tell; asked for when it cannot. Repeatable.",
        )
        importing.add_argument(
            "--map-value",
            action="append",
            default=[],
            metavar="COLUMN=FROM=TO",
            help="Read the value FROM in a choice or lookup column as the allowed value TO (remembered for the user, "
            "as in the wizard; an empty TO forgets it). Repeatable.",
        )
        exporting = actions.add_parser("export", help="Write the user's records in the spec's template format.")
        exporting.add_argument("spec")
        exporting.add_argument("--user", required=True)
        exporting.add_argument("-o", "--output", help="The .xlsx file to write (default: SPEC-export-DATE.xlsx).")
        purging = actions.add_parser(
            "purge", help="Remove abandoned uploads and their files; make uploads whose background work stalled retryable."
        )
        purging.add_argument("--older-than-hours", type=int, help="Default: BULKUPLOAD['PURGE_AFTER_HOURS'].")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "import":
            self.handle_import(options)
        elif action == "export":
            self.handle_export(options)
        else:
            self.handle_purge(options)

    # --- import ------------------------------------------------------------------------

    def handle_import(self, options: dict[str, Any]) -> None:
        spec, user = self.spec_and_user(options["spec"], options["user"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("Cannot read %(file)s: there is no such file.") % {"file": path}, returncode=EXIT_UNREADABLE)
        try:
            limits.check_open_uploads(user)
        except LimitReached as exc:
            raise CommandError(str(exc), returncode=EXIT_UNREADABLE) from None
        batch = services.create_batch(spec=spec, user=user)
        printer = ProgressPrinter(self.stderr)
        try:
            with path.open("rb") as handle, progress.tracking(printer):
                upload = File(handle, name=path.name)
                self.stage(batch, spec, upload, name=path.name)
        except FileRejected as exc:
            services.discard_batch(batch_id=batch.pk)
            raise CommandError(str(exc), returncode=EXIT_UNREADABLE) from None
        finally:
            printer.finish()
        batch.refresh_from_db()
        self.answer_values(spec, batch, user, options)
        if batch.invalid_count and not options["skip_invalid"]:
            self.report_invalid(spec, batch)
            raise CommandError(
                ngettext(
                    "%(count)d row is invalid, so nothing was imported (upload %(id)s). Fix the file, or use --skip-invalid.",
                    "%(count)d rows are invalid, so nothing was imported (upload %(id)s). Fix the file, or use --skip-invalid.",
                    batch.invalid_count,
                )
                % {"count": batch.invalid_count, "id": batch.pk},
                returncode=EXIT_INVALID,
            )
        if options["dry_run"]:
            self.report_dry_run(batch)
            return
        on_changed = "" if options["on_changed"] == "stop" else options["on_changed"]
        self.apply(batch, printer, overwrite=not options["no_overwrite"], skip_invalid=options["skip_invalid"], on_changed=on_changed)

    def stage(self, batch: UploadBatch, spec: UploadSpec, upload: File, *, name: str) -> None:
        """Plan the file and stage its rows from it opened and checked once (the wizard's upload step, without asking)."""
        book, plan = mapping.open_planned(spec, upload, name=name)
        try:
            # The header row is one of the rows with a value; the count is a guide for the bar.
            progress.start("reading", max(plan.rows() - 1, 1))
            services.stage_upload(batch=batch, upload=upload, name=name, book=book, sheet=plan.sheet)
        finally:
            book.close()

    def report_dry_run(self, batch: UploadBatch) -> None:
        self.stdout.write(
            _(
                "Dry run of upload %(id)s: %(new)d new, %(update)d to update, %(unchanged)d unchanged, "
                "%(invalid)d invalid; nothing was written."
            )
            % {
                "id": batch.pk,
                "new": batch.new_count,
                "update": batch.update_count,
                "unchanged": batch.unchanged_count,
                "invalid": batch.invalid_count,
            }
        )

    def answer_values(self, spec: UploadSpec, batch: UploadBatch, user: Any, options: dict[str, Any]) -> None:
        """The wizard's values step: remembered mappings and the options applied; a date column read two ways refuses."""
        try:
            answers = parse_answers(spec, batch, options["date_order"], options["map_value"])
            unanswered = apply_answers(batch, user, answers)
        except AnswerError as exc:
            services.discard_batch(batch_id=batch.pk)
            raise CommandError(str(exc), returncode=EXIT_UNREADABLE) from None
        for line in [*describe_automatic(batch, spec, unanswered), *describe(batch, unanswered)]:
            self.stderr.write(line, style_func=str)
        batch.refresh_from_db()
        if unanswered.dates:
            raise CommandError(
                _("Nothing was imported (upload %(id)s): say how its dates are written with --date-order.") % {"id": batch.pk},
                returncode=EXIT_INVALID,
            )

    def apply(self, batch: UploadBatch, printer: ProgressPrinter, *, overwrite: bool, skip_invalid: bool, on_changed: str = "") -> None:
        try:
            with progress.tracking(printer):
                progress.start("applying", batch.valid_count)
                batch, _applied = services.apply_batch(
                    batch_id=batch.pk, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed
                )
        except ChangedSincePreview as exc:
            for row in exc.rows:
                for cell in row["cells"]:
                    self.stderr.write(
                        _("Row %(row)d, column “%(column)s”: was “%(previewed)s”, is now “%(now)s”, the file has “%(file)s”.")
                        % {
                            "row": row["row_number"],
                            "column": cell["label"],
                            "previewed": cell["previewed"] or "",
                            "now": cell["now"],
                            "file": cell["file"],
                        },
                        style_func=str,
                    )
            raise CommandError(
                _("%(reason)s Run again with --on-changed=overwrite or --on-changed=skip.") % {"reason": exc}, returncode=EXIT_INVALID
            ) from None
        except BatchNotReady as exc:
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None
        finally:
            printer.finish()
        self.stdout.write(
            _("Applied upload %(id)s: %(created)d created, %(updated)d updated, %(unchanged)d unchanged, %(skipped)d skipped.")
            % {
                "id": batch.pk,
                "created": batch.created_count,
                "updated": batch.updated_count,
                "unchanged": batch.unchanged_count,
                "skipped": batch.skipped_count,
            }
        )

    def report_invalid(self, spec: UploadSpec, batch: UploadBatch) -> None:
        labels = {column.key: batch.headers.get(column.key) or column.label for column in spec.columns}
        rows = batch.rows.filter(status=UploadRow.Status.INVALID).order_by("row_number")[:ERRORS_SHOWN]
        for row in rows:
            for key, messages in row.all_errors().items():
                where = (
                    _("Row %(row)d") % {"row": row.row_number}
                    if key not in labels
                    else _("Row %(row)d, column “%(column)s”") % {"row": row.row_number, "column": labels[key]}
                )
                for message in messages:
                    self.stderr.write(f"{where}: {message}", style_func=str)
        if batch.invalid_count > ERRORS_SHOWN:
            self.stderr.write(_("… and %(count)d more invalid rows.") % {"count": batch.invalid_count - ERRORS_SHOWN}, style_func=str)

    # --- export and purge --------------------------------------------------------------

    def handle_export(self, options: dict[str, Any]) -> None:
        spec, user = self.spec_and_user(options["spec"], options["user"])
        records = spec.get_queryset(spec.get_scope(user))
        output = Path(options["output"] or f"{spec.slug}-export-{timezone.localdate():%Y-%m-%d}.xlsx")
        try:
            output.write_bytes(workbook.export_workbook(spec, records))
        except OSError as exc:
            raise CommandError(
                _("Cannot write %(file)s: %(reason)s") % {"file": output, "reason": exc.strerror}, returncode=EXIT_UNREADABLE
            ) from None
        count = records.count()
        self.stdout.write(
            ngettext("Exported %(count)d record to %(file)s.", "Exported %(count)d records to %(file)s.", count)
            % {"count": count, "file": output}
        )

    def handle_purge(self, options: dict[str, Any]) -> None:
        hours = options["older_than_hours"]
        age = datetime.timedelta(hours=hours) if hours is not None else None
        for batch in background.release_stalled(older_than=age):
            self.stdout.write(
                _("Released upload %(id)s: its background work stopped without finishing; it can be retried.") % {"id": batch.pk}
            )
        removed = services.purge_abandoned(older_than=age)
        for batch in removed:
            self.stdout.write(
                _("Removed upload %(id)s (%(file)s, by %(owner)s, last touched %(when)s).")
                % {
                    "id": batch.pk,
                    "file": batch.file_name or _("no file"),
                    "owner": batch.owner.get_username(),
                    "when": timezone.localtime(batch.updated_at).strftime("%Y-%m-%d %H:%M"),
                }
            )
        self.stdout.write(
            ngettext("Removed %(count)d abandoned upload.", "Removed %(count)d abandoned uploads.", len(removed)) % {"count": len(removed)}
        )

    def spec_and_user(self, slug: str, username: str) -> tuple[UploadSpec, Any]:
        try:
            spec = get_spec(slug)
        except KeyError:
            raise CommandError(_("There is no upload spec “%(spec)s”.") % {"spec": slug}, returncode=EXIT_UNREADABLE) from None
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(_("There is no user “%(user)s”.") % {"user": username}, returncode=EXIT_UNREADABLE)
        if not spec.has_permission(user) or spec.get_scope(user) is None:
            raise CommandError(
                _("“%(user)s” may not upload “%(spec)s”.") % {"user": username, "spec": slug},
                returncode=EXIT_UNREADABLE,
            )
        return spec, user
