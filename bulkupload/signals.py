"""Signals for adopters, sent after the transaction commits, with ``batch=`` the UploadBatch."""

from django.dispatch import Signal

#: A batch was applied to the target model.
batch_applied = Signal()
#: A batch was rolled back.
batch_rolled_back = Signal()
