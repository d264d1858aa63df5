"""The optional JSON API (``pip install bulkupload[api]``): Django REST framework over the same services as the wizard.

Enable it with ``path("uploads/api/v1/", include("bulkupload.api.urls"))``. Only
:mod:`.views`, :mod:`.serializers` and :mod:`.urls` need Django REST framework;
:mod:`.representation` (the JSON shapes, shared with the webhooks) and :mod:`.answers` (the
values step's questions and answers) do not.
"""
