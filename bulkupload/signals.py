"""Signals for adopters, sent after the transaction commits, with ``batch=`` the UploadBatch.

The webhooks (:mod:`bulkupload.webhooks`) listen to all four; a host may too.
"""

from typing import Any

from django.dispatch import Signal

#: A batch was applied to the target model.
batch_applied = Signal()
#: A batch was rolled back.
batch_rolled_back = Signal()
#: An upload's file was read and checked: its rows can be previewed, fixed and confirmed.
upload_ready = Signal()
#: Background work on an upload failed (``message=`` says why; ``phase=`` is ``reading`` or ``applying``); nothing was saved.
upload_failed = Signal()

#: Signal → the webhook event it becomes.
WEBHOOK_EVENTS = {
    "batch.applied": batch_applied,
    "batch.rolled_back": batch_rolled_back,
    "upload.ready": upload_ready,
    "upload.failed": upload_failed,
}


def _send_webhooks(event: str):
    def receiver(sender: Any, *, batch: Any, **kwargs: Any) -> None:
        from . import webhooks  # imported late: webhooks needs the models, which need the app registry

        webhooks.dispatch(event, batch, details=kwargs)

    return receiver


# Strong references: the receivers live as long as the signals (module level, never collected).
for _event, _signal in WEBHOOK_EVENTS.items():
    _signal.connect(_send_webhooks(_event), weak=False, dispatch_uid=f"bulkupload.webhooks.{_event}")
