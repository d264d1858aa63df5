"""The API's endpoints: each translates one HTTP request into the service calls the wizard makes.

The same checks as the wizard: a login (token or session, CSRF enforced for the
session), the spec's permissions and the user's scope (:mod:`bulkupload.selectors`),
and only the user's own uploads: an id that is not theirs answers 404. State lives in
the batch and its rows; nothing is kept in a session.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .. import background, conf, limits, mapping, selectors, services, values, workbook
from ..exceptions import BatchNotReady, FileRejected, LimitReached, RollbackConflict, StaleRows
from ..models import UploadBatch
from ..paging import CountedPaginator, status_count
from ..spec import UploadSpec, get_spec, get_spec_or_404
from . import answers, columns, schema
from . import serializers as s
from .base import ApiView, XlsxRenderer, conflict, file_errors
from .representation import receipt_data, row_data, upload_data

Status = UploadBatch.Status


def own_upload(user: Any, upload_id: Any) -> tuple[UploadSpec, UploadBatch]:
    """The user's upload and its spec, checked as the wizard checks them (spec permission and scope, then the upload)."""
    try:
        upload_id = uuid.UUID(str(upload_id))
    except ValueError:
        raise Http404(_("No such upload.")) from None
    slug = selectors.user_batches(user).filter(pk=upload_id).values_list("spec", flat=True).first()
    if slug is None:
        raise Http404(_("No such upload."))
    spec = get_spec_or_404(slug)
    selectors.scope_or_404(spec, user)
    return spec, selectors.batch_for_user_or_404(user, upload_id, spec=spec)


def own_upload_to_change(user: Any, upload_id: Any) -> tuple[UploadSpec, UploadBatch]:
    """:func:`own_upload` for a call that changes it: an upload whose task's worker died is released first."""
    spec, batch = own_upload(user, upload_id)
    services.release_if_stalled(batch=batch)
    return spec, batch


def upload_body(request: Request, batch: UploadBatch) -> dict[str, Any]:
    """The upload as the API shows it, with the questions its file raises (dates, values to map); it only reads."""
    return {**upload_data(batch), "questions": answers.questions(batch, get_spec(batch.spec), request.user)}


def upload_response(request: Request, batch: UploadBatch, *, created: bool = False) -> Response:
    """The upload, 202 while a task works on it (201 for a new one that is done, else 200)."""
    code = status.HTTP_202_ACCEPTED if batch.is_working else status.HTTP_201_CREATED if created else status.HTTP_200_OK
    location = reverse("bulkupload_api:upload", kwargs={"upload_id": batch.pk})
    return Response(upload_body(request, batch), status=code, headers={"Location": location})


def not_ready(batch: UploadBatch) -> Response | None:
    """409 when the upload's rows cannot be worked on now (being read, columns to choose, already applied)."""
    if batch.is_working:
        return conflict(_("A task is reading or applying this upload; try again when its status is no longer “working”."), "working")
    if batch.is_final:
        return conflict(_("This upload has already been applied."), "applied")
    if batch.status != Status.READY:
        if batch.needs_columns and batch.source_file:
            return conflict(_("Choose the file's columns first (POST columns/)."), "needs_columns")
        return conflict(batch.task_error or _("Upload a file first."), "no_file")
    return None


class SpecListView(ApiView):
    @schema.document(s.SpecOut(many=True), summary="The specs the user may upload")
    def get(self, request: Request) -> Response:
        return Response([self.spec_data(spec) for spec in selectors.specs_for(request.user)])

    @staticmethod
    def spec_data(spec: UploadSpec) -> dict[str, Any]:
        return {
            "slug": spec.slug,
            "title": spec.get_title(),
            "columns": [
                {
                    "key": c.key,
                    "label": str(c.label),
                    "required": c.required,
                    "choices": [str(choice) for choice in c.choices],
                    "help_text": str(c.help_text),
                    "format": str(c.format),
                }
                for c in spec.columns
            ],
            "template": reverse("bulkupload_api:template", kwargs={"spec": spec.slug}),
            "uploads": reverse("bulkupload_api:uploads", kwargs={"spec": spec.slug}),
        }


