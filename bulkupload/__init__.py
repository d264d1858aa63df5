"""bulkupload: bring spreadsheet rows into a Django model safely.

Host apps declare an :class:`~bulkupload.spec.UploadSpec` in ``<app>/uploads.py``;
the engine finds it, serves the upload wizard, the admin integration and the
management command from it.
"""