class TemplateView(ApiView):
    renderer_classes = [XlsxRenderer]

    @schema.document(schema.XLSX_RESPONSE, summary="The spec's .xlsx template")
    def get(self, request: Request, spec: str) -> HttpResponse:
        found = get_spec_or_404(spec)
        selectors.scope_or_404(found, request.user)
        response = HttpResponse(workbook.template_workbook(found), content_type=XlsxRenderer.media_type)
        response["Content-Disposition"] = f'attachment; filename="{slugify(found.slug)}-template.xlsx"'
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response):  # an error: JSON, whatever the client accepts for the workbook
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class UploadCreateView(ApiView):
    parser_classes = [MultiPartParser, FormParser]

    @schema.document(
        s.UploadOut,
        request=s.UploadCreateIn,
        extra={
            201: s.UploadOut,
            202: s.UploadOut,
            429: OpenApiResponse(s.ConflictOut, description="Too many unfinished uploads (MAX_OPEN_UPLOADS_PER_USER)."),
        },
        ok=201,
    )
    def post(self, request: Request, spec: str) -> Response:
        found = get_spec_or_404(spec)
        selectors.scope_or_404(found, request.user)
        form = s.UploadCreateIn(data=request.data)
        form.is_valid(raise_exception=True)
        upload, sheet, chosen = form.validated_data["file"], form.validated_data.get("sheet"), form.validated_data.get("mapping")
        try:
            limits.check_open_uploads(request.user)
        except LimitReached as exc:
            return Response({"detail": str(exc), "code": "too_many_open_uploads"}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        batch = services.create_batch(spec=found, user=request.user)
        try:
            # Opened and checked once: planned, then staged from the same book.
            book, plan = columns.open_planned(found, upload, name=upload.name, sheet=sheet)
            try:
                batch = self.receive(found, batch, upload, book=book, plan=plan, sheet=sheet, chosen=chosen)
            finally:
                book.close()
        except FileRejected as exc:
            services.discard_batch(batch_id=batch.pk)  # a refused file leaves no empty upload behind
            return file_errors(exc)
        return upload_response(request, batch, created=True)

    def receive(self, spec: UploadSpec, batch: UploadBatch, upload: Any, *, book: Any, plan: Any, sheet: Any, chosen: Any) -> UploadBatch:
        """Stage the planned file with the client's mapping, or as it maps, or hold it for the client to answer."""
        if chosen is not None:
            positions = columns.positions(spec, plan.header, chosen, user=self.request.user)
            kept = plan.as_json()
            batch = background.stage_or_queue(batch, upload, name=upload.name, sheet=plan.sheet, positions=positions, book=book, plan=kept)
            services.remember_column_choices(user=self.request.user, spec=spec, header=plan.header, positions=positions)
            return batch
        if plan.automatic or (sheet and mapping.maps_automatically(spec, plan.header)):
            return background.stage_or_queue(batch, upload, name=upload.name, sheet=plan.sheet, book=book, plan=plan.as_json())
        # Headers that do not all match, or a choice of sheets: the client answers POST columns/ (from this plan).
        return services.hold_upload(batch=batch, upload=upload, name=upload.name, sheet=plan.sheet, plan=plan.as_json())


class UploadView(ApiView):
    @schema.document(s.UploadOut, summary="The upload: status, counts, progress")
    def get(self, request: Request, upload_id: Any) -> Response:
        spec, batch = own_upload(request.user, upload_id)
        if services.is_stalled(batch=batch):  # its worker died: shown as released, released by the next POST (writes nothing)
            shown = services.as_released(batch=batch)
            return Response({**upload_data(shown), "questions": answers.questions(shown, spec, request.user)})
        return Response(upload_body(request, batch))


class RowListView(ApiView):
    @schema.document(s.RowPageOut, parameters=[s.RowsQuery], summary="A page of the upload's rows")
    def get(self, request: Request, upload_id: Any) -> Response:
        _spec, batch = own_upload(request.user, upload_id)
        query = s.RowsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        rows = batch.rows.all()
        count = status_count(batch, wanted.get("status", ""))
        if wanted.get("status"):
            rows = rows.filter(status=wanted["status"])
        if wanted.get("outcome"):
            rows = rows.filter(outcome=wanted["outcome"])
            count = rows.count()  # outcomes are not counted on the batch by row
        size = min(wanted.get("page_size") or conf.get("PREVIEW_PAGE_SIZE"), conf.get("API_MAX_PAGE_SIZE"))
        paginator = CountedPaginator(rows.order_by("row_number"), size, count=count, allow_empty_first_page=True)
        number = wanted["page"]
        if number > paginator.num_pages:
            raise Http404(_("There is no page %(page)d; the last is %(last)d.") % {"page": number, "last": paginator.num_pages})
        page = paginator.page(number)
        return Response(
            {
                "count": paginator.count,
                "page": number,
                "pages": paginator.num_pages,
                "next": self.page_url(request, number + 1) if page.has_next() else None,
                "previous": self.page_url(request, number - 1) if page.has_previous() else None,
                "results": [row_data(row) for row in page.object_list],
            }
        )

    @staticmethod
    def page_url(request: Request, number: int) -> str:
        query = request.query_params.copy()
        query["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


class RowView(ApiView):
    parser_classes = [JSONParser]

    @schema.document(s.RowOut, request=s.RowPatchIn, conflict=True, summary="Fix a row's cells; revalidated with the file's rules")
    def patch(self, request: Request, upload_id: Any, number: str) -> Response:
        spec, batch = own_upload_to_change(request.user, upload_id)
        row = batch.rows.filter(row_number=int(number)).first() if re.fullmatch(r"[0-9]{1,9}", number) else None
        if row is None:
            raise Http404(_("There is no row %(row)s in this file.") % {"row": number[:20]})
        form = s.RowPatchIn(data=request.data)
        form.is_valid(raise_exception=True)
        values = {key: value or "" for key, value in form.validated_data["values"].items()}
        keys = {column.key for column in spec.columns}
        unknown = sorted(set(values) - keys)
        if unknown:
            message = _("There is no column %(names)s; the columns are %(keys)s.") % {
                "names": ", ".join(unknown),
                "keys": ", ".join(sorted(keys)),
            }
            return file_errors(FileRejected(message, row=row.row_number, column=unknown[0]), code="unknown_column")
        if refused := not_ready(batch):
            return refused
        try:
            services.save_fixes(batch=batch, edits={row.pk: values}, versions={row.pk: form.validated_data["version"]})
        except StaleRows as exc:
            return conflict(str(exc), "stale_version", rows=exc.rows)
        except BatchNotReady as exc:
            return conflict(str(exc), "applied")
        row.refresh_from_db()
        return Response(row_data(row))


class ColumnsView(ApiView):
    parser_classes = [JSONParser]

    @schema.document(s.ColumnsOut, conflict=True, summary="The held file's columns and the suggested matching")
    def get(self, request: Request, upload_id: Any) -> Response:
        spec, batch = own_upload(request.user, upload_id)
        if refused := self.no_file(batch):
            return refused
        try:
            found = columns.file_columns(spec, batch, user=request.user, sheet=request.query_params.get("sheet"))
        except FileRejected as exc:
            return file_errors(exc)
        return Response({**found, "spec_columns": SpecListView.spec_data(spec)["columns"]})

    @schema.document(s.UploadOut, request=s.ColumnsIn, conflict=True, extra={202: s.UploadOut}, summary="Answer the column matching")
    def post(self, request: Request, upload_id: Any) -> Response:
        spec, batch = own_upload_to_change(request.user, upload_id)
        form = s.ColumnsIn(data=request.data)
        chosen = form.validated_mapping()
        if refused := self.no_file(batch):
            return refused
        try:
            plan = columns.held_plan(spec, batch, sheet=form.validated_data.get("sheet"))
            positions = columns.positions(spec, plan.header, chosen, user=request.user)
            values.reset(batch)  # the file is read anew: its dates and values are looked at afresh
            batch = background.stage_held_or_queue(batch, sheet=plan.sheet, positions=positions)
        except FileRejected as exc:
            return file_errors(exc)
        except BatchNotReady as exc:
            return conflict(str(exc), "working")
        services.remember_column_choices(user=request.user, spec=spec, header=plan.header, positions=positions)
        return upload_response(request, batch)

    @staticmethod
    def no_file(batch: UploadBatch) -> Response | None:
        if batch.is_working or batch.is_final:
            return not_ready(batch)
        if not batch.source_file:
            return conflict(batch.task_error or _("Upload a file first."), "no_file")
        return None


class ConfirmView(ApiView):
    parser_classes = [JSONParser]

    @schema.document(s.ConfirmOut, request=s.ConfirmIn, conflict=True, extra={202: s.ConfirmOut}, summary="Apply, exactly once")
    def post(self, request: Request, upload_id: Any) -> Response:
        _spec, batch = own_upload_to_change(request.user, upload_id)
        form = s.ConfirmIn(data=request.data)
        form.is_valid(raise_exception=True)
        options = form.validated_data
        if batch.is_final or batch.status == Status.APPLYING:
            return Response({"applied": False, "batch": receipt_data(batch)})  # a repeat: the first confirm's batch
        if refused := not_ready(batch):
            return refused
        if unanswered := answers.unanswered_dates(answers.prepared(batch, request.user)):
            message = _("The file does not tell how its dates in %(columns)s are written: answer POST values/ first.") % {
                "columns": ", ".join(f"“{key}”" for key in unanswered)
            }
            return conflict(message, "dates_unanswered", columns=unanswered)
        if batch.invalid_count and not options["skip_invalid"]:
            message = ngettext(
                "%(count)d row is invalid. Fix it (PATCH rows/<number>/), or confirm with skip_invalid.",
                "%(count)d rows are invalid. Fix them (PATCH rows/<number>/), or confirm with skip_invalid.",
                batch.invalid_count,
            ) % {"count": batch.invalid_count}
            return conflict(message, "invalid_rows", invalid=batch.invalid_count)
        try:
            batch, applied = background.apply_or_queue(batch.pk, overwrite=options["overwrite"], skip_invalid=options["skip_invalid"])
        except BatchNotReady as exc:
            return conflict(str(exc), "not_ready")
        except DatabaseError:
            # One transaction: a failure part-way wrote nothing; the upload stays confirmable.
            return Response(
                {"detail": _("Nothing was saved: the import failed part-way and was rolled back. Please try again.")},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        code = status.HTTP_202_ACCEPTED if batch.is_working else status.HTTP_200_OK
        return Response({"applied": applied, "batch": receipt_data(batch)}, status=code)


class ValuesView(ApiView):
    parser_classes = [JSONParser]

    @schema.document(s.UploadOut, request=s.ValuesIn, conflict=True, summary="Answer the upload's questions: date orders, values to map")
    def post(self, request: Request, upload_id: Any) -> Response:
        spec, batch = own_upload_to_change(request.user, upload_id)
        form = s.ValuesIn(data=request.data)
        form.is_valid(raise_exception=True)
        if refused := not_ready(batch):
            return refused
        try:
            batch = answers.prepared(batch, request.user)
            answers.answer(batch, spec, request.user, dates=form.validated_data["dates"], mappings=form.validated_data["values"])
        except answers.AnswerRefused as exc:
            return file_errors(exc)
        except BatchNotReady as exc:
            return conflict(str(exc), "not_ready")
        batch.refresh_from_db()
        return upload_response(request, batch)


class BatchView(ApiView):
    @schema.document(s.ReceiptOut, summary="The receipt: counts and outcomes")
    def get(self, request: Request, batch_id: Any) -> Response:
        return Response(receipt_data(selectors.batch_for_user_or_404(request.user, batch_id)))


class RollbackView(ApiView):
    parser_classes = [JSONParser]

    @schema.document(s.RollbackOut, request=s.RollbackIn, conflict=True, summary="Roll the batch back")
    def post(self, request: Request, batch_id: Any) -> Response:
        batch = selectors.batch_to_roll_back_or_404(request.user, batch_id)
        form = s.RollbackIn(data=request.data)
        form.is_valid(raise_exception=True)
        if batch.status == Status.ROLLED_BACK:
            return Response({"rolled_back": False, "batch": receipt_data(batch)})
        if batch.status != Status.APPLIED:
            return conflict(_("Only an applied upload can be rolled back."), "not_applied")
        try:
            batch, done = services.rollback_batch(batch_id=batch.pk, force=form.validated_data["force"])
        except RollbackConflict as exc:
            return conflict(str(exc), "changed_since", rows=exc.rows)
        return Response({"rolled_back": done, "batch": receipt_data(batch)})
